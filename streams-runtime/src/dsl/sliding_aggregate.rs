//! Sliding-window aggregation as a processor (Kafka Streams' `KStreamSlidingWindowAggregate`);
//! the rules it shares with the other windowed aggregations are in `window_aggregate`.

use std::sync::Arc;

use serde::Serialize;

use super::aggregate::{Change, Fold, opened, skip_null};
use super::window_aggregate::{FinalEmitter, skip_expired};
use super::windows::{EmitStrategy, SlidingWindows};
use crate::codec::{Codec, is_null};
use crate::error::{ProcessError, StoreError};
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::{Record, Window, Windowed};
use crate::state::WindowStore;

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
