//! The windowed aggregations as processors: per time window (tumbling and hopping, Kafka
//! Streams' `KStreamWindowAggregate`), per sliding window (`KStreamSlidingWindowAggregate`) and
//! per session (`KStreamSessionWindowAggregate`).
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

use super::aggregate::{Change, Fold, skip_null};
use super::windows::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows};
use crate::codec::{Codec, is_null};
use crate::error::{ProcessError, StoreError};
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::{Headers, Record, Window, Windowed};
use crate::state::{
    CacheHandle, FlushedEntry, SessionEntryDecoder, SessionStore, WindowEntryDecoder, WindowStore,
};

/// Counts a record dropped for arriving after its window closed, logged at debug as Kafka
/// Streams logs "Skipping record for expired window".
fn skip_expired<K, V>(ctx: &mut ProcessorContext<'_, K, V>, window: Window, close: i64) {
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

fn opened<'s, S>(store: &'s mut Option<S>, name: &str) -> Result<&'s mut S, ProcessError> {
    store
        .as_mut()
        .ok_or_else(|| ProcessError::Store(StoreError::NotFound(name.to_owned())))
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
struct FinalEmitter {
    last_emit_close: i64,
}

impl FinalEmitter {
    fn new() -> Self {
        FinalEmitter {
            last_emit_close: -1,
        }
    }

    /// At the start of a task over a restored store: the windows closed by `close` (from the
    /// store's clock) went out before. Kafka Streams commits its last close time with the
    /// offsets; without that, windows that closed after the store's last write and before the
    /// restart can go out again.
    fn resume(&mut self, close: i64) {
        self.last_emit_close = if close >= 0 { close } else { -1 };
    }

    /// Forwards, in window-start order (then key), every window of `store` that closed since
    /// the last emission, as Kafka Streams' `maybeForwardFinalResult`: a window ending at or
    /// before `close` starts at or before `close - size`, and those up to the last close time
    /// went out before. `windows_for` lists the windows holding a time (none for time windows'
    /// own ranges: it tells whether any window starts between the two bounds).
    #[allow(clippy::too_many_arguments)]
    fn emit_closed<K, VA, KC, VC>(
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
        let key = store.windowed_key(&entry.key)?;
        let new = entry
            .new
            .as_deref()
            .map(|bytes| store.value(bytes))
            .transpose()?;
        let old = entry
            .old
            .as_deref()
            .map(|bytes| store.value(bytes))
            .transpose()?;
        let timestamp = match &new {
            Some((_, timestamp)) if *timestamp >= 0 => *timestamp,
            _ => entry.meta.timestamp,
        };
        Ok(Record {
            key,
            value: Change {
                new: new.map(|(value, _)| value),
                old: old.map(|(value, _)| value),
            },
            timestamp,
            headers: entry.meta.headers,
        })
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
        let count = self.windows.windows_of(r.timestamp).count();
        let mut value = Some(r.value);
        store.encode_key(&r.key, &mut self.key_bytes)?;
        for (i, window) in self.windows.windows_of(r.timestamp).enumerate() {
            if window.end <= close {
                skip_expired(ctx, window, close);
                continue;
            }
            let (old, timestamp) = match store.fetch_encoded(&self.key_bytes, window.start)? {
                Some((old, old_timestamp)) => (Some(old), r.timestamp.max(old_timestamp)),
                None => (None, r.timestamp),
            };
            let this_value = if i + 1 == count {
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

/// Aggregates each record into the sliding windows it falls in, creating the windows it
/// starts and ends (Kafka Streams' `KStreamSlidingWindowAggregate`).
///
/// A record at `t` with time difference `d` ends the window `[t - d, t]` ("left window") and
/// starts, unless a record already did, the window `[t + 1, t + d + 1]` ("right window"). Every
/// existing window that holds `t` is updated. Windows are stored by start; a left window with
/// no record but its own end record takes the aggregate of the records within `d` before it.
pub(crate) struct SlidingWindowAggregate<K, VA, KC, VC, F> {
    pub(crate) windows: SlidingWindows,
    pub(crate) emit: EmitStrategy,
    pub(crate) store_name: String,
    pub(crate) store: Option<WindowStore<K, VA, KC, VC>>,
    pub(crate) fold: Arc<F>,
    pub(crate) observed_stream_time: i64,
    emitter: FinalEmitter,
}

impl<K, VA, KC, VC, F> SlidingWindowAggregate<K, VA, KC, VC, F> {
    pub(crate) fn new(
        windows: SlidingWindows,
        emit: EmitStrategy,
        store_name: &str,
        fold: Arc<F>,
    ) -> Self {
        SlidingWindowAggregate {
            windows,
            emit,
            store_name: store_name.to_owned(),
            store: None,
            fold,
            observed_stream_time: -1,
            emitter: FinalEmitter::new(),
        }
    }
}

/// A window's aggregate and the largest timestamp in it; `None` aggregate: a new window of a
/// fold without an initial value (reduce), which the record's value starts.
type Aggregated<VA> = (Option<VA>, i64);

/// What one record does to the sliding windows of its key, gathered while scanning them.
struct SlidingScan<VA> {
    starts: Vec<i64>,
    left: Option<Aggregated<VA>>,
    right: Option<(VA, i64)>,
    left_created: bool,
    right_created: bool,
    previous_timestamp: Option<i64>,
}

impl<VA> SlidingScan<VA> {
    fn new() -> Self {
        SlidingScan {
            starts: Vec::new(),
            left: None,
            right: None,
            left_created: false,
            right_created: false,
            previous_timestamp: None,
        }
    }
}

impl<K, VA, KC, VC, F> SlidingWindowAggregate<K, VA, KC, VC, F>
where
    K: Data + Serialize,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    /// Folds the record into the window starting at `start` (Kafka Streams'
    /// `updateWindowAndForward`), unless the window is closed: then the record is dropped for it.
    #[allow(clippy::too_many_arguments)]
    fn update_window<V: Data + Serialize>(
        &mut self,
        r: &Record<K, V>,
        start: i64,
        (aggregate, max_timestamp): Aggregated<VA>,
        close: i64,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        let d = self.windows.time_difference_ms();
        let window = Window::new(start, start + d);
        if window.end < close {
            skip_expired(ctx, window, close);
            return Ok(());
        }
        let timestamp = if aggregate.is_some() {
            r.timestamp.max(max_timestamp)
        } else {
            r.timestamp
        };
        let new = self.fold.fold(&r.key, r.value.clone(), aggregate.clone());
        let store = opened(&mut self.store, &self.store_name)?;
        store.put_with_timestamp(&r.key, &new, start, timestamp)?;
        self.forward_update(r, window, new, aggregate, timestamp, ctx)
    }

    fn forward_update<V: Data + Serialize>(
        &self,
        r: &Record<K, V>,
        window: Window,
        new: VA,
        old: Option<VA>,
        timestamp: i64,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        if self.emit != EmitStrategy::OnWindowUpdate {
            return Ok(());
        }
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
        })
    }

    /// Puts the window after the record (`[t + 1, t + 1 + d]`) with the aggregate of the
    /// records after it that an existing window holds, unchanged: the record is not in it.
    fn create_right_window<V: Data + Serialize>(
        &mut self,
        r: &Record<K, V>,
        (value, max_timestamp): (VA, i64),
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        let d = self.windows.time_difference_ms();
        let start = r.timestamp + 1;
        let store = opened(&mut self.store, &self.store_name)?;
        store.put_with_timestamp(&r.key, &value, start, max_timestamp)?;
        self.forward_update(
            r,
            Window::new(start, start + d),
            value,
            None,
            max_timestamp,
            ctx,
        )
    }

    /// A record at `t >= d`: scans the windows of its key from the latest start down
    /// (Kafka Streams' `processReverse`), then creates the windows it makes.
    fn process_record<V: Data + Serialize>(
        &mut self,
        r: &Record<K, V>,
        close: i64,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        let d = self.windows.time_difference_ms();
        let t = r.timestamp;
        let store = opened(&mut self.store, &self.store_name)?;
        let mut existing =
            store.fetch_time_range_with_timestamps(&r.key, (t - 2 * d).max(0), t + 1)?;
        existing.reverse();
        let mut scan = SlidingScan::new();
        for (start, value, max_timestamp) in existing {
            scan.starts.push(start);
            let end = start + d;
            if start == t + 1 {
                scan.right_created = true;
            } else if end > t {
                if scan.right.is_none() {
                    scan.right = Some((value.clone(), max_timestamp));
                }
                self.update_window(r, start, (Some(value), max_timestamp), close, ctx)?;
            } else if end == t {
                scan.left_created = true;
                self.update_window(r, start, (Some(value), max_timestamp), close, ctx)?;
                if max_timestamp < t {
                    scan.previous_timestamp = Some(max_timestamp);
                } else {
                    // A record at `t` made this window already: the windows around it exist.
                    return Ok(());
                }
            } else {
                scan.left = Some((Some(value), max_timestamp));
                scan.previous_timestamp = Some(max_timestamp);
                break;
            }
        }
        self.create_windows(r, scan, close, ctx)
    }

    /// Kafka Streams' `createWindows`: the previous record's right window, the record's left
    /// window, and the record's right window, each unless it exists.
    fn create_windows<V: Data + Serialize>(
        &mut self,
        r: &Record<K, V>,
        scan: SlidingScan<VA>,
        close: i64,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        let d = self.windows.time_difference_ms();
        let t = r.timestamp;
        if let Some(previous) = scan.previous_timestamp {
            let start = previous + 1;
            if !scan.starts.contains(&start) && start + d >= t {
                self.update_window(r, start, (self.fold.initial(), t), close, ctx)?;
            }
        }
        if !scan.left_created {
            let left = match (scan.previous_timestamp, scan.left) {
                (Some(previous), Some((aggregate, _))) if t - d <= previous => (aggregate, t),
                _ => (self.fold.initial(), t),
            };
            self.update_window(r, t - d, left, close, ctx)?;
        }
        if !scan.right_created
            && let Some(right) = scan.right
            && right.1 > t
        {
            self.create_right_window(r, right, ctx)?;
        }
        Ok(())
    }

    /// A record at `t < d` (Kafka Streams' `processEarly`): its left window would start before
    /// zero, so the records before `d` share the window `[0, d]`.
    fn process_early<V: Data + Serialize>(
        &mut self,
        r: &Record<K, V>,
        close: i64,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError>
    where
        F: Fold<K, V, VA>,
    {
        let t = r.timestamp;
        let store = opened(&mut self.store, &self.store_name)?;
        let existing = store.fetch_time_range_with_timestamps(&r.key, 0, t + 1)?;
        let mut combined: Option<(VA, i64)> = None;
        let mut right: Option<(VA, i64)> = None;
        let mut right_created = false;
        let mut starts = Vec::new();
        let mut previous_timestamp = None;
        for (start, value, max_timestamp) in existing {
            starts.push(start);
            if start == 0 {
                if max_timestamp < t {
                    previous_timestamp = Some(max_timestamp);
                }
                combined = Some((value, max_timestamp));
            } else if start <= t {
                right = Some((value.clone(), max_timestamp));
                self.update_window(r, start, (Some(value), max_timestamp), close, ctx)?;
            } else if start == t + 1 {
                right_created = true;
            } else {
                return Err(ProcessError::Store(StoreError::InvalidConfig {
                    store: self.store_name.clone(),
                    message: format!(
                        "a sliding window starting at {start} cannot precede a record at {t}"
                    ),
                }));
            }
        }
        if right.is_none()
            && let Some(window) = &combined
            && window.1 > t
        {
            right = Some(window.clone());
        }
        if !right_created
            && let Some(right) = right
            && right.1 > t
        {
            self.create_right_window(r, right, ctx)?;
        }
        if let Some(previous) = previous_timestamp
            && !starts.contains(&(previous + 1))
        {
            self.update_window(r, previous + 1, (self.fold.initial(), t), close, ctx)?;
        }
        let combined = match combined {
            Some((value, max_timestamp)) => (Some(value), max_timestamp),
            None => (self.fold.initial(), t),
        };
        self.update_window(r, 0, combined, close, ctx)
    }
}

impl<K, V, VA, KC, VC, F> Processor<K, V> for SlidingWindowAggregate<K, VA, KC, VC, F>
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
        // A restarted aggregation takes the windows its store's clock (at most one past the
        // latest record) had closed as emitted.
        self.emitter
            .resume(store.observed_stream_time() - 1 - self.windows.grace_ms());
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError> {
        // Kafka Streams' sliding aggregation skips null values for every fold, count too.
        if is_null(&r.key) || is_null(&r.value) {
            skip_null(ctx);
            return Ok(());
        }
        let d = self.windows.time_difference_ms();
        // Timestamps this close to the end of time have no room for their windows.
        if r.timestamp > i64::MAX / 2 {
            skip_expired(ctx, Window::new(r.timestamp, i64::MAX), i64::MAX);
            return Ok(());
        }
        // A restored store remembers its latest window start, at most one past the record
        // that wrote it (a right window): resuming from it, a replayed record that was late is
        // mostly late again (Kafka Streams resumes from nothing).
        let restored = opened(&mut self.store, &self.store_name)?.observed_stream_time() - 1;
        self.observed_stream_time = self.observed_stream_time.max(restored).max(r.timestamp);
        let close = self.observed_stream_time - self.windows.grace_ms();
        if r.timestamp + d < close {
            skip_expired(ctx, Window::new(r.timestamp, r.timestamp + d), close);
            return Ok(());
        }
        if r.timestamp < d {
            return self.process_early(&r, close, ctx);
        }
        if self.emit == EmitStrategy::OnWindowClose {
            // A sliding window is closed once `start + d < close`: every start up to
            // `close - d - 1`; those from `last close - d` on were not emitted yet. Emitted
            // before this record's writes, which move the store's retention clock.
            let store = opened(&mut self.store, &self.store_name)?;
            self.emitter
                .emit_closed(store, d + 1, close, |_, _| true, &r.headers, ctx)?;
        }
        self.process_record(&r, close, ctx)
    }
}

/// Session aggregation: merges each record with the sessions of its key within the inactivity
/// gap (Kafka Streams' `KStreamSessionWindowAggregate`).
pub(crate) struct SessionWindowAggregate<K, VA, KC, VC, F, M> {
    pub(crate) windows: SessionWindows,
    pub(crate) emit: EmitStrategy,
    pub(crate) nulls: NullValues,
    pub(crate) store_name: String,
    pub(crate) store: Option<SessionStore<K, VA, KC, VC>>,
    /// The store's place in the record cache, when cached: the cache then forwards updates.
    cache: Option<CacheHandle>,
    pub(crate) fold: Arc<F>,
    pub(crate) merger: Arc<M>,
    pub(crate) observed_stream_time: i64,
    /// Emit-on-close: the close time up to which sessions were emitted (-1: none yet).
    last_emit_close: i64,
}

impl<K, VA, KC, VC, F, M> SessionWindowAggregate<K, VA, KC, VC, F, M> {
    pub(crate) fn new(
        windows: SessionWindows,
        emit: EmitStrategy,
        nulls: NullValues,
        store_name: &str,
        fold: Arc<F>,
        merger: Arc<M>,
    ) -> Self {
        SessionWindowAggregate {
            windows,
            emit,
            nulls,
            store_name: store_name.to_owned(),
            store: None,
            cache: None,
            fold,
            merger,
            observed_stream_time: -1,
            last_emit_close: -1,
        }
    }
}

/// Turns a flushed entry of a session aggregation's cached store into the change it forwards,
/// stamped with the session's end, as Kafka Streams' `SessionCacheFlushListener` does.
fn session_change_decoder<K, VA, KC, VC>(
    store: SessionEntryDecoder<K, VA, KC, VC>,
) -> impl FnMut(FlushedEntry) -> Result<Record<Windowed<K>, Change<VA>>, ProcessError> + 'static
where
    K: 'static,
    VA: 'static,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    move |entry| {
        let session = store.session(&entry.key)?;
        let new = entry.new.as_deref().map(|b| store.value(b)).transpose()?;
        let old = entry.old.as_deref().map(|b| store.value(b)).transpose()?;
        let end = session.window.end;
        Ok(Record {
            key: session,
            value: Change { new, old },
            timestamp: end,
            headers: entry.meta.headers,
        })
    }
}

impl<K, V, VA, KC, VC, F, M> Processor<K, V> for SessionWindowAggregate<K, VA, KC, VC, F, M>
where
    K: Data + Serialize,
    V: Data + Serialize,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
    F: Fold<K, V, VA>,
    M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
{
    type KeyOut = Windowed<K>;
    type ValueOut = Change<VA>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let store: SessionStore<K, VA, KC, VC> = ctx.store(&self.store_name)?;
        // A restarted aggregation takes the sessions its store's clock had closed as emitted
        // (Kafka Streams commits its last close time with the offsets).
        let closed = store.observed_stream_time()
            - self.windows.grace_ms()
            - self.windows.inactivity_gap_ms();
        self.last_emit_close = if closed >= 0 { closed } else { -1 };
        if self.emit == EmitStrategy::OnWindowUpdate {
            self.cache = ctx.forward_cache_flushes(
                &self.store_name,
                session_change_decoder(store.entry_decoder()),
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
        let timestamp = r.timestamp;
        let gap = self.windows.inactivity_gap_ms();
        let store = opened(&mut self.store, &self.store_name)?;
        // A restored store remembers its latest session end, a record's timestamp: resuming
        // from it, a replayed record that was late is mostly late again (Kafka Streams resumes
        // from nothing).
        let restored = store.observed_stream_time();
        self.observed_stream_time = self.observed_stream_time.max(restored).max(timestamp);
        // A session can still grow until stream time is its gap and grace past its end.
        let close = self.observed_stream_time - self.windows.grace_ms() - gap;
        let store = opened(&mut self.store, &self.store_name)?;
        let merging = store.find_sessions(
            &r.key,
            timestamp.saturating_sub(gap),
            timestamp.saturating_add(gap),
        )?;
        let mut window = Window::new(timestamp, timestamp);
        // As Kafka Streams: the initial aggregate, merged with each session in turn (a
        // `reduce` has no initial aggregate: its first session's is the start).
        let mut aggregate: Option<VA> = self.fold.initial();
        for (session, value) in &merging {
            window.start = window.start.min(session.window.start);
            window.end = window.end.max(session.window.end);
            aggregate = Some(match aggregate {
                None => value.clone(),
                Some(merged) => (self.merger)(&r.key, merged, value.clone()),
            });
        }
        if window.end < close {
            skip_expired(ctx, window, close);
            if self.emit == EmitStrategy::OnWindowClose {
                self.emit_closed(close, &r.headers, ctx)?;
            }
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let merged = Windowed { key: r.key, window };
        // As Kafka Streams: unless the record made a session of its own, every session it
        // merged with is removed and forwarded as a tombstone (the one the merged session
        // replaces under the same window too), then the merged session is put anew.
        // Cached, the removals and the put stay in the cache, which forwards what is left of
        // them when it flushes (a session merged away before a flush is never forwarded).
        let cache = self.cache.clone();
        let cache = cache.as_ref();
        if window != Window::new(timestamp, timestamp) {
            for (session, old) in merging {
                if let Some(cache) = cache {
                    cache.stage(ctx.record_context().cloned(), r.headers.clone());
                }
                store.remove(&session)?;
                if self.emit == EmitStrategy::OnWindowUpdate && cache.is_none() {
                    let end = session.window.end;
                    ctx.forward(Record {
                        key: session,
                        value: Change {
                            new: None,
                            old: Some(old),
                        },
                        timestamp: end,
                        headers: r.headers.clone(),
                    })?;
                }
            }
        }
        if self.emit == EmitStrategy::OnWindowClose {
            // After the removals (a session this record merges is not final: the merged one
            // will be) and before the put, which moves the store's retention clock and could
            // hide sessions that closed with this record.
            self.emit_closed(close, &r.headers, ctx)?;
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let new = self.fold.fold(&merged.key, r.value, aggregate);
        if let Some(cache) = cache {
            cache.stage(ctx.record_context().cloned(), r.headers.clone());
            store.put(&merged, &new)?;
            // What the cache evicted of this store is forwarded now.
            cache.drain(ctx.env)?;
            return Ok(());
        }
        store.put(&merged, &new)?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            ctx.forward(Record {
                key: merged,
                value: Change {
                    new: Some(new),
                    old: None,
                },
                timestamp: window.end,
                headers: r.headers,
            })?;
        }
        Ok(())
    }
}

impl<K, VA, KC, VC, F, M> SessionWindowAggregate<K, VA, KC, VC, F, M>
where
    K: Data,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    /// Emit-on-close: forwards every session that ended before `close` since the last emission
    /// (ends in `[last close, close - 1]`), in end, then start order, each at its end, as
    /// Kafka Streams' `maybeForwardFinalResult` for sessions.
    fn emit_closed(
        &mut self,
        close: i64,
        headers: &Headers,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError> {
        if self.last_emit_close != -1 && self.last_emit_close >= close {
            return Ok(());
        }
        let upper = close - 1;
        let lower = self.last_emit_close.max(0);
        if upper < 0 || upper < lower {
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let mut closed: Vec<(Windowed<K>, VA)> = store
            .find_sessions_in_range(None, None, lower, upper)?
            .into_iter()
            .filter(|(session, _)| session.window.end <= upper)
            .collect();
        closed.sort_by_key(|(session, _)| (session.window.end, session.window.start));
        for (session, value) in closed {
            let end = session.window.end;
            ctx.forward(Record {
                key: session,
                value: Change {
                    new: Some(value),
                    old: None,
                },
                timestamp: end,
                headers: headers.clone(),
            })?;
        }
        self.last_emit_close = close;
        Ok(())
    }
}
