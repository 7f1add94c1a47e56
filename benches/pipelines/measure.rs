//! Measuring: wall and CPU time around a span, the figures a workload reports, and waiting
//! without spending much of the CPU time being measured.

use std::time::{Duration, Instant};

/// The process's user + system CPU time so far, all threads.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// A point in wall and CPU time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    wall: Instant,
    cpu: Duration,
}

impl Mark {
    /// Now.
    pub(crate) fn now() -> Self {
        Mark {
            wall: Instant::now(),
            cpu: cpu_now(),
        }
    }

    /// The span from `self` to `end` over `records` records.
    pub(crate) fn to(self, end: Mark, records: u64) -> Measured {
        Measured {
            records,
            wall: end.wall.saturating_duration_since(self.wall).as_secs_f64(),
            cpu: end.cpu.saturating_sub(self.cpu).as_secs_f64(),
        }
    }
}

/// What a workload measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measured {
    /// Records moved.
    pub(crate) records: u64,
    /// Wall seconds.
    pub(crate) wall: f64,
    /// CPU seconds of the working process.
    pub(crate) cpu: f64,
}

impl Measured {
    /// Records per wall second.
    pub(crate) fn rate(&self) -> f64 {
        self.records as f64 / self.wall.max(1e-9)
    }

    /// Records per CPU second.
    pub(crate) fn per_cpu(&self) -> f64 {
        self.records as f64 / self.cpu.max(1e-9)
    }
}

/// Runs `work`, turning a panic into an error so one failure does not end the run.
pub(crate) fn guarded(work: impl FnOnce() -> Result<Measured, String>) -> Result<Measured, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(panic) => Err(panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned())),
    }
}

/// Waits until `done()`, failing after `limit` or when `failed()` says so.
pub(crate) fn wait_until(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> bool,
    mut failed: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    while !done() {
        if failed() {
            return Err(format!("failed while waiting for {what}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("{what}: not done after {limit:?}"));
        }
        // Checking costs this process CPU that the measured span counts: look every 10 ms.
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A generous limit for moving `records` records through a broker.
pub(crate) fn limit_for(records: u64) -> Duration {
    Duration::from_secs(120 + records / 5_000)
}
