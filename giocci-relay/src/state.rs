//! What a relay remembers, behind one lock that is never held across an
//! await.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use giocci::protocol::{KeyMap, ModuleBlob};

use crate::RelayConfig;

/// The state shared by a relay's handlers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) keys: KeyMap,
    pub(crate) session: zenoh::Session,
    pub(crate) config: RelayConfig,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    clients: HashSet<String>,
    /// Registered engines, oldest first.
    engines: Vec<String>,
    /// Where the round robin over `engines` stands.
    next_engine: usize,
    /// Each client's modules by name.
    modules: HashMap<String, BTreeMap<String, ModuleBlob>>,
}

impl Shared {
    pub(crate) fn new(session: zenoh::Session, keys: KeyMap, config: RelayConfig) -> Self {
        Shared {
            name: config.name.clone(),
            keys,
            session,
            config,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler that panicked left the sets consistent: every update is
        // a single insert or remove.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn add_client(&self, client: &str) {
        self.lock().clients.insert(client.to_owned());
    }

    pub(crate) fn has_client(&self, client: &str) -> bool {
        self.lock().clients.contains(client)
    }

    /// Adds `engine` (once) and returns every stored module as
    /// `(client, module)`.
    pub(crate) fn add_engine(&self, engine: &str) -> Vec<(String, ModuleBlob)> {
        let mut state = self.lock();
        if !state.engines.iter().any(|known| known == engine) {
            state.engines.push(engine.to_owned());
        }
        state
            .modules
            .iter()
            .flat_map(|(client, modules)| {
                modules
                    .values()
                    .map(move |module| (client.clone(), module.clone()))
            })
            .collect()
    }

    pub(crate) fn remove_engine(&self, engine: &str) {
        self.lock().engines.retain(|known| known != engine);
    }

    pub(crate) fn engines(&self) -> Vec<String> {
        self.lock().engines.clone()
    }

    /// The next engine in round-robin order, if any is registered.
    pub(crate) fn pick_engine(&self) -> Option<String> {
        let mut state = self.lock();
        if state.engines.is_empty() {
            return None;
        }
        let index = state.next_engine % state.engines.len();
        state.next_engine = index + 1;
        Some(state.engines[index].clone())
    }

    pub(crate) fn module(&self, client: &str, name: &str) -> Option<ModuleBlob> {
        self.lock()
            .modules
            .get(client)
            .and_then(|modules| modules.get(name))
            .cloned()
    }

    pub(crate) fn store_module(&self, client: &str, module: ModuleBlob) {
        self.lock()
            .modules
            .entry(client.to_owned())
            .or_default()
            .insert(module.name.clone(), module);
    }
}
