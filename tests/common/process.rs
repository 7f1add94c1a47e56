//! Child processes for tests: the example binaries. (The tansu broker is in `tansu.rs`.)

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The path of an example binary built by `cargo test`.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target directory");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo build --examples`; `scripts/test` does)",
        path.display()
    );
    path
}

/// Sends SIGTERM to a child.
pub fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// A child process whose stderr lines are collected in the background.
pub struct Watched {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Watched {
    /// Starts `command` with piped stdout and stderr.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits until a stderr line contains `text`.
    pub fn wait_for(&mut self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no `{text}` on stderr within {limit:?}:\n{}",
                self.seen.join("\n")
            );
            if let Ok(line) = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.seen.push(line);
            }
        }
    }

    /// Waits for exit; returns success and stdout.
    pub fn finish(self) -> (bool, String) {
        let (ok, stdout, _) = self.finish_with_log();
        (ok, stdout)
    }

    /// Waits for exit; returns success, stdout and every stderr line.
    pub fn finish_with_log(mut self) -> (bool, String, Vec<String>) {
        use std::io::Read;
        let mut stdout = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            out.read_to_string(&mut stdout).expect("stdout");
        }
        let status = self.child.wait().expect("wait");
        // Until the reader reaches the end of stderr.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        if !status.success() {
            eprintln!("child stderr:\n{}", self.seen.join("\n"));
        }
        (status.success(), stdout, std::mem::take(&mut self.seen))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if std::thread::panicking() {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            let path = std::env::temp_dir().join(format!("streams-child-{}.log", self.child.id()));
            if std::fs::write(&path, self.seen.join("\n")).is_ok() {
                eprintln!(
                    "child {} stderr saved to {}",
                    self.child.id(),
                    path.display()
                );
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `word<TAB>count` lines.
pub fn parse_counts(stdout: &str) -> Vec<(String, u64)> {
    stdout
        .lines()
        .map(|line| {
            let (word, count) = line.split_once('\t').expect("word<TAB>count");
            (word.to_owned(), count.parse().expect("count"))
        })
        .collect()
}
