//! A tansu broker in a child process, and the guard that stops a child process: shared by the
//! broker tests (through `common`) and the pipeline benchmarks (`benches/pipelines` includes this
//! file by path), so both start tansu the same way.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped (also while a panic unwinds), saying so on stderr.
pub struct ChildGuard {
    /// The process.
    pub child: Child,
    /// What it is, for the message.
    pub name: &'static str,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("stopped {} (pid {})", self.name, self.child.id());
    }
}

/// The tansu binary: on `PATH`, else where `cargo install` puts it.
pub fn tansu_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("tansu"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo/bin/tansu")
    })
}

/// Why tansu did not start. Callers add how to install it: the tests and the benchmarks name
/// different commands.
#[derive(Debug)]
pub enum TansuError {
    /// No free loopback port to give it.
    NoPort(io::Error),
    /// The binary did not run (most likely it is not installed).
    Spawn(io::Error),
    /// It ran but did not listen on this port within 30 seconds.
    NotListening(u16),
}

impl fmt::Display for TansuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TansuError::NoPort(e) => write!(f, "no free port: {e}"),
            TansuError::Spawn(e) => write!(f, "cannot start tansu ({e})"),
            TansuError::NotListening(port) => write!(f, "tansu did not listen on port {port}"),
        }
    }
}

/// A tansu broker (memory storage) on a free loopback port, stopped when dropped.
pub struct Tansu {
    process: ChildGuard,
    /// Its address, for `bootstrap.servers`.
    pub servers: String,
}

impl Tansu {
    /// Starts `tansu broker` and waits until it listens.
    pub fn try_start() -> Result<Self, TansuError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(TansuError::NoPort)?
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu_binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(TansuError::Spawn)?;
        // Guarded from here on: a broker that never listens is stopped too.
        let process = ChildGuard {
            child,
            name: "tansu",
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(TansuError::NotListening(port));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Tansu {
            process,
            servers: format!("127.0.0.1:{port}"),
        })
    }

    /// Freezes the broker with SIGSTOP, as a stalled machine would: connections stay open and
    /// nothing is answered until [`resume`](Self::resume). (Dropping it still stops it: SIGKILL
    /// ends a stopped process.)
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused broker run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.process.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} tansu");
    }

    /// Starts `tansu broker`; fails the test with the install command when tansu is missing.
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| match e {
            TansuError::Spawn(_) => {
                panic!("{e}; install it with `cargo install tansu --locked --features dynostore`")
            }
            _ => panic!("{e}"),
        })
    }
}
