//! Windowed grouped streams: [`TimeWindowedKStream`] (time and sliding windows) and
//! [`SessionWindowedKStream`], made by [`KGroupedStream::windowed_by`], and their aggregations
//! into tables keyed by [`Windowed<K>`].

use std::sync::Arc;

use serde::Serialize;

use super::aggregate::{Aggregator, Counter, Fold, Reducer};
use super::session_aggregate::SessionWindowAggregate;
use super::sliding_aggregate::SlidingWindowAggregate;
use super::window_aggregate::{NullValues, TimeWindowAggregate};
use super::windows::{EmitStrategy, SessionWindows, SlidingWindows, TimeWindows};
use super::{KGroupedStream, KTable};
use crate::codec::{Codec, StoreKeyCodec, StoreValueCodec, TopicCodec};
use crate::error::TopologyError;
use crate::processor::Data;
use crate::record::Windowed;
use crate::state::Materialized;
use crate::topology::GraphBuilder;

/// A window definition a grouped stream can be windowed by: [`TimeWindows`] and
/// [`SlidingWindows`] give a [`TimeWindowedKStream`], [`SessionWindows`] a
/// [`SessionWindowedKStream`].
pub trait WindowedBy<K, V> {
    /// The windowed stream.
    type Stream;
    /// Windows `grouped`.
    fn window(self, grouped: KGroupedStream<K, V>) -> Self::Stream;
}

impl<K, V> WindowedBy<K, V> for TimeWindows {
    type Stream = TimeWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> Self::Stream {
        TimeWindowedKStream {
            grouped,
            windows: WindowKind::Time(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K, V> WindowedBy<K, V> for SlidingWindows {
    type Stream = TimeWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> Self::Stream {
        TimeWindowedKStream {
            grouped,
            windows: WindowKind::Sliding(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K, V> WindowedBy<K, V> for SessionWindows {
    type Stream = SessionWindowedKStream<K, V>;
    fn window(self, grouped: KGroupedStream<K, V>) -> Self::Stream {
        SessionWindowedKStream {
            grouped,
            windows: self,
            emit: EmitStrategy::default(),
        }
    }
}

impl<K, V> KGroupedStream<K, V> {
    /// Aggregates per window as well as per key: by [`TimeWindows`] (tumbling or hopping),
    /// [`SlidingWindows`] or [`SessionWindows`]. The results are tables keyed by
    /// [`Windowed<K>`].
    ///
    /// Clicks per user per minute, with ten seconds for late clicks:
    ///
    /// ```
    /// # extern crate streams_runtime as streams;
    /// use std::time::Duration;
    /// use streams::prelude::*;
    ///
    /// let clicks = Topic::<String, String>::new("clicks");
    /// let per_minute = Topic::<Windowed<String>, Option<u64>, TimeWindowedCodec<60_000>>::with_codecs("per-minute");
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream(&clicks)
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10))?)
    ///     .count()
    ///     .to_stream()
    ///     .to(&per_minute);
    /// let mut driver = TopologyTestDriver::new(builder.build()?)?;
    /// driver.pipe_at(&clicks, "ann".into(), "/".into(), 1_000)?;
    /// driver.pipe_at(&clicks, "ann".into(), "/a".into(), 59_000)?;
    /// driver.pipe_at(&clicks, "ann".into(), "/b".into(), 61_000)?;
    /// let counts: Vec<(Windowed<String>, Option<u64>)> = driver.read_key_values(&per_minute)?;
    /// assert_eq!(counts, vec![
    ///     (Windowed::new("ann".into(), 0, 60_000), Some(1)),
    ///     (Windowed::new("ann".into(), 0, 60_000), Some(2)),
    ///     (Windowed::new("ann".into(), 60_000, 120_000), Some(1)),
    /// ]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn windowed_by<W: WindowedBy<K, V>>(self, windows: W) -> W::Stream {
        windows.window(self)
    }
}

/// Records an error when a chosen retention is shorter than `required_ms`, as Kafka Streams
/// rejects it when it builds the store: windows would be forgotten while they still accept
/// records.
fn check_retention(
    graph: &mut GraphBuilder,
    store: &str,
    chosen: Option<std::time::Duration>,
    required_ms: i64,
    what: &'static str,
) {
    let Some(chosen) = chosen else { return };
    let retention_ms = i64::try_from(chosen.as_millis()).unwrap_or(i64::MAX);
    if retention_ms < required_ms {
        graph.record_error(TopologyError::RetentionTooShort {
            store: store.to_owned(),
            retention_ms,
            what,
            required_ms,
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Time(TimeWindows),
    Sliding(SlidingWindows),
}

impl WindowKind {
    /// The window store's window size: a sliding window is as long as its time difference.
    fn size_ms(self) -> i64 {
        match self {
            WindowKind::Time(windows) => windows.size_ms(),
            WindowKind::Sliding(windows) => windows.time_difference_ms(),
        }
    }

    fn grace_ms(self) -> i64 {
        match self {
            WindowKind::Time(windows) => windows.grace_ms(),
            WindowKind::Sliding(windows) => windows.grace_ms(),
        }
    }

    /// What the default retention covers, for the error of a shorter one.
    fn retention_rule(self) -> &'static str {
        match self {
            WindowKind::Time(_) => "its window size plus the grace period",
            WindowKind::Sliding(_) => "2 * time difference plus the grace period",
        }
    }

    /// The store's default retention: long enough for a window to close (Kafka Streams'
    /// `size + grace`; a sliding window store also holds the windows a late record still
    /// reaches, `2 * difference + grace` back).
    fn default_retention_ms(self) -> i64 {
        match self {
            WindowKind::Time(windows) => windows.size_ms() + windows.grace_ms(),
            WindowKind::Sliding(windows) => 2 * windows.time_difference_ms() + windows.grace_ms(),
        }
    }
}

/// A grouped stream aggregated per time window (tumbling, hopping or sliding): `count`,
/// `reduce`, `aggregate`, each into a table keyed by [`Windowed<K>`]. By default every update
/// of a window is forwarded; [`emit_strategy`](Self::emit_strategy) with
/// [`EmitStrategy::on_window_close`] forwards each window once, when it closes.
#[must_use = "a windowed stream does nothing until it is aggregated (`count`, `reduce`, `aggregate`)"]
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: WindowKind,
    emit: EmitStrategy,
}

impl<K, V> Clone for TimeWindowedKStream<K, V> {
    fn clone(&self) -> Self {
        TimeWindowedKStream {
            grouped: self.grouped.clone(),
            windows: self.windows,
            emit: self.emit,
        }
    }
}

impl<K, V> std::fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish()
    }
}

impl<K, V> TimeWindowedKStream<K, V>
where
    K: Data + Serialize,
    V: Data + Serialize,
    TopicCodec: Codec<K> + Codec<V>,
{
    /// When results are forwarded: on every update (the default) or once per window, when it
    /// closes.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per key and window. Records with a null value count; a null key is
    /// skipped (and counted in `dropped_records`), as in Kafka Streams.
    pub fn count(self) -> KTable<Windowed<K>, u64>
    where
        StoreKeyCodec: Codec<K>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            Materialized::<K, u64>::unnamed(),
            Counter,
            NullValues::Fold,
        )
    }

    /// [`count`](Self::count) into the given window store.
    pub fn count_with<KC, VC>(
        self,
        materialized: Materialized<K, u64, KC, VC>,
    ) -> KTable<Windowed<K>, u64>
    where
        KC: Codec<K>,
        VC: Codec<u64>,
    {
        // As Kafka Streams' `TimeWindowedKStreamImpl#count(Materialized)`: an unnamed store
        // takes an index first (sliding windows' does not).
        if materialized.name().is_none() && matches!(self.windows, WindowKind::Time(_)) {
            self.grouped.graph().borrow_mut().burn_index();
        }
        self.fold("KSTREAM-AGGREGATE", materialized, Counter, NullValues::Fold)
    }

    /// Combines the values of each key and window: the first is the aggregate, then
    /// `reducer(aggregate, value)`. Null values are skipped.
    pub fn reduce<F>(self, reducer: F) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.reduce_with(reducer, Materialized::<K, V>::unnamed())
    }

    /// [`reduce`](Self::reduce) into the given window store.
    pub fn reduce_with<F, KC, VC>(
        self,
        reducer: F,
        materialized: Materialized<K, V, KC, VC>,
    ) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        self.fold(
            "KSTREAM-REDUCE",
            materialized,
            Reducer(reducer),
            NullValues::Skip,
        )
    }

    /// Folds the values of each key and window into an aggregate, starting from
    /// `initializer()`. Null values are skipped.
    pub fn aggregate<VA, I, A>(self, initializer: I, aggregator: A) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<VA>,
    {
        self.aggregate_with(initializer, aggregator, Materialized::<K, VA>::unnamed())
    }

    /// [`aggregate`](Self::aggregate) into the given window store.
    pub fn aggregate_with<VA, I, A, KC, VC>(
        self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA, KC, VC>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<VA>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            materialized,
            Aggregator {
                initializer,
                aggregator,
            },
            NullValues::Skip,
        )
    }

    fn fold<VA, KC, VC, F>(
        self,
        prefix: &str,
        materialized: Materialized<K, VA, KC, VC>,
        fold: F,
        nulls: NullValues,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        KC: Codec<K>,
        VC: Codec<VA>,
        F: Fold<K, V, VA>,
    {
        let (windows, emit) = (self.windows, self.emit);
        let fold = Arc::new(fold);
        let store_prefix = format!("{prefix}-STATE-STORE");
        // A store forgets a window once its retention has passed since the window's start,
        // which for the default retention is just when the window closes: emit-on-close reads
        // closed windows before each record's writes move that clock, and keeps them one window
        // longer besides.
        let extra_retention = match (emit, windows) {
            (EmitStrategy::OnWindowClose, WindowKind::Time(time)) => time.size_ms(),
            _ => 0,
        };
        // The record cache merges a window's updates for the time windows' emit-on-update only:
        // emit-on-close reads its results from the store (Kafka Streams attaches no cache
        // listener then). Sliding windows are not cached here, unlike Kafka Streams (which
        // caches them on update): their aggregation does not forward through a cache yet.
        let cached = emit == EmitStrategy::OnWindowUpdate && matches!(windows, WindowKind::Time(_));
        let chosen_retention = materialized.retention();
        let spec = |g: &mut GraphBuilder| {
            let spec = materialized.into_window_spec(
                || g.generate_name(&store_prefix),
                windows.size_ms(),
                windows.default_retention_ms(),
                extra_retention,
            );
            check_retention(
                g,
                spec.name(),
                chosen_retention,
                windows.default_retention_ms(),
                windows.retention_rule(),
            );
            if cached {
                spec
            } else {
                spec.with_caching_disabled()
            }
        };
        let (graph, node, store) = match windows {
            WindowKind::Time(time) => self.grouped.add_aggregation(prefix, spec, move |store| {
                TimeWindowAggregate::<K, VA, KC, VC, F>::new(
                    time,
                    emit,
                    nulls,
                    store,
                    Arc::clone(&fold),
                )
            }),
            WindowKind::Sliding(sliding) => {
                self.grouped.add_aggregation(prefix, spec, move |store| {
                    SlidingWindowAggregate::<K, VA, KC, VC, F>::new(
                        sliding,
                        emit,
                        store,
                        Arc::clone(&fold),
                    )
                })
            }
        };
        KTable::new(graph, node, Some(store)).with_window_close(windows.grace_ms())
    }
}

/// A grouped stream aggregated per session of activity: `count`, `reduce`, `aggregate` (with a
/// merger for sessions a record bridges), each into a table keyed by [`Windowed<K>`] whose
/// window is the session `[first record, last record]`.
///
/// When a record merges sessions, each merged session is forwarded as a deletion (its key with
/// a `None` value), then the merged session with its aggregate.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let clicks = Topic::<String, String>::new("clicks");
/// let sessions = Topic::<Windowed<String>, Option<u64>, SessionWindowedCodec>::with_codecs("sessions");
/// let builder = StreamsBuilder::new();
/// let gap = Duration::from_millis(10);
/// builder
///     .stream(&clicks)
///     .group_by_key()
///     .windowed_by(SessionWindows::of_inactivity_gap_and_grace(gap, Duration::from_secs(60))?)
///     .count()
///     .to_stream()
///     .to(&sessions);
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
/// driver.pipe_at(&clicks, "ann".into(), "/".into(), 0)?;
/// driver.pipe_at(&clicks, "ann".into(), "/a".into(), 20)?;
/// driver.pipe_at(&clicks, "ann".into(), "/b".into(), 10)?; // bridges the two sessions
/// let updates: Vec<(Windowed<String>, Option<u64>)> = driver.read_key_values(&sessions)?;
/// assert_eq!(updates, vec![
///     (Windowed::new("ann".into(), 0, 0), Some(1)),
///     (Windowed::new("ann".into(), 20, 20), Some(1)),
///     (Windowed::new("ann".into(), 0, 0), None),
///     (Windowed::new("ann".into(), 20, 20), None),
///     (Windowed::new("ann".into(), 0, 20), Some(3)),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a session-windowed stream does nothing until it is aggregated (`count`, `reduce`, `aggregate`)"]
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K, V> Clone for SessionWindowedKStream<K, V> {
    fn clone(&self) -> Self {
        SessionWindowedKStream {
            grouped: self.grouped.clone(),
            windows: self.windows,
            emit: self.emit,
        }
    }
}

impl<K, V> std::fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .field("emit", &self.emit)
            .finish()
    }
}

impl<K, V> SessionWindowedKStream<K, V>
where
    K: Data + Serialize,
    V: Data + Serialize,
    TopicCodec: Codec<K> + Codec<V>,
{
    /// When results are forwarded: on every update (the default) or once per session, when it
    /// closes (its end plus the inactivity gap and the grace period).
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    /// Counts records per key and session.
    pub fn count(self) -> KTable<Windowed<K>, u64>
    where
        StoreKeyCodec: Codec<K>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            Materialized::<K, u64>::unnamed(),
            Counter,
            |_: &K, a: u64, b: u64| a + b,
            NullValues::Fold,
        )
    }

    /// [`count`](Self::count) into the given session store.
    pub fn count_with<KC, VC>(
        self,
        materialized: Materialized<K, u64, KC, VC>,
    ) -> KTable<Windowed<K>, u64>
    where
        KC: Codec<K>,
        VC: Codec<u64>,
    {
        // As Kafka Streams' `SessionWindowedKStreamImpl#count(Materialized)`: an unnamed store
        // takes an index first.
        if materialized.name().is_none() {
            self.grouped.graph().borrow_mut().burn_index();
        }
        self.fold(
            "KSTREAM-AGGREGATE",
            materialized,
            Counter,
            |_: &K, a: u64, b: u64| a + b,
            NullValues::Fold,
        )
    }

    /// Combines the values of each key and session with `reducer`; merging sessions combines
    /// their aggregates with it too.
    pub fn reduce<F>(self, reducer: F) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<V>,
    {
        self.reduce_with(reducer, Materialized::<K, V>::unnamed())
    }

    /// [`reduce`](Self::reduce) into the given session store.
    pub fn reduce_with<F, KC, VC>(
        self,
        reducer: F,
        materialized: Materialized<K, V, KC, VC>,
    ) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<V>,
    {
        let reducer = Arc::new(reducer);
        let merge = Arc::clone(&reducer);
        // As Kafka Streams: merging two sessions reduces the later one into the earlier.
        self.fold(
            "KSTREAM-REDUCE",
            materialized,
            Reducer(move |a, b| reducer(a, b)),
            move |_: &K, a: V, b: V| merge(a, b),
            NullValues::Skip,
        )
    }

    /// Folds the values of each key and session into an aggregate, starting from
    /// `initializer()`; `merger(key, a, b)` combines the aggregates of two sessions a record
    /// bridges (a session aggregation without a merger does not compile).
    pub fn aggregate<VA, I, A, M>(
        self,
        initializer: I,
        aggregator: A,
        merger: M,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        StoreKeyCodec: Codec<K>,
        StoreValueCodec: Codec<VA>,
    {
        self.aggregate_with(
            initializer,
            aggregator,
            merger,
            Materialized::<K, VA>::unnamed(),
        )
    }

    /// [`aggregate`](Self::aggregate) into the given session store.
    pub fn aggregate_with<VA, I, A, M, KC, VC>(
        self,
        initializer: I,
        aggregator: A,
        merger: M,
        materialized: Materialized<K, VA, KC, VC>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        KC: Codec<K>,
        VC: Codec<VA>,
    {
        self.fold(
            "KSTREAM-AGGREGATE",
            materialized,
            Aggregator {
                initializer,
                aggregator,
            },
            merger,
            NullValues::Skip,
        )
    }

    fn fold<VA, KC, VC, F, M>(
        self,
        prefix: &str,
        materialized: Materialized<K, VA, KC, VC>,
        fold: F,
        merger: M,
        nulls: NullValues,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Data,
        KC: Codec<K>,
        VC: Codec<VA>,
        F: Fold<K, V, VA>,
        M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    {
        let (windows, emit) = (self.windows, self.emit);
        let (fold, merger) = (Arc::new(fold), Arc::new(merger));
        let store_prefix = format!("{prefix}-STATE-STORE");
        // Kafka Streams keeps sessions for the gap plus the grace period after they end.
        let retention = windows.inactivity_gap_ms() + windows.grace_ms();
        let chosen_retention = materialized.retention();
        let (graph, node, store) = self.grouped.add_aggregation(
            prefix,
            |g| {
                let spec = materialized.into_session_spec(
                    || g.generate_name(&store_prefix),
                    retention,
                    // Emitting closed sessions from the store needs them kept past their close.
                    if emit == EmitStrategy::OnWindowClose {
                        retention
                    } else {
                        0
                    },
                );
                check_retention(
                    g,
                    spec.name(),
                    chosen_retention,
                    retention,
                    "the session inactivity gap plus the grace period",
                );
                // As Kafka Streams' session materializer: emit-on-close is not cached.
                if emit == EmitStrategy::OnWindowClose {
                    spec.with_caching_disabled()
                } else {
                    spec
                }
            },
            move |store| {
                SessionWindowAggregate::<K, VA, KC, VC, F, M>::new(
                    windows,
                    emit,
                    nulls,
                    store,
                    Arc::clone(&fold),
                    Arc::clone(&merger),
                )
            },
        );
        // A session closes its gap and grace after its last record, as Kafka Streams'
        // suppression reckons it.
        KTable::new(graph, node, Some(store)).with_window_close(retention)
    }
}
