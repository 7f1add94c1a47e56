//! What a processor sees of the graph around it: its own identity in the task, and its children
//! as typed edges (`Rc<dyn Node<K, V>>`), through which [`ProcessorContext`](super::ProcessorContext)
//! forwards. The topology layer builds nodes and wires them with these; the processor layer only
//! forwards along them.

use std::rc::Rc;

use crate::error::ProcessError;
use crate::record::Record;
use crate::task_env::TaskEnv;

/// Something that accepts typed records: a processor or a sink.
pub(crate) trait Node<K, V> {
    fn process(&self, record: Record<K, V>, env: &mut TaskEnv) -> Result<(), ProcessError>;
}

/// A node's identity in its task.
#[derive(Debug, Clone)]
pub(crate) struct NodeInfo {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) child_names: Vec<String>,
    pub(crate) stores: Vec<String>,
}

/// Sends `record` to every child, cloning for all but the last.
pub(crate) fn forward_all<K: Clone, V: Clone>(
    children: &[Rc<dyn Node<K, V>>],
    record: Record<K, V>,
    env: &mut TaskEnv,
) -> Result<(), ProcessError> {
    let Some((last, rest)) = children.split_last() else {
        return Ok(());
    };
    for child in rest {
        child.process(record.clone(), env)?;
    }
    last.process(record, env)
}
