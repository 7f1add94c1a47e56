//! The windowed aggregations as processors: per time window (tumbling and hopping, Kafka
//! Streams' `KStreamWindowAggregate`) here, with what the three kinds share; per sliding window
//! (`KStreamSlidingWindowAggregate`) in `sliding_aggregate`, per session
//! (`KStreamSessionWindowAggregate`) in `session_aggregate`.
//!
//! Each keeps its own stream time (the largest timestamp it has seen), as Kafka Streams'
//! processors do, and drops a record for every window that is closed by it, counting it in the
//! task's `dropped_records`: a time window once `end + grace <= stream time`, a sliding window
//! (both bounds inclusive) once `end + grace < stream time`, a session once
//! `end + gap + grace < stream time`. (So `suppress(until_window_closes)`, which emits at
//! `end + grace <= stream time`, can emit a sliding window or a session ending exactly at its
//! close time before its last update, as in Kafka Streams.)
//!
//! Emit-on-close ([`EmitStrategy::OnWindowClose`]) reads every closed window from the store on
//! each record that moves the close time; Kafka Streams throttles those reads to one per
//! second of wall-clock time (an internal setting its test driver turns off), which changes
//! when results go out, not which. Time and sliding windows keep
//! each window's largest timestamp with its aggregate, which is the timestamp of every result of
//! that window; a session's results carry the session's end.

use std::sync::Arc;

use serde::Serialize;

use super::aggregate::{Change, Fold, opened, skip_null, timestamped_change};
use super::windows::{EmitStrategy, TimeWindows};
use crate::codec::{Codec, is_null};
use crate::error::ProcessError;
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::{Headers, Record, Window, Windowed};
use crate::state::{CacheHandle, FlushedEntry, WindowEntryDecoder, WindowStore};

/// Counts a record dropped for arriving after its window closed, logged at debug as Kafka
/// Streams logs "Skipping record for expired window".
pub(super) fn skip_expired<K, V>(ctx: &mut ProcessorContext<'_, K, V>, window: Window, close: i64) {
    match ctx.record_context() {
        Some(origin) => tracing::debug!(
            topic = %origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            window_start = window.start,
            window_end = window.end,
            expiration = close,
            "skipping record for expired window"
        ),
        None => tracing::debug!(
            window_start = window.start,
            window_end = window.end,
            expiration = close,
            "skipping record for expired window"
        ),
    }
    ctx.record_dropped();
}

/// Whether an aggregation passes null values to its fold (`count` counts them, as Kafka
/// Streams' windowed `count` does) or skips them (`reduce`, `aggregate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NullValues {
    Fold,
    Skip,
}

/// Emit-on-close bookkeeping shared by the time and sliding window aggregations: the close
/// time up to which windows were emitted (-1: none yet).
#[derive(Debug)]
pub(super) struct FinalEmitter {
    last_emit_close: i64,
}

impl FinalEmitter {
    pub(super) fn new() -> Self {
        FinalEmitter {
            last_emit_close: -1,
        }
    }

    /// At the start of a task over a restored store: the windows closed by `close` (from the
    /// store's clock) went out before. Kafka Streams commits its last close time with the
    /// offsets; without that, windows that closed after the store's last write and before the
    /// restart can go out again.
    pub(super) fn resume(&mut self, close: i64) {
        self.last_emit_close = if close >= 0 { close } else { -1 };
    }

    /// Forwards, in window-start order (then key), every window of `store` that closed since
    /// the last emission, as Kafka Streams' `maybeForwardFinalResult`: a window ending at or
    /// before `close` starts at or before `close - size`, and those up to the last close time
    /// went out before. `windows_for` lists the windows holding a time (none for time windows'
    /// own ranges: it tells whether any window starts between the two bounds).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit_closed<K, VA, KC, VC>(
        &mut self,
        store: &WindowStore<K, VA, KC, VC>,
        size_ms: i64,
        close: i64,
        new_windows_between: impl Fn(i64, i64) -> bool,
        headers: &Headers,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        K: Data,
        VA: Data,
        KC: Codec<K>,
        VC: Codec<VA>,
    {
        if self.last_emit_close != -1 && self.last_emit_close >= close {
            return Ok(());
        }
        let upper = close - size_ms;
        if upper < 0 {
            return Ok(());
        }
        let lower = if self.last_emit_close == -1 {
            0
        } else {
            (self.last_emit_close - size_ms).max(0) + 1
        };
        if self.last_emit_close != -1 && !new_windows_between(lower, upper) {
            return Ok(());
        }
        let mut closed = store.fetch_all_with_timestamps(lower, upper)?;
        // The store lists windows per segment by key; results go out by window start, then
        // key, as Kafka Streams' time-ordered store lists them.
        closed.sort_by_key(|(key, _, _)| key.window.start);
        for (key, value, timestamp) in closed {
            ctx.forward(Record {
                key,
                value: Change {
                    new: Some(value),
                    old: None,
                },
                timestamp,
                headers: headers.clone(),
            })?;
        }
        self.last_emit_close = close;
        Ok(())
    }
}

/// Aggregates each record into every time window it falls in (Kafka Streams'
/// `KStreamWindowAggregate`).
pub(crate) struct TimeWindowAggregate<K, VA, KC, VC, F> {
    pub(crate) windows: TimeWindows,
    pub(crate) emit: EmitStrategy,
    pub(crate) nulls: NullValues,
    pub(crate) store_name: String,
    pub(crate) store: Option<WindowStore<K, VA, KC, VC>>,
    /// The store's place in the record cache, when cached: the cache then forwards updates.
    cache: Option<CacheHandle>,
    pub(crate) fold: Arc<F>,
    /// The largest timestamp seen (-1 before the first record).
    pub(crate) observed_stream_time: i64,
    emitter: FinalEmitter,
    /// The current record's key as the store encodes it, for its windows' reads and writes.
    key_bytes: Vec<u8>,
}

impl<K, VA, KC, VC, F> TimeWindowAggregate<K, VA, KC, VC, F> {
    pub(crate) fn new(
        windows: TimeWindows,
        emit: EmitStrategy,
        nulls: NullValues,
        store_name: &str,
        fold: Arc<F>,
    ) -> Self {
        TimeWindowAggregate {
            windows,
            emit,
            nulls,
            store_name: store_name.to_owned(),
            store: None,
            cache: None,
            fold,
            key_bytes: Vec::new(),
            observed_stream_time: -1,
            emitter: FinalEmitter::new(),
        }
    }
}

/// Turns a flushed entry of a windowed aggregation's cached store into the change it forwards,
/// stamped with the window's largest timestamp (for a deletion, the deleting record's).
fn window_change_decoder<K, VA, KC, VC>(
    store: WindowEntryDecoder<K, VA, KC, VC>,
) -> impl FnMut(FlushedEntry) -> Result<Record<Windowed<K>, Change<VA>>, ProcessError> + 'static
where
    K: 'static,
    VA: 'static,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    move |entry| {
        timestamped_change(
            entry,
            |key| store.windowed_key(key),
            |value| store.value(value),
        )
    }
}

impl<K, V, VA, KC, VC, F> Processor<K, V> for TimeWindowAggregate<K, VA, KC, VC, F>
where
    K: Data + Serialize,
    V: Data + Serialize,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
    F: Fold<K, V, VA>,
{
    type KeyOut = Windowed<K>;
    type ValueOut = Change<VA>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let store: WindowStore<K, VA, KC, VC> = ctx.store(&self.store_name)?;
        // Stores are restored before processors start: a restarted aggregation takes the
        // windows its store's clock had closed as emitted.
        self.emitter
            .resume(store.observed_stream_time() - self.windows.grace_ms());
        // Emit-on-close forwards from the store itself, never the cache's updates.
        if self.emit == EmitStrategy::OnWindowUpdate {
            self.cache = ctx.forward_cache_flushes(
                &self.store_name,
                window_change_decoder(store.entry_decoder()),
            )?;
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError> {
        if is_null(&r.key) || (self.nulls == NullValues::Skip && is_null(&r.value)) {
            skip_null(ctx);
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        // A restored store remembers its latest window start, which is no later than the
        // record that wrote it: resuming from it, a replayed record that was late is mostly
        // late again (Kafka Streams resumes from nothing).
        let restored = store.observed_stream_time();
        self.observed_stream_time = self.observed_stream_time.max(restored).max(r.timestamp);
        let close = self.observed_stream_time - self.windows.grace_ms();
        if self.emit == EmitStrategy::OnWindowClose {
            // Emitted before this record's writes: they move the store's retention clock, which
            // could hide windows that closed with this record (none of which it can change).
            let windows = self.windows;
            // Kafka Streams skips the fetch when the windows holding `upper` are the ones
            // holding `lower - 1`: no window starts in between.
            let new_windows_between = |lower: i64, upper: i64| {
                windows.windows_for(upper) != windows.windows_for(lower - 1)
            };
            self.emitter.emit_closed(
                store,
                windows.size_ms(),
                close,
                new_windows_between,
                &r.headers,
                ctx,
            )?;
        }
        let mut value = Some(r.value);
        store.encode_key(&r.key, &mut self.key_bytes)?;
        let mut windows = self.windows.windows_of(r.timestamp).peekable();
        while let Some(window) = windows.next() {
            if window.end <= close {
                skip_expired(ctx, window, close);
                continue;
            }
            let (old, timestamp) = match store.fetch_encoded(&self.key_bytes, window.start)? {
                Some((old, old_timestamp)) => (Some(old), r.timestamp.max(old_timestamp)),
                None => (None, r.timestamp),
            };
            // The last window takes the value; the others fold a copy.
            let this_value = if windows.peek().is_none() {
                value.take()
            } else {
                value.clone()
            };
            let Some(this_value) = this_value else { break };
            let new = self.fold.fold(&r.key, this_value, old.clone());
            if let Some(cache) = &self.cache {
                // Cached: the cache forwards the window's change when it flushes it.
                cache.stage(ctx.record_context().cloned(), r.headers.clone());
                store.put_encoded(&self.key_bytes, &new, window.start, timestamp)?;
                continue;
            }
            store.put_encoded(&self.key_bytes, &new, window.start, timestamp)?;
            if self.emit == EmitStrategy::OnWindowUpdate {
                ctx.forward(Record {
                    key: Windowed {
                        key: r.key.clone(),
                        window,
                    },
                    value: Change {
                        new: Some(new),
                        old,
                    },
                    timestamp,
                    headers: r.headers.clone(),
                })?;
            }
        }
        if let Some(cache) = &self.cache {
            // What the cache evicted of this store (this record's evictions among it) is
            // forwarded now; the windows' own changes wait for the flush.
            cache.drain(ctx.env)?;
        }
        Ok(())
    }
}
