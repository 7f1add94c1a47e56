//! [`ProcessorFunction`]: a plain function as a topology node, with the stores it declares.
//!
//! `#[processor]` implements this trait for the annotated function, reading the contract off the
//! signature: the record parameters give the input types, the `&mut` store parameters the stores
//! (named `<function>-<parameter>` unless renamed), and the return type the output's shape. The
//! [`emit`] helpers turn each shape into forwarded records. A hand-written implementation is just as
//! valid: the macro writes nothing a user could not.

use crate::error::ProcessError;
use crate::processor::{Data, InitContext, ProcessorContext};
use crate::record::Record;
use crate::state::StoreSpec;

/// A function processing `Record<K, V>` into values of `Output` (the key is kept), usable with
/// `KStream::process`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot process the records of a `KStream<{K}, {V}>`",
    label = "`{Self}` does not take this stream's key and value types",
    note = "a #[processor] function's record parameters must be the stream's value (`{V}` or `&{V}`), or its key and value (`{K}`/`&{K}`, then the value)"
)]
pub trait ProcessorFunction<K, V>: Send + Sync + 'static {
    /// The type of the values the function produces.
    type Output: Data;
    /// What a task keeps for this function: its open store handles.
    type State: 'static;

    /// The node's name (the function's name unless renamed).
    fn name(&self) -> &'static str;

    /// The stores the function uses.
    fn stores(&self) -> Vec<StoreSpec>;

    /// Opens the function's stores for one task.
    fn open(&self, ctx: &mut InitContext<'_>) -> Result<Self::State, ProcessError>;

    /// Runs the function on one record and forwards what it returns.
    fn call(
        &self,
        state: &mut Self::State,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Self::Output>,
    ) -> Result<(), ProcessError>;
}

/// Forwarding helpers for each return shape of a processor function. The key, timestamp and
/// headers of the input record are kept.
pub mod emit {
    use crate::error::{BoxError, ProcessError};
    use crate::processor::ProcessorContext;
    use crate::record::{Headers, Record, RecordContext};

    /// `T`: forwards one record.
    pub fn one<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        key: K,
        timestamp: i64,
        headers: Headers,
        value: V,
    ) -> Result<(), ProcessError> {
        ctx.forward(Record {
            key,
            value,
            timestamp,
            headers,
        })
    }

    /// `Option<T>`: forwards a record for `Some`, nothing for `None`.
    pub fn optional<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        key: K,
        timestamp: i64,
        headers: Headers,
        value: Option<V>,
    ) -> Result<(), ProcessError> {
        match value {
            Some(value) => one(ctx, key, timestamp, headers, value),
            None => Ok(()),
        }
    }

    /// `Vec<T>`: forwards one record per element, in order.
    pub fn many<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        key: K,
        timestamp: i64,
        headers: Headers,
        values: impl IntoIterator<Item = V>,
    ) -> Result<(), ProcessError> {
        for value in values {
            one(ctx, key.clone(), timestamp, headers.clone(), value)?;
        }
        Ok(())
    }

    /// `Result<T, E>`: the `Ok` value, or the error as a [`ProcessError::Processor`] of `node`,
    /// for the task's processing-error handler. Any displayable error works (`Box<dyn Error>`,
    /// `String`, `anyhow::Error`, ...); its message is kept, since errors cross threads.
    pub fn fallible<T, E: std::fmt::Display>(
        node: &str,
        result: Result<T, E>,
    ) -> Result<T, ProcessError> {
        result.map_err(|error| ProcessError::processor(node, BoxError::from(error.to_string())))
    }

    /// The input record's coordinates, for a function that takes a `&RecordContext`.
    pub fn record_context<'c, K, V>(
        ctx: &'c ProcessorContext<'_, K, V>,
    ) -> Result<&'c RecordContext, ProcessError> {
        ctx.record_context().ok_or_else(|| {
            ProcessError::processor(ctx.node_name(), "no input record during a punctuation")
        })
    }
}
