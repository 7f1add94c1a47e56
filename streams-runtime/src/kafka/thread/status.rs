//! What a stream thread and its application share: the application's request that the thread
//! stop, and the thread's liveness, assignment and metrics, read by `KafkaStreams`' state and
//! metrics calls. Written once per loop round or per commit, never per record.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// A stream thread's status, shared with its application.
#[derive(Debug)]
pub(crate) struct ThreadStatus {
    /// Set by the application: the thread commits, closes its tasks and stops.
    pub(crate) shutdown: AtomicBool,
    /// Set when the thread stopped with an error.
    pub(crate) failed: AtomicBool,
    /// Milliseconds (since the application's start) of the thread's last activity: a record, a
    /// rebalance, or the start; -1 while the thread has no assignment yet.
    pub(crate) last_activity_ms: AtomicI64,
    /// Whether the thread has buffered records or uncommitted work.
    pub(crate) busy: AtomicBool,
    /// Whether the thread is between a revocation and its next assignment.
    pub(crate) rebalancing: AtomicBool,
    /// Whether every assigned partition was read up to its high watermark at the last check.
    pub(crate) drained: AtomicBool,
    /// How many tasks the thread runs.
    pub(crate) tasks: AtomicUsize,
    /// The partitions assigned to the thread, as of its last rebalance.
    pub(crate) assignment: Mutex<Vec<(String, i32)>>,
    /// When the application started: the origin of `last_activity_ms`.
    pub(crate) started: Instant,
    /// Commits made: offset commits, or transactions under exactly-once.
    pub(crate) commits: AtomicU64,
    /// Transactions aborted after a failure.
    pub(crate) aborted: AtomicU64,
    /// Transactional producers replaced after being fenced or failing fatally.
    pub(crate) producers_replaced: AtomicU64,
    /// Rebalances that revoked the thread's partitions.
    pub(crate) revocations: AtomicU64,
}

impl ThreadStatus {
    /// The status of a thread that has just been started by an application started at `started`.
    pub(crate) fn new(started: Instant) -> Self {
        ThreadStatus {
            shutdown: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            last_activity_ms: AtomicI64::new(-1),
            busy: AtomicBool::new(true),
            rebalancing: AtomicBool::new(true),
            drained: AtomicBool::new(false),
            tasks: AtomicUsize::new(0),
            assignment: Mutex::new(Vec::new()),
            started,
            commits: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            producers_replaced: AtomicU64::new(0),
            revocations: AtomicU64::new(0),
        }
    }

    /// Milliseconds since the application started.
    pub(super) fn now_ms(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    /// Notes activity now.
    pub(super) fn touch(&self) {
        self.last_activity_ms
            .store(self.now_ms(), Ordering::Release);
    }

    /// Whether the application asked the thread to stop.
    pub(super) fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}
