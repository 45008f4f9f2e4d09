//! Which engine runs each module, as the relay last said.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::Error;

/// The engine the relay picked for each module, kept until a call shows the
/// engine gone, busy or without the module.
#[derive(Debug, Default)]
pub(super) struct EngineCache {
    engines: Mutex<HashMap<String, String>>,
}

impl EngineCache {
    pub(super) fn get(&self, module: &str) -> Option<String> {
        self.lock().get(module).cloned()
    }

    pub(super) fn insert(&self, module: &str, engine: &str) {
        self.lock().insert(module.to_owned(), engine.to_owned());
    }

    /// Forgets `engine` for `module`, unless another call already replaced
    /// it.
    pub(super) fn forget(&self, module: &str, engine: &str) {
        let mut engines = self.lock();
        if engines.get(module).is_some_and(|known| known == engine) {
            engines.remove(module);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.engines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `err` says the engine cannot run the module now, so that another
/// inquiry may find one that can.
pub(super) fn engine_unfit(err: &Error) -> bool {
    matches!(
        err,
        Error::ConnectionFailed { .. }
            | Error::Timeout { .. }
            | Error::ModuleNotSaved { .. }
            | Error::EngineBusy { .. }
    )
}

/// Whether the call may be retried at once on another engine: the engine
/// failed without running it and without using up the call's time.
pub(super) fn worth_retrying(err: &Error) -> bool {
    engine_unfit(err) && !matches!(err, Error::Timeout { .. })
}
