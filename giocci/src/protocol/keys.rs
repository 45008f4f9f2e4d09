use super::names::{NameError, validate_key_prefix};

/// Builds the Zenoh keys of the protocol, under an optional prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    prefix: Option<String>,
}

impl KeyMap {
    /// A key map whose keys all start with `prefix/`, or with no prefix.
    ///
    /// The prefix must be a valid key prefix (see
    /// [`validate_key_prefix`](super::validate_key_prefix)).
    pub fn new(prefix: Option<&str>) -> Result<Self, NameError> {
        if let Some(prefix) = prefix {
            validate_key_prefix(prefix)?;
        }
        Ok(KeyMap {
            prefix: prefix.map(str::to_owned),
        })
    }

    /// The prefix, if any.
    pub fn prefix(&self) -> Option<&str> {
        self.prefix.as_deref()
    }

    fn key(&self, path: &str, name: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/giocci/{path}/{name}"),
            None => format!("giocci/{path}/{name}"),
        }
    }

    /// Where a relay takes client registrations.
    pub fn register_client(&self, relay: &str) -> String {
        self.key("register/client", relay)
    }

    /// Where a relay takes engine registrations.
    pub fn register_engine(&self, relay: &str) -> String {
        self.key("register/engine", relay)
    }

    /// Where a relay takes modules from clients.
    pub fn save_module_client(&self, relay: &str) -> String {
        self.key("save_module/client", relay)
    }

    /// Where an engine takes modules from its relay.
    pub fn save_module_relay(&self, engine: &str) -> String {
        self.key("save_module/relay", engine)
    }

    /// Where a relay answers which engine should run a call.
    pub fn inquiry_engine(&self, relay: &str) -> String {
        self.key("inquiry_engine/client", relay)
    }

    /// Where an engine takes synchronous calls.
    pub fn exec_func(&self, engine: &str) -> String {
        self.key("exec_func/client", engine)
    }

    /// Where an engine takes asynchronous call requests.
    pub fn exec_func_async_request(&self, engine: &str) -> String {
        self.key("exec_func_async/client", engine)
    }

    /// Where a client receives its asynchronous call results.
    pub fn exec_func_async_result(&self, client: &str) -> String {
        self.key("exec_func_async/engine", client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_upstream_map() {
        let keys = KeyMap::default();
        assert_eq!(keys.register_client("r"), "giocci/register/client/r");
        assert_eq!(keys.register_engine("r"), "giocci/register/engine/r");
        assert_eq!(keys.save_module_client("r"), "giocci/save_module/client/r");
        assert_eq!(keys.save_module_relay("e"), "giocci/save_module/relay/e");
        assert_eq!(keys.inquiry_engine("r"), "giocci/inquiry_engine/client/r");
        assert_eq!(keys.exec_func("e"), "giocci/exec_func/client/e");
        assert_eq!(
            keys.exec_func_async_request("e"),
            "giocci/exec_func_async/client/e"
        );
        assert_eq!(
            keys.exec_func_async_result("c"),
            "giocci/exec_func_async/engine/c"
        );
    }

    #[test]
    fn prefix_comes_first() {
        let keys = KeyMap::new(Some("lab/a")).unwrap();
        assert_eq!(keys.exec_func("e"), "lab/a/giocci/exec_func/client/e");
        assert!(KeyMap::new(Some("lab/*")).is_err());
    }
}
