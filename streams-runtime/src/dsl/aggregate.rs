//! The stateful DSL operators as processors: aggregations into key-value stores, table sources,
//! and the table-to-stream conversion.
//!
//! With the record cache on (`statestore.cache.max.bytes` > 0 and a store that does not opt
//! out), an aggregation or table source does not forward each update: it writes the store (the
//! cache) only, and the cache forwards one `Change { new, old }` per key when it flushes the key,
//! on commit or eviction, as Kafka Streams' cache flush listeners do. `old` is then the value as
//! of the previous flush, and the record carries the timestamp stored with the value and the
//! headers of the key's last update: the record the uncached operator would have forwarded
//! for that update, with the changes in between merged away.

use std::sync::Arc;

use serde::Serialize;

use crate::codec::{Codec, is_null};
use crate::error::{ProcessError, StoreError};
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::Record;
use crate::state::{CacheHandle, EntryDecoder, FlushedEntry, KeyValueStore};

/// An update of a table row, as table nodes forward it: the new value (`None` = deleted) and
/// the value it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update; `None` for a deletion.
    pub new: Option<V>,
    /// The value before the update; `None` if the key was absent.
    pub old: Option<V>,
}

/// How an aggregation folds a record into the previous aggregate (`None` for a new key).
pub(crate) trait Fold<K, V, VA>: Send + Sync + 'static {
    fn fold(&self, key: &K, value: V, previous: Option<VA>) -> VA;
    /// The aggregate before any record (`None` for `reduce`, whose first value is its
    /// aggregate): where a session merge starts.
    fn initial(&self) -> Option<VA>;
}

/// `aggregate(initializer, aggregator)`; `count` is one with `0` and `+1`.
pub(crate) struct Aggregator<I, A> {
    pub(crate) initializer: I,
    pub(crate) aggregator: A,
}

impl<K, V, VA, I, A> Fold<K, V, VA> for Aggregator<I, A>
where
    I: Fn() -> VA + Send + Sync + 'static,
    A: Fn(&K, V, VA) -> VA + Send + Sync + 'static,
{
    fn fold(&self, key: &K, value: V, previous: Option<VA>) -> VA {
        let base = previous.unwrap_or_else(&self.initializer);
        (self.aggregator)(key, value, base)
    }

    fn initial(&self) -> Option<VA> {
        Some((self.initializer)())
    }
}

/// `count()`: one more per record.
pub(crate) struct Counter;

impl<K, V> Fold<K, V, u64> for Counter {
    fn fold(&self, _key: &K, _value: V, previous: Option<u64>) -> u64 {
        previous.unwrap_or(0) + 1
    }

    fn initial(&self) -> Option<u64> {
        Some(0)
    }
}

/// `reduce(reducer)`: the first value of a key is its aggregate.
pub(crate) struct Reducer<R>(pub(crate) R);

impl<K, V, R: Fn(V, V) -> V + Send + Sync + 'static> Fold<K, V, V> for Reducer<R> {
    fn fold(&self, _key: &K, value: V, previous: Option<V>) -> V {
        match previous {
            Some(aggregate) => (self.0)(aggregate, value),
            None => value,
        }
    }

    fn initial(&self) -> Option<V> {
        None
    }
}

/// Turns a flushed entry of a timestamped table store into the change its owner forwards,
/// stamped with the timestamp stored with the new value (for an aggregate, the largest one that
/// contributed), or, for a deletion, with the deleting record's.
fn change_decoder<K, V, KC, VC>(
    store: EntryDecoder<K, V, KC, VC>,
) -> impl FnMut(FlushedEntry) -> Result<Record<K, Change<V>>, ProcessError> + 'static
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    move |entry| timestamped_change(entry, |key| store.key(key), |value| store.entry(value))
}

/// The change a flushed entry of a timestamped store forwards, its key and values decoded by
/// `key` and `value`: stamped with the new value's timestamp, or for a deletion (or a value
/// kept without one), the timestamp of the entry's last update. Shared by the key-value and
/// window stores' cache listeners.
pub(super) fn timestamped_change<K, V>(
    entry: FlushedEntry,
    key: impl FnOnce(&[u8]) -> Result<K, StoreError>,
    value: impl Fn(&[u8]) -> Result<(V, i64), StoreError>,
) -> Result<Record<K, Change<V>>, ProcessError> {
    let key = key(&entry.key)?;
    let new = entry.new.as_deref().map(&value).transpose()?;
    let old = entry.old.as_deref().map(&value).transpose()?;
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

/// Skips a record a stateful operator cannot use (a null key, or a null value to aggregate):
/// counted in the task's `dropped_records`, logged at debug with where it came from.
pub(crate) fn skip_null<K, V>(ctx: &mut ProcessorContext<'_, K, V>) {
    match ctx.record_context() {
        Some(origin) => tracing::debug!(
            topic = %origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            "skipping a record with a null key or value"
        ),
        None => tracing::debug!("skipping a record with a null key or value"),
    }
    ctx.record_dropped();
}

pub(super) fn opened<'s, S>(
    store: &'s mut Option<S>,
    name: &str,
) -> Result<&'s mut S, ProcessError> {
    store
        .as_mut()
        .ok_or_else(|| ProcessError::Store(StoreError::NotFound(name.to_owned())))
}

/// Folds each record into its key's aggregate in a store and forwards the change, stamped with
/// the largest timestamp that contributed to the aggregate.
pub(crate) struct Aggregate<K, VA, KC, VC, F> {
    pub(crate) store_name: String,
    pub(crate) store: Option<KeyValueStore<K, VA, KC, VC>>,
    /// The store's place in the record cache, when cached: the cache then forwards.
    pub(crate) cache: Option<CacheHandle>,
    pub(crate) fold: Arc<F>,
}

impl<K, V, VA, KC, VC, F> Processor<K, V> for Aggregate<K, VA, KC, VC, F>
where
    K: Data + Serialize,
    V: Serialize,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
    F: Fold<K, V, VA>,
{
    type KeyOut = K;
    type ValueOut = Change<VA>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let store: KeyValueStore<K, VA, KC, VC> = ctx.store(&self.store_name)?;
        self.cache =
            ctx.forward_cache_flushes(&self.store_name, change_decoder(store.decoder()))?;
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<VA>>,
    ) -> Result<(), ProcessError> {
        // As Kafka Streams' `KStreamAggregate` and `KStreamReduce` (count included): a null
        // key or value has nothing to fold.
        if is_null(&r.key) || is_null(&r.value) {
            skip_null(ctx);
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let (old, old_timestamp) = match store.get_with_timestamp(&r.key)? {
            Some((value, timestamp)) => (Some(value), timestamp),
            None => (None, i64::MIN),
        };
        let new = self.fold.fold(&r.key, r.value, old.clone());
        let timestamp = r.timestamp.max(old_timestamp);
        if let Some(cache) = &self.cache {
            cache.stage(ctx.record_context().cloned(), r.headers);
            store.put_with_timestamp(&r.key, &new, timestamp)?;
            // What the cache evicted of this store (this write's evictions among it) is
            // forwarded now; the key's own change waits for the flush.
            cache.drain(ctx.env)?;
            return Ok(());
        }
        store.put_with_timestamp(&r.key, &new, timestamp)?;
        ctx.forward(Record {
            key: r.key,
            value: Change {
                new: Some(new),
                old,
            },
            timestamp,
            headers: r.headers,
        })
    }
}

/// A table's source: forwards each update as a change; when materialized, upserts it into
/// the store (deletes on a tombstone) and forwards the value it replaced too.
pub(crate) struct TableSource<K, V, KC, VC> {
    /// The store, when the table is materialized (as Kafka Streams, only when asked for).
    pub(crate) store_name: Option<String>,
    pub(crate) store: Option<KeyValueStore<K, V, KC, VC>>,
    /// The store's place in the record cache, when cached: the cache then forwards.
    pub(crate) cache: Option<CacheHandle>,
}

impl<K, V, KC, VC> Processor<K, Option<V>> for TableSource<K, V, KC, VC>
where
    K: Data + Serialize,
    V: Data,
    KC: Codec<K>,
    VC: Codec<V>,
{
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let Some(name) = &self.store_name else {
            return Ok(());
        };
        let store: KeyValueStore<K, V, KC, VC> = ctx.store(name)?;
        self.cache = ctx.forward_cache_flushes(name, change_decoder(store.decoder()))?;
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Option<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessError> {
        // As Kafka Streams' `KTableSource`: a null key cannot be a row.
        if is_null(&r.key) {
            skip_null(ctx);
            return Ok(());
        }
        let Some(name) = &self.store_name else {
            // Not materialized: Kafka Streams' `KTableSource` forwards the update alone.
            return ctx.forward(Record {
                key: r.key,
                value: Change {
                    new: r.value,
                    old: None,
                },
                timestamp: r.timestamp,
                headers: r.headers,
            });
        };
        let store = opened(&mut self.store, name)?;
        if let Some(cache) = &self.cache {
            cache.stage(ctx.record_context().cloned(), r.headers);
            match &r.value {
                Some(value) => store.put_with_timestamp(&r.key, value, r.timestamp)?,
                None => {
                    store.delete(&r.key)?;
                }
            }
            cache.drain(ctx.env)?;
            return Ok(());
        }
        let old = match &r.value {
            Some(value) => {
                let old = store.get(&r.key)?;
                store.put_with_timestamp(&r.key, value, r.timestamp)?;
                old
            }
            // A tombstone is forwarded even for an absent key, as Kafka Streams does.
            None => store.delete(&r.key)?,
        };
        ctx.forward(Record {
            key: r.key,
            value: Change { new: r.value, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// `KStream::to_table`: a table source fed by a stream, where a null value (`None`, `()`)
/// deletes the key, as a tombstone does on a table topic.
pub(crate) struct StreamToTable<K, V, KC, VC>(pub(crate) TableSource<K, V, KC, VC>);

impl<K, V, KC, VC> Processor<K, V> for StreamToTable<K, V, KC, VC>
where
    K: Data + Serialize,
    V: Data + Serialize,
    KC: Codec<K>,
    VC: Codec<V>,
{
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        self.0.init(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessError> {
        let value = (!is_null(&r.value)).then_some(r.value);
        self.0.process(
            Record {
                key: r.key,
                value,
                timestamp: r.timestamp,
                headers: r.headers,
            },
            ctx,
        )
    }
}

/// `KTable::to_stream`: each change becomes a record of its new value (`None` = tombstone).
pub(crate) struct ToStream;

impl<K: Data, V: Data> Processor<K, Change<V>> for ToStream {
    type KeyOut = K;
    type ValueOut = Option<V>;

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Option<V>>,
    ) -> Result<(), ProcessError> {
        let new = r.value.new;
        ctx.forward(Record {
            key: r.key,
            value: new,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
