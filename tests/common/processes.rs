//! The `giocci-relay` and `giocci-engine` binaries as child processes on
//! loopback ports.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

/// How long a child may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the two binaries once per test process and returns their paths.
fn binaries() -> &'static (PathBuf, PathBuf) {
    static BINARIES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINARIES.get_or_init(|| {
        // The test executable is <target>/<profile>/deps/<name>; the binaries
        // land in <target>/<profile>.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("profile directory");
        let release = profile_dir
            .file_name()
            .is_some_and(|name| name == "release");

        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.args([
            "build",
            "--quiet",
            "-p",
            "giocci-relay",
            "-p",
            "giocci-engine",
            "--bins",
        ]);
        if release {
            command.arg("--release");
        }
        let status = command.status().expect("run cargo build for the binaries");
        assert!(
            status.success(),
            "building giocci-relay and giocci-engine failed"
        );
        (
            profile_dir.join("giocci-relay"),
            profile_dir.join("giocci-engine"),
        )
    })
}

/// A child process that is ended when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    pub name: String,
}

impl Service {
    /// Ends the process (by its PID) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM to the process (by its PID).
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `limit` for the process to exit; `None` if it did not.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        wait_with_limit(&mut self.child, limit)
    }
}

fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Which binary to run.
#[derive(Debug, Clone, Copy)]
pub enum Binary {
    Relay,
    Engine,
}

/// Runs a binary that is expected to exit by itself within `limit`, and
/// returns its exit status and what it wrote to stderr.
pub fn run_to_exit(
    binary: Binary,
    args: &[&str],
    limit: Duration,
) -> (std::process::ExitStatus, String) {
    let (relay, engine) = binaries();
    let path = match binary {
        Binary::Relay => relay,
        Binary::Engine => engine,
    };
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn binary");
    let stderr = child.stderr.take().expect("child stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text);
        text
    });
    let status = match wait_with_limit(&mut child, limit) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{binary:?} did not exit within {limit:?}");
        }
    };
    (status, reader.join().unwrap_or_default())
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `giocci-relay` listening on `endpoint` and waits until it is
/// ready.
pub fn start_relay(name: &str, endpoint: &str, extra: &[&str]) -> Service {
    let (relay, _) = binaries();
    let mut command = Command::new(relay);
    command
        .args(["--name", name, "--listen", endpoint])
        .args(extra);
    spawn_ready(command, name)
}

/// Starts `giocci-engine` connected to `endpoint`, registered with `relay`,
/// and waits until it is ready.
pub fn start_engine(name: &str, relay: &str, endpoint: &str, extra: &[&str]) -> Service {
    let (_, engine) = binaries();
    let mut command = Command::new(engine);
    command
        .args(["--name", name, "--relay", relay, "--connect", endpoint])
        .args(extra);
    spawn_ready(command, name)
}

/// Runs `command` and waits for its "ready" line on stdout.
fn spawn_ready(mut command: Command, name: &str) -> Service {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command.env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
    );
    let mut child = command.spawn().expect("spawn service");
    let stdout = child.stdout.take().expect("child stdout");

    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent && line.contains(" ready: ") {
                let _ = ready_tx.send(line.clone());
                sent = true;
            }
        }
    });
    let mut service = Service {
        child,
        name: name.to_owned(),
    };
    match ready_rx.recv_timeout(READY_TIMEOUT) {
        Ok(_) => service,
        Err(_) => {
            service.kill();
            panic!("{name} did not report ready within {READY_TIMEOUT:?}");
        }
    }
}
