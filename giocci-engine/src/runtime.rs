//! Compiling modules and running calls in wasmtime, under the engine's
//! [`Limits`].
//!
//! A module is compiled and checked once per digest. Each call gets a fresh
//! store and instance, so no call can see what an earlier call left in
//! memory, and a call that is stopped leaves nothing behind. Instances come
//! from a pool of slots; a slot is reset (the pages the call wrote restored)
//! after its call has returned its result.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use giocci::abi;
use giocci::protocol::{ModuleBlob, RemoteError};
use wasmtime::{
    Config, Enabled, Engine, Extern, ExternType, InstanceAllocationStrategy, InstancePre, Linker,
    Module, ModuleExport, PoolingAllocationConfig, ResourceLimiter, Store, Trap, UpdateDeadline,
    ValType,
};

use crate::limits::{DEADLINE_TICK, Limits};

/// Instance slots beyond one per running call: for checking modules as
/// they are saved, and for callers that use the runtime directly.
const POOL_SPARE_SLOTS: usize = 8;

/// Linear memory kept mapped between the calls that use a pool slot.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Table memory kept mapped between the calls that use a pool slot.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Most table elements an instance may have. Rust guests use one small
/// table for indirect calls.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// A module compiled, checked and ready to instantiate, with its exports
/// looked up once.
pub struct Compiled {
    pre: InstancePre<CallState>,
    memory: ModuleExport,
    alloc: ModuleExport,
    functions: HashMap<String, ModuleExport>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let functions: Vec<&String> = self.functions.keys().collect();
        f.debug_struct("Compiled")
            .field("functions", &functions)
            .finish_non_exhaustive()
    }
}

impl Compiled {
    /// Whether the module exports a remote function called `name`.
    pub fn has_function(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }
}

/// What one call's store holds: the memory accounting.
struct CallState {
    memory_limit: usize,
    memory_denied: bool,
    stop: Stop,
}

/// When a call must stop: checked at every deadline tick.
struct Stop {
    at: Instant,
    interrupted: Arc<AtomicBool>,
}

impl Stop {
    fn after(deadline: Duration, interrupted: &Arc<AtomicBool>) -> Stop {
        let now = Instant::now();
        // A deadline too far to represent is no deadline at all.
        let at = now
            .checked_add(deadline)
            .unwrap_or(now + Duration::from_secs(1 << 32));
        Stop {
            at,
            interrupted: Arc::clone(interrupted),
        }
    }

    fn reached(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed) || Instant::now() >= self.at
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The wasmtime engine, the modules compiled with it by digest, and the
/// limits every call runs under.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    compiled: Mutex<HashMap<[u8; 32], Arc<Compiled>>>,
    limits: Limits,
    /// Set once every running call has been told to stop.
    interrupted: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime enforcing `limits`. Starts a thread that advances the
    /// deadline clock until the runtime and its modules are dropped.
    pub fn new(limits: Limits) -> Result<Runtime, String> {
        let mut config = Config::new();
        // Calls run on fibers that yield to the async executor at every
        // deadline tick: a long call neither blocks a thread nor needs one
        // of its own.
        config.epoch_interruption(true);
        config.consume_fuel(limits.fuel.is_some());
        config.max_wasm_stack(limits.stack);
        // Instances come from a pool of slots reserved up front, so a call
        // does not map and unmap its memory: slots only get reset.
        let slots =
            u32::try_from(limits.max_running.saturating_add(POOL_SPARE_SLOTS)).unwrap_or(u32::MAX);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .total_stacks(slots)
            .max_memory_size(limits.memory)
            // Zeroing the first pages with memset on reset spares the next
            // call the page faults that an madvise reset costs. Where the
            // kernel can tell (Linux 6.7 and later), only the pages a call
            // wrote are reset.
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine =
            Engine::new(&config).map_err(|err| format!("cannot configure wasmtime: {err}"))?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("giocci-deadlines".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(DEADLINE_TICK);
                }
            })
            .map_err(|err| format!("cannot start the deadline clock: {err}"))?;

        Ok(Runtime {
            linker: Linker::new(&engine),
            engine,
            compiled: Mutex::default(),
            limits,
            interrupted: Arc::default(),
        })
    }

    /// Stops every call running now at its next deadline tick, as if each
    /// had reached its deadline, and refuses calls from now on. For shutting
    /// down.
    pub fn interrupt_all(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
    }

    /// Whether [`interrupt_all`](Runtime::interrupt_all) was called.
    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// The limits calls run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles and checks `blob`, or returns the module compiled earlier
    /// with the same digest.
    pub fn compile(&self, blob: &ModuleBlob) -> Result<Arc<Compiled>, RemoteError> {
        if let Some(compiled) = self.lock().get(&blob.digest) {
            return Ok(Arc::clone(compiled));
        }
        let refuse = |reason: String| RemoteError::InvalidModule {
            module: blob.name.clone(),
            reason,
        };
        if blob.wasm.len() > self.limits.payload.module {
            return Err(RemoteError::PayloadTooLarge {
                what: "module".into(),
                len: blob.wasm.len() as u64,
                limit: self.limits.payload.module as u64,
            });
        }
        if giocci::digest(&blob.wasm) != blob.digest {
            return Err(refuse("its digest does not match its bytes".into()));
        }

        if !blob.wasm.starts_with(b"\0asm") {
            return Err(refuse("it is not a WebAssembly module".into()));
        }
        // Malformed code and memories larger than the engine allows both
        // fail here.
        let module = Module::new(&self.engine, &blob.wasm).map_err(|err| {
            refuse(format!(
                "it does not compile within the engine's limits: {err}"
            ))
        })?;
        if let Some(import) = module.imports().next() {
            return Err(refuse(format!(
                "it imports `{}::{}`, and engines provide no imports",
                import.module(),
                import.name()
            )));
        }
        let functions = check_exports(&module).map_err(refuse)?;
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|err| refuse(format!("cannot be instantiated: {err}")))?;
        let export = |name: &str| {
            module
                .get_export_index(name)
                .ok_or_else(|| refuse(format!("it lacks the export `{name}`")))
        };
        let compiled = Arc::new(Compiled {
            pre,
            memory: export(abi::MEMORY)?,
            alloc: export(abi::ALLOC_EXPORT)?,
            functions: functions
                .into_iter()
                .map(|name| Ok((name.clone(), export(&abi::function_export(&name))?)))
                .collect::<Result<_, RemoteError>>()?,
        });

        // A module whose start code, initial memory or version does not fit
        // is refused now rather than at its first call. Compilation runs on
        // a blocking thread, so waiting for the instance here is fine.
        let mut store = self.store(self.limits.deadline);
        let version = futures::executor::block_on(async {
            let instance = compiled
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|err| {
                    refuse(format!(
                        "cannot be instantiated within the engine's limits: {err}"
                    ))
                })?;
            let version = instance
                .get_typed_func::<(), u32>(&mut store, abi::ABI_VERSION_EXPORT)
                .map_err(|err| refuse(format!("its ABI version cannot be read: {err}")))?;
            version
                .call_async(&mut store, ())
                .await
                .map_err(|err| refuse(format!("its ABI version cannot be read: {err}")))
        })?;
        if version != abi::VERSION {
            return Err(refuse(format!(
                "it was built for guest ABI {version}; this engine runs ABI {}",
                abi::VERSION
            )));
        }

        self.lock().insert(blob.digest, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Runs `function` of `compiled` with the encoded `args` in a fresh
    /// instance, for at most `deadline` (capped by the engine's own), and
    /// returns the encoded result. The call yields to the executor at every
    /// deadline tick. The instance's slot is reset before this returns.
    pub async fn call(
        &self,
        compiled: &Compiled,
        module: &str,
        function: &str,
        args: &[u8],
        deadline: Duration,
    ) -> Result<Vec<u8>, RemoteError> {
        let (result, _spent) = self
            .call_keeping_instance(compiled, module, function, args, deadline)
            .await;
        result
    }

    /// [`call`](Runtime::call), but the instance's slot is reset only when
    /// the returned [`SpentInstance`] is dropped: a caller that drops it
    /// after sending the result takes the reset off the result's path.
    ///
    /// The pool holds eight instances beyond `max_running`; while a caller
    /// keeps that many spent ones, further calls fail for want of an
    /// instance. Keep them only briefly, and only a few.
    pub async fn call_keeping_instance(
        &self,
        compiled: &Compiled,
        module: &str,
        function: &str,
        args: &[u8],
        deadline: Duration,
    ) -> (Result<Vec<u8>, RemoteError>, SpentInstance) {
        let deadline = deadline.min(self.limits.deadline);
        let mut store = self.store(deadline);
        let call = Call {
            runtime: self,
            module,
            function,
            deadline,
        };
        let result = match self.refusal(args) {
            Some(refused) => Err(refused),
            None => call.run(&mut store, compiled, args).await,
        };
        (result, SpentInstance { _store: store })
    }

    /// Why a call with `args` cannot start, if it cannot.
    fn refusal(&self, args: &[u8]) -> Option<RemoteError> {
        if args.len() > self.limits.payload.args {
            return Some(RemoteError::PayloadTooLarge {
                what: "arguments".into(),
                len: args.len() as u64,
                limit: self.limits.payload.args as u64,
            });
        }
        if self.interrupted() {
            return Some(RemoteError::Failed {
                detail: "the engine is shutting down".into(),
            });
        }
        None
    }

    /// A store under the engine's limits that traps after `deadline`.
    fn store(&self, deadline: Duration) -> Store<CallState> {
        let state = CallState {
            memory_limit: self.limits.memory,
            memory_denied: false,
            stop: Stop::after(deadline, &self.interrupted),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state);
        // At every tick: stop the call if its time is up, else let other
        // tasks run before it goes on.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|context| {
            Ok(match context.data().stop.reached() {
                true => UpdateDeadline::Interrupt,
                false => UpdateDeadline::Yield(1),
            })
        });
        if let Some(fuel) = self.limits.fuel {
            // Fuel is on in the engine's configuration whenever it is set.
            let _ = store.set_fuel(fuel);
        }
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Compiled>>> {
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The instance a call ran in. Dropping it resets the instance's pool slot
/// for the next call.
pub struct SpentInstance {
    _store: Store<CallState>,
}

impl std::fmt::Debug for SpentInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpentInstance").finish_non_exhaustive()
    }
}

/// One call, for naming it in errors.
struct Call<'a> {
    runtime: &'a Runtime,
    module: &'a str,
    function: &'a str,
    deadline: Duration,
}

impl Call<'_> {
    /// The call itself, in `store`.
    async fn run(
        &self,
        store: &mut Store<CallState>,
        compiled: &Compiled,
        args: &[u8],
    ) -> Result<Vec<u8>, RemoteError> {
        let (module, function) = (self.module, self.function);
        let failed = |detail: String| RemoteError::Failed {
            detail: format!("{module}::{function} could not run; {detail}"),
        };
        let call = self;
        let instance = match compiled.pre.instantiate_async(&mut *store).await {
            Ok(instance) => instance,
            // The module's start code trapped or broke a limit.
            Err(err) if err.downcast_ref::<Trap>().is_some() || store.data().memory_denied => {
                return Err(call.failure(store, None, &err).await);
            }
            Err(err) => return Err(failed(format!("no instance could be created: {err}"))),
        };
        let export = |store: &mut Store<CallState>, which: &ModuleExport| {
            instance.get_module_export(&mut *store, which)
        };
        let memory = export(store, &compiled.memory)
            .and_then(Extern::into_memory)
            .ok_or_else(|| failed("the module has no memory".into()))?;
        let alloc = export(store, &compiled.alloc)
            .and_then(Extern::into_func)
            .ok_or_else(|| failed("the module has no allocator".into()))?
            .typed::<u32, u32>(&*store)
            .map_err(|err| failed(err.to_string()))?;
        let entry = compiled
            .functions
            .get(function)
            .and_then(|which| export(store, which))
            .and_then(Extern::into_func)
            .ok_or_else(|| failed("the module has no such function".into()))?
            .typed::<(u32, u32), u64>(&*store)
            .map_err(|err| failed(err.to_string()))?;
        let len = u32::try_from(args.len()).map_err(|_| failed("arguments exceed 4 GiB".into()))?;

        let ptr = match alloc.call_async(&mut *store, len).await {
            Ok(ptr) => ptr,
            Err(err) => return Err(call.failure(store, Some(&instance), &err).await),
        };
        memory
            .write(&mut *store, ptr as usize, args)
            .map_err(|_| failed("the guest allocator returned memory out of bounds".into()))?;
        let packed = match entry.call_async(&mut *store, (ptr, len)).await {
            Ok(packed) => packed,
            Err(err) => return Err(call.failure(store, Some(&instance), &err).await),
        };

        let (out_ptr, out_len) = abi::unpack(packed);
        let output = memory
            .data(&*store)
            .get(out_ptr as usize..out_ptr as usize + out_len as usize)
            .ok_or_else(|| failed("the guest returned output out of bounds".into()))?;
        let (tag, rest) = output
            .split_first()
            .ok_or_else(|| failed("the guest returned no output".into()))?;
        match *tag {
            abi::OUTPUT_OK if rest.len() > self.runtime.limits.payload.result => {
                Err(RemoteError::PayloadTooLarge {
                    what: "result".into(),
                    len: rest.len() as u64,
                    limit: self.runtime.limits.payload.result as u64,
                })
            }
            abi::OUTPUT_OK => Ok(rest.to_vec()),
            abi::OUTPUT_BAD_ARGUMENTS => Err(RemoteError::BadArguments {
                module: module.to_owned(),
                function: function.to_owned(),
                detail: String::from_utf8_lossy(rest).into_owned(),
            }),
            abi::OUTPUT_ENCODE_FAILED => Err(failed(format!(
                "its result could not be encoded: {}",
                String::from_utf8_lossy(rest)
            ))),
            other => Err(failed(format!(
                "the guest returned unknown output tag {other}"
            ))),
        }
    }

    /// Turns a failure into the error the caller sees: a broken limit, a
    /// panic with its message when the guest recorded one, otherwise the
    /// trap's kind.
    async fn failure(
        &self,
        store: &mut Store<CallState>,
        instance: Option<&wasmtime::Instance>,
        err: &wasmtime::Error,
    ) -> RemoteError {
        let (module, function) = (self.module.to_owned(), self.function.to_owned());
        let trap = err.downcast_ref::<Trap>().copied();
        match trap {
            Some(Trap::Interrupt) => {
                let millis = u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX);
                return RemoteError::DeadlineExceeded {
                    module,
                    function,
                    millis,
                };
            }
            Some(Trap::OutOfFuel) => {
                let fuel = self.runtime.limits.fuel.unwrap_or_default();
                return RemoteError::FuelExhausted {
                    module,
                    function,
                    fuel,
                };
            }
            Some(Trap::StackOverflow) => return RemoteError::StackOverflow { module, function },
            Some(Trap::MemoryOutOfBounds)
                if instance.is_some_and(|instance| stack_exhausted(store, instance)) =>
            {
                return RemoteError::StackOverflow { module, function };
            }
            _ => {}
        }
        if trap == Some(Trap::UnreachableCodeReached) {
            let message = match instance {
                Some(instance) => panic_message(store, instance).await,
                None => None,
            };
            if let Some(message) = message {
                return RemoteError::GuestPanicked {
                    module,
                    function,
                    message,
                };
            }
            // Rust guests abort when an allocation fails.
            if store.data().memory_denied {
                let limit = self.runtime.limits.memory as u64;
                return RemoteError::MemoryLimitExceeded {
                    module,
                    function,
                    limit,
                };
            }
        }
        let trap = match trap {
            Some(trap) => trap.to_string(),
            None => err.to_string(),
        };
        RemoteError::GuestTrapped {
            module,
            function,
            trap,
        }
    }
}

/// Checks the exports the ABI requires and returns the remote functions.
fn check_exports(module: &Module) -> Result<HashSet<String>, String> {
    let mut functions = HashSet::new();
    let mut has_memory = false;
    let mut has_alloc = false;
    let mut has_version = false;
    for export in module.exports() {
        let name = export.name();
        match export.ty() {
            ExternType::Memory(_) if name == abi::MEMORY => has_memory = true,
            ExternType::Func(func) => {
                let params: Vec<ValType> = func.params().collect();
                let results: Vec<ValType> = func.results().collect();
                let is = |want_params: &[fn(&ValType) -> bool],
                          want_results: &[fn(&ValType) -> bool]| {
                    params.len() == want_params.len()
                        && results.len() == want_results.len()
                        && params.iter().zip(want_params).all(|(ty, check)| check(ty))
                        && results
                            .iter()
                            .zip(want_results)
                            .all(|(ty, check)| check(ty))
                };
                if name == abi::ALLOC_EXPORT {
                    has_alloc = is(&[ValType::is_i32], &[ValType::is_i32]);
                } else if name == abi::ABI_VERSION_EXPORT {
                    has_version = is(&[], &[ValType::is_i32]);
                } else if let Some(function) = name.strip_prefix(abi::FUNCTION_EXPORT_PREFIX)
                    && is(&[ValType::is_i32, ValType::is_i32], &[ValType::is_i64])
                {
                    functions.insert(function.to_owned());
                }
            }
            _ => {}
        }
    }
    let missing: Vec<&str> = [
        (has_memory, "memory `memory`"),
        (has_alloc, "function `giocci_alloc(i32) -> i32`"),
        (has_version, "function `giocci_abi_version() -> i32`"),
    ]
    .iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| *what)
    .collect();
    if missing.is_empty() {
        Ok(functions)
    } else {
        Err(format!(
            "it does not export the giocci guest ABI: missing {}",
            missing.join(", ")
        ))
    }
}

/// Whether the guest's in-memory stack ran out: its stack pointer, if
/// exported, is below the guard or wrapped around below zero.
fn stack_exhausted(store: &mut Store<CallState>, instance: &wasmtime::Instance) -> bool {
    let Some(global) = instance.get_global(&mut *store, abi::STACK_POINTER_EXPORT) else {
        return false;
    };
    match global.get(&mut *store).i32() {
        Some(pointer) => pointer < 0 || (pointer as u32) < abi::STACK_GUARD_BYTES,
        None => false,
    }
}

/// The message the guest recorded for its last panic, if any.
async fn panic_message(
    store: &mut Store<CallState>,
    instance: &wasmtime::Instance,
) -> Option<String> {
    let read = instance
        .get_typed_func::<(), u64>(&mut *store, abi::PANIC_MESSAGE_EXPORT)
        .ok()?;
    // Reading the message runs guest code: give it a fresh, short budget.
    let interrupted = Arc::clone(&store.data().stop.interrupted);
    store.data_mut().stop = Stop::after(Duration::from_millis(100), &interrupted);
    if store.get_fuel().is_ok() {
        let _ = store.set_fuel(1_000_000);
    }
    let packed = read.call_async(&mut *store, ()).await.ok()?;
    if packed == 0 {
        return None;
    }
    let (ptr, len) = abi::unpack(packed);
    let memory = instance.get_memory(&mut *store, abi::MEMORY)?;
    let bytes = memory
        .data(&*store)
        .get(ptr as usize..ptr as usize + len as usize)?;
    Some(String::from_utf8_lossy(bytes).into_owned())
}
