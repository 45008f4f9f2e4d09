//! Compiling modules and running calls in wasmtime.
//!
//! A module is compiled and checked once per digest. Each call gets a fresh
//! store and instance, so no call can see what an earlier call left in
//! memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use giocci::abi;
use giocci::protocol::{ModuleBlob, RemoteError};
use wasmtime::{
    Engine, ExternType, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap,
    ValType,
};

/// Most linear memory one call may use, in bytes (256 MiB). A guest that
/// asks for more sees its allocation fail, which traps.
pub const DEFAULT_MEMORY_LIMIT: usize = 256 << 20;

/// A module compiled, checked and ready to instantiate.
pub struct Compiled {
    pre: InstancePre<StoreLimits>,
    functions: HashSet<String>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

impl Compiled {
    /// Whether the module exports a remote function called `name`.
    pub fn has_function(&self, name: &str) -> bool {
        self.functions.contains(name)
    }
}

/// The wasmtime engine and the modules compiled with it, by digest.
#[derive(Debug)]
pub struct Runtime {
    engine: Engine,
    linker: Linker<StoreLimits>,
    compiled: Mutex<HashMap<[u8; 32], Arc<Compiled>>>,
    memory_limit: usize,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

impl Runtime {
    /// A runtime with wasmtime's default configuration.
    pub fn new() -> Runtime {
        let engine = Engine::default();
        Runtime {
            linker: Linker::new(&engine),
            engine,
            compiled: Mutex::default(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
        }
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
        if giocci::digest(&blob.wasm) != blob.digest {
            return Err(refuse("its digest does not match its bytes".into()));
        }

        let module = Module::new(&self.engine, &blob.wasm)
            .map_err(|err| refuse(format!("not a valid WebAssembly module: {err}")))?;
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
        let compiled = Arc::new(Compiled { pre, functions });

        // A module whose start code or version check fails is refused now
        // rather than at its first call.
        let mut store = self.store();
        let instance = compiled
            .pre
            .instantiate(&mut store)
            .map_err(|err| refuse(format!("cannot be instantiated: {err}")))?;
        let version = instance
            .get_typed_func::<(), u32>(&mut store, abi::ABI_VERSION_EXPORT)
            .and_then(|func| func.call(&mut store, ()))
            .map_err(|err| refuse(format!("its ABI version cannot be read: {err}")))?;
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
    /// instance and returns the encoded result.
    pub fn call(
        &self,
        compiled: &Compiled,
        module: &str,
        function: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, RemoteError> {
        let failed = |detail: String| RemoteError::Failed {
            detail: format!("{module}::{function} could not run; {detail}"),
        };
        let mut store = self.store();
        let instance = compiled
            .pre
            .instantiate(&mut store)
            .map_err(|err| failed(format!("instantiation: {err}")))?;
        let memory = instance
            .get_memory(&mut store, abi::MEMORY)
            .ok_or_else(|| failed("the module has no memory".into()))?;
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, abi::ALLOC_EXPORT)
            .map_err(|err| failed(err.to_string()))?;
        let entry = instance
            .get_typed_func::<(u32, u32), u64>(&mut store, &abi::function_export(function))
            .map_err(|err| failed(err.to_string()))?;
        let len = u32::try_from(args.len()).map_err(|_| failed("arguments exceed 4 GiB".into()))?;

        let trapped = |store: &mut Store<StoreLimits>, err: wasmtime::Error| {
            guest_failure(store, &instance, module, function, &err)
        };
        let ptr = alloc
            .call(&mut store, len)
            .map_err(|err| trapped(&mut store, err))?;
        memory
            .write(&mut store, ptr as usize, args)
            .map_err(|_| failed("the guest allocator returned memory out of bounds".into()))?;
        let packed = entry
            .call(&mut store, (ptr, len))
            .map_err(|err| trapped(&mut store, err))?;

        let (out_ptr, out_len) = abi::unpack(packed);
        let output = memory
            .data(&store)
            .get(out_ptr as usize..out_ptr as usize + out_len as usize)
            .ok_or_else(|| failed("the guest returned output out of bounds".into()))?;
        let (tag, rest) = output
            .split_first()
            .ok_or_else(|| failed("the guest returned no output".into()))?;
        match *tag {
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

    fn store(&self) -> Store<StoreLimits> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.memory_limit)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|limits| limits);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Compiled>>> {
        self.compiled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// Turns a trap into the error the caller sees: a panic with its message
/// when the guest recorded one, otherwise the trap's kind.
fn guest_failure(
    store: &mut Store<StoreLimits>,
    instance: &wasmtime::Instance,
    module: &str,
    function: &str,
    err: &wasmtime::Error,
) -> RemoteError {
    let trap = err.downcast_ref::<Trap>().copied();
    if trap == Some(Trap::UnreachableCodeReached)
        && let Some(message) = panic_message(store, instance)
    {
        return RemoteError::GuestPanicked {
            module: module.to_owned(),
            function: function.to_owned(),
            message,
        };
    }
    let trap = match trap {
        Some(trap) => trap.to_string(),
        None => err.to_string(),
    };
    RemoteError::GuestTrapped {
        module: module.to_owned(),
        function: function.to_owned(),
        trap,
    }
}

fn panic_message(store: &mut Store<StoreLimits>, instance: &wasmtime::Instance) -> Option<String> {
    let read = instance
        .get_typed_func::<(), u64>(&mut *store, abi::PANIC_MESSAGE_EXPORT)
        .ok()?;
    let packed = read.call(&mut *store, ()).ok()?;
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
