//! What every node of a running task shares, below the processor API: the task's identity, its
//! clocks, the coordinates of the record being processed, its punctuation schedule and the
//! collector its output goes to.
//!
//! This is a leaf of the crate, like [`record`](crate::record): stores (whose cache flushes
//! forward records), processors, topology nodes and tasks all use it, so it names none of them.

mod punctuation;

pub(crate) use punctuation::PunctuationSchedule;
pub use punctuation::{PunctuationType, PunctuatorId};

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use crate::record::{RecordCollector, RecordContext};

/// A task's identity: `<sub-topology>_<partition>`, as Kafka Streams names tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology.
    pub subtopology: u32,
    /// The input partition.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// The task-wide state every node of a task shares while it runs: clocks, the input record's
/// coordinates, the punctuation schedule and the record collector.
pub(crate) struct TaskEnv {
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Arc<str>,
    pub(crate) stream_time: i64,
    pub(crate) wall_clock: i64,
    pub(crate) record: Option<RecordContext>,
    /// The timestamp of the record (or punctuation) being processed, shared with change logging.
    pub(crate) current_timestamp: Rc<Cell<i64>>,
    pub(crate) collector: Rc<RefCell<dyn RecordCollector>>,
    pub(crate) schedule: PunctuationSchedule,
    /// Records processors skipped (null keys, late records), for the task's metrics.
    pub(crate) dropped: u64,
}
