//! The Processor API: what a topology node is, and what its code may touch.
//!
//! Every node of a topology, the DSL's operators included, is a [`Processor`]. A processor
//! receives one typed [`Record`] at a time and forwards typed records to its children through its
//! [`ProcessorContext`]; it opens its state stores and schedules [punctuations](PunctuationType) in
//! [`Processor::init`]. One processor instance exists per task, so it may keep per-task state in
//! `self` without locks.

mod context;
mod function;
mod node;

pub use crate::task_env::{PunctuationType, PunctuatorId, TaskId};
pub use context::{InitContext, ProcessorContext};
pub use function::{ProcessorFunction, Timer, emit};
pub(crate) use node::{Node, NodeInfo, forward_all};
// Until the stores import it from `task_env` (issue 12 merge).

use crate::error::ProcessError;
use crate::record::Record;

/// Marker for types that can flow through a stream: cloneable (a record forwarded to several
/// children is cloned for all but the last) and owning their data.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot flow through a stream",
    label = "records of `{Self}` are not `Clone + 'static`",
    note = "derive `Clone` for the type, and own the data instead of borrowing it"
)]
pub trait Data: Clone + 'static {}

impl<T: Clone + 'static> Data for T {}

/// A node of a topology: consumes `Record<KIn, VIn>`, forwards `Record<KeyOut, ValueOut>`.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// /// Forwards the value's length, keeping the key.
/// struct Length;
///
/// impl Processor<String, String> for Length {
///     type KeyOut = String;
///     type ValueOut = usize;
///
///     fn process(
///         &mut self,
///         record: Record<String, String>,
///         ctx: &mut ProcessorContext<'_, String, usize>,
///     ) -> Result<(), ProcessError> {
///         let length = record.value.len();
///         ctx.forward(record.with_value(length))
///     }
/// }
/// ```
pub trait Processor<KIn, VIn>: 'static {
    /// The key type this processor forwards.
    type KeyOut: Data;
    /// The value type this processor forwards.
    type ValueOut: Data;

    /// Called once per task before any record: open stores, schedule punctuations.
    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        record: Record<KIn, VIn>,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
    ) -> Result<(), ProcessError>;

    /// Called when a punctuation this processor scheduled is due; `timestamp` is the stream time
    /// or wall-clock time that triggered it.
    fn punctuate(
        &mut self,
        punctuator: PunctuatorId,
        timestamp: i64,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
    ) -> Result<(), ProcessError> {
        let _ = (punctuator, timestamp, ctx);
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}
