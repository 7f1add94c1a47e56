//! [`ProcessorFunction`]: a plain function as a topology node, with the stores it declares.
//!
//! `#[processor]` implements this trait for the annotated function, reading the contract off the
//! signature: the record parameters give the input types, the `&mut` store parameters the stores
//! (named `<function>-<parameter>` unless renamed), and the return type the output's shape. The
//! [`emit`] helpers turn each shape into forwarded records. A hand-written implementation is just as
//! valid: the macro writes nothing a user could not.

use std::time::Duration;

use crate::error::ProcessError;
use crate::processor::{Data, InitContext, ProcessorContext};
use crate::record::Record;
use crate::state::StoreSpec;
use crate::task_env::PunctuationType;

/// A timer a processor function declares (`#[processor(punctuate(every = "10s", on =
/// stream_time, with = expire))]`): how often it fires, on which clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// The interval.
    pub every: Duration,
    /// Stream time (advanced by record timestamps) or wall-clock time.
    pub on: PunctuationType,
}

/// A function processing `Record<K, V>` into records of `KeyOut` and `Output` (the input key,
/// unless it returns `(key, value)` pairs), usable with
/// `KStream::process`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot process the records of a `KStream<{K}, {V}>`",
    label = "`{Self}` does not take this stream's key and value types",
    note = "a #[processor] function's record parameters must be the stream's value (`{V}` or `&{V}`), or its key and value (`{K}`/`&{K}`, then the value)",
    note = "a #[processor] function is passed as its node, `my_function::Function`, not as the function itself"
)]
pub trait ProcessorFunction<K, V>: Send + Sync + 'static {
    /// The type of the keys of the records the function produces: `K` unless it returns
    /// `(key, value)` pairs.
    type KeyOut: Data;
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
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::Output>,
    ) -> Result<(), ProcessError>;

    /// Whether the function sets its records' keys (it returns `(key, value)` pairs): a later
    /// stateful step then reads them through a repartition topic, as after `select_key`.
    fn changes_key(&self) -> bool {
        false
    }

    /// The function's timers, scheduled when a task opens it (none unless declared).
    fn timers(&self) -> Vec<Timer> {
        Vec::new()
    }

    /// Runs timer `index` (a position in [`timers`](Self::timers)) at `now` and forwards what
    /// its function returns.
    fn on_timer(
        &self,
        state: &mut Self::State,
        index: usize,
        now: i64,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::Output>,
    ) -> Result<(), ProcessError> {
        let _ = (state, index, now, ctx);
        Ok(())
    }
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

    /// `(K, V)`: forwards one record with the key the function chose.
    pub fn keyed_one<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        timestamp: i64,
        headers: Headers,
        (key, value): (K, V),
    ) -> Result<(), ProcessError> {
        one(ctx, key, timestamp, headers, value)
    }

    /// `Option<(K, V)>`: forwards a record for `Some`.
    pub fn keyed_optional<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        timestamp: i64,
        headers: Headers,
        record: Option<(K, V)>,
    ) -> Result<(), ProcessError> {
        match record {
            Some(record) => keyed_one(ctx, timestamp, headers, record),
            None => Ok(()),
        }
    }

    /// `Vec<(K, V)>`: forwards one record per element, in order.
    pub fn keyed_many<K: Clone, V: Clone>(
        ctx: &mut ProcessorContext<'_, K, V>,
        timestamp: i64,
        headers: Headers,
        records: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), ProcessError> {
        for record in records {
            keyed_one(ctx, timestamp, headers.clone(), record)?;
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

    /// What a timer function returns: records of its processor's output type, stamped with the
    /// time the timer fired, without headers.
    #[diagnostic::on_unimplemented(
        message = "a timer function returns records of its processor's output: `({K}, {V})`, `Option<({K}, {V})>`, `Vec<({K}, {V})>`, `()`, or a `Result` of one of them",
        label = "this timer function's output is `{Self}`"
    )]
    pub trait TimerOutput<K, V> {
        /// Forwards the records; an error goes to the processing-error handler as `node`'s.
        fn forward(
            self,
            ctx: &mut ProcessorContext<'_, K, V>,
            now: i64,
            node: &str,
        ) -> Result<(), ProcessError>;
    }

    impl<K, V> TimerOutput<K, V> for () {
        fn forward(
            self,
            _: &mut ProcessorContext<'_, K, V>,
            _: i64,
            _: &str,
        ) -> Result<(), ProcessError> {
            Ok(())
        }
    }

    impl<K: Clone, V: Clone> TimerOutput<K, V> for (K, V) {
        fn forward(
            self,
            ctx: &mut ProcessorContext<'_, K, V>,
            now: i64,
            _: &str,
        ) -> Result<(), ProcessError> {
            one(ctx, self.0, now, Headers::new(), self.1)
        }
    }

    impl<K: Clone, V: Clone> TimerOutput<K, V> for Option<(K, V)> {
        fn forward(
            self,
            ctx: &mut ProcessorContext<'_, K, V>,
            now: i64,
            node: &str,
        ) -> Result<(), ProcessError> {
            self.map_or(Ok(()), |record| record.forward(ctx, now, node))
        }
    }

    impl<K: Clone, V: Clone> TimerOutput<K, V> for Vec<(K, V)> {
        fn forward(
            self,
            ctx: &mut ProcessorContext<'_, K, V>,
            now: i64,
            node: &str,
        ) -> Result<(), ProcessError> {
            self.into_iter()
                .try_for_each(|record| record.forward(ctx, now, node))
        }
    }

    impl<K, V, T: TimerOutput<K, V>, E: std::fmt::Display> TimerOutput<K, V> for Result<T, E> {
        fn forward(
            self,
            ctx: &mut ProcessorContext<'_, K, V>,
            now: i64,
            node: &str,
        ) -> Result<(), ProcessError> {
            fallible(node, self)?.forward(ctx, now, node)
        }
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
