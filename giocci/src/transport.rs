//! Zenoh configuration shared by clients, relays and engines.
//!
//! Every configuration giocci builds has multicast scouting turned off: peers
//! and routers are found only through the endpoints given to it, so nothing
//! is sent to a multicast group.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where a client connects when given no endpoint: a relay on this machine.
pub const DEFAULT_ENDPOINT: &str = "tcp/127.0.0.1:7447";

/// The role a Zenoh session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Connects to a router and talks only through it.
    Client,
    /// Talks to the peers it connects to or accepts.
    Peer,
    /// Routes for the clients and peers connected to it.
    Router,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Client => "client",
            Mode::Peer => "peer",
            Mode::Router => "router",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(value: &str) -> std::result::Result<Mode, String> {
        match value {
            "client" => Ok(Mode::Client),
            "peer" => Ok(Mode::Peer),
            "router" => Ok(Mode::Router),
            other => Err(format!(
                "unknown Zenoh mode '{other}'; use client, peer or router"
            )),
        }
    }
}

/// How to open a Zenoh session: an optional JSON5 file, then the mode and
/// endpoints given here on top of it.
#[derive(Debug, Clone, Default)]
pub struct ZenohOptions {
    /// A full Zenoh configuration file (JSON5), read first.
    pub config_file: Option<PathBuf>,
    /// The session's mode; when `None`, the file's or Zenoh's default.
    pub mode: Option<Mode>,
    /// Endpoints to listen on, such as `tcp/127.0.0.1:7447`.
    pub listen: Vec<String>,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
}

impl ZenohOptions {
    /// Builds the Zenoh configuration, with multicast scouting off.
    pub fn to_config(&self) -> Result<zenoh::Config> {
        let mut config = match &self.config_file {
            Some(path) => zenoh::Config::from_file(path).map_err(|err| Error::Config {
                detail: format!("cannot read {}: {err}", path.display()),
            })?,
            None => zenoh::Config::default(),
        };
        if let Some(mode) = self.mode {
            insert(&mut config, "mode", &format!("\"{}\"", mode.as_str()))?;
        }
        if !self.listen.is_empty() {
            insert(&mut config, "listen/endpoints", &json_list(&self.listen))?;
        }
        if !self.connect.is_empty() {
            insert(&mut config, "connect/endpoints", &json_list(&self.connect))?;
        }
        insert(&mut config, "scouting/multicast/enabled", "false")?;
        Ok(config)
    }

    /// Opens a session with this configuration.
    pub async fn open(&self) -> Result<zenoh::Session> {
        zenoh::open(self.to_config()?)
            .await
            .map_err(|source| Error::Session { source })
    }
}

fn insert(config: &mut zenoh::Config, key: &str, value: &str) -> Result<()> {
    config
        .insert_json5(key, value)
        .map_err(|err| Error::Config {
            detail: format!("cannot set {key} to {value}: {err}"),
        })
}

fn json_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(","))
}

/// A TCP endpoint on 127.0.0.1 whose port was free a moment ago.
///
/// Another process may take the port before it is used; callers that listen
/// on it should retry with a new endpoint if opening fails.
pub fn free_loopback_endpoint() -> std::io::Result<String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(format!("tcp/127.0.0.1:{}", listener.local_addr()?.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_is_always_off() {
        let options = ZenohOptions {
            mode: Some(Mode::Router),
            listen: vec!["tcp/127.0.0.1:0".into()],
            ..Default::default()
        };
        let config = options.to_config().unwrap();
        assert_eq!(
            config.get_json("scouting/multicast/enabled").unwrap(),
            "false"
        );
        assert_eq!(config.get_json("mode").unwrap(), "\"router\"");
        assert_eq!(
            config.get_json("listen/endpoints").unwrap(),
            "[\"tcp/127.0.0.1:0\"]"
        );
    }

    #[test]
    fn missing_file_is_a_config_error() {
        let options = ZenohOptions {
            config_file: Some("/nonexistent/z.json5".into()),
            ..Default::default()
        };
        let err = options.to_config().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid Zenoh configuration; cannot read /nonexistent/z.json5"),
            "{err}"
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!("router".parse::<Mode>(), Ok(Mode::Router));
        assert_eq!(
            "bridge".parse::<Mode>().unwrap_err(),
            "unknown Zenoh mode 'bridge'; use client, peer or router"
        );
    }
}
