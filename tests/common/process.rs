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

/// How a child ended.
pub struct Stopped {
    /// Whether it exited successfully.
    pub ok: bool,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Every stderr line.
    pub log: Vec<String>,
    /// From the moment given (SIGTERM, or the start) to the exit.
    pub took: Duration,
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
        assert!(
            self.saw_since(0, text, limit),
            "no `{text}` on stderr within {limit:?}:\n{}",
            self.seen.join("\n")
        );
    }

    /// How many stderr lines have arrived so far: a mark for [`saw_since`](Self::saw_since).
    pub fn mark(&mut self) -> usize {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.len()
    }

    /// Waits up to `limit` for a stderr line after the first `from` that contains `text`;
    /// whether one came.
    pub fn saw_since(&mut self, from: usize, text: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.seen.iter().skip(from).any(|l| l.contains(text)) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Ok(line) = self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.seen.push(line);
            }
        }
    }

    /// Fails the test, with the child's stderr, if the child has exited (it was not told to).
    pub fn assert_alive(&mut self, what: &str) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            self.mark();
            panic!(
                "{what} exited by itself ({status}):\n{}",
                self.seen.join("\n")
            );
        }
    }

    /// Sends SIGTERM and waits for the exit; fails the test (stderr is saved) when that takes
    /// longer than `limit`.
    pub fn stop_within(self, limit: Duration) -> Stopped {
        let sent = Instant::now();
        terminate(&self.child);
        self.exit_within(sent, limit)
    }

    /// Waits for the exit; fails the test (stderr is saved) when the child still runs `limit`
    /// after `since`. Its stdout is read once it has exited, which is enough for what the
    /// examples print at exit.
    pub fn exit_within(mut self, since: Instant, limit: Duration) -> Stopped {
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(
                since.elapsed() < limit,
                "pid {} still running after {limit:?}",
                self.child.id()
            );
            self.mark();
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = since.elapsed();
        let (ok, stdout, log) = self.finish_with_log();
        Stopped {
            ok,
            stdout,
            log,
            took,
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
