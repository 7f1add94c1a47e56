//! `KTable::suppress`: holds back a table's updates and forwards only the last one per key,
//! when its window closes ([`Suppressed::until_window_closes`], "emit final") or when it is old
//! enough ([`Suppressed::until_time_limit`]), as Kafka Streams' `KTableSuppressProcessor`.
//!
//! The buffer is kept in memory, ordered by buffer time, and mirrored in a change-logged
//! key-value store of its own, so a restarted task reloads it from its changelog: no buffered
//! result is lost after a crash, and under exactly-once a record's emission and its removal
//! from the buffer commit together, so none is emitted twice.
//!
//! Like Kafka Streams' suppress node, the buffer keeps its own stream time: the largest
//! timestamp of the updates it has received.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use super::KTable;
use super::aggregate::Change;
use crate::codec::{Codec, Encoded, StoreKeyCodec, StoreValueCodec};
use crate::error::{ProcessError, StoreError, TopologyError};
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::{Headers, Record, Windowed};
use crate::state::{KeyValueStore, StateStore};
use crate::topology::NodeKind;
use crate::topology::node::ProcessorFactory;

/// What a full buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Emits its oldest records early, until it is within bounds again.
    EmitEarly,
    /// Stops the task with [`ProcessError::BufferFull`].
    ShutDown,
}

/// Marks a [`BufferConfig`] that never emits early: what emit-final
/// ([`Suppressed::until_window_closes`]) takes, since an early result would not be final.
#[derive(Debug, Clone, Copy)]
pub enum Strict {}

/// Marks a [`BufferConfig`] that emits its oldest records early when it is full.
#[derive(Debug, Clone, Copy)]
pub enum Eager {}

/// How much a suppression buffer holds and what it does when that is exceeded (Kafka
/// Streams' `BufferConfig`). `S` is [`Strict`] when it never emits early, [`Eager`] when it
/// does.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let unbounded = BufferConfig::unbounded();
/// let small = BufferConfig::max_records(1_000).with_max_bytes(1 << 20);
/// let strict = BufferConfig::max_records(1_000).shut_down_when_full();
/// # let _ = (unbounded, small, strict);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferConfig<S> {
    max_records: u64,
    max_bytes: u64,
    when_full: WhenFull,
    strictness: PhantomData<S>,
}

impl BufferConfig<Strict> {
    /// No bounds (memory is the limit); never emits early.
    pub fn unbounded() -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: u64::MAX,
            when_full: WhenFull::ShutDown,
            strictness: PhantomData,
        }
    }
}

impl BufferConfig<Eager> {
    /// At most `records` records; emits the oldest early when full (unless told to shut down).
    pub fn max_records(records: u64) -> Self {
        BufferConfig {
            max_records: records,
            max_bytes: u64::MAX,
            when_full: WhenFull::EmitEarly,
            strictness: PhantomData,
        }
    }

    /// At most `bytes` bytes of encoded keys and values; emits the oldest early when full
    /// (unless told to shut down).
    pub fn max_bytes(bytes: u64) -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: bytes,
            when_full: WhenFull::EmitEarly,
            strictness: PhantomData,
        }
    }
}

impl<S> BufferConfig<S> {
    /// The same buffer, also bounded to `records` records.
    pub fn with_max_records(mut self, records: u64) -> Self {
        self.max_records = records;
        self
    }

    /// The same buffer, also bounded to `bytes` bytes.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// When full, stop the task with a clear error rather than emit early.
    pub fn shut_down_when_full(self) -> BufferConfig<Strict> {
        BufferConfig {
            max_records: self.max_records,
            max_bytes: self.max_bytes,
            when_full: WhenFull::ShutDown,
            strictness: PhantomData,
        }
    }

    /// When full, emit the oldest records early, until within bounds.
    pub fn emit_early_when_full(self) -> BufferConfig<Eager> {
        BufferConfig {
            max_records: self.max_records,
            max_bytes: self.max_bytes,
            when_full: WhenFull::EmitEarly,
            strictness: PhantomData,
        }
    }
}

/// When a buffered update is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// When the update's window closes: buffer time is the window's end; tombstones are
    /// dropped (a window that never produced a result has nothing final to say).
    WindowCloses,
    /// When stream time is `ms` past the timestamp of the key's first buffered update (a
    /// later update replaces the value, not the wait).
    TimeLimit(i64),
}

/// How a table's updates are suppressed (Kafka Streams' `Suppressed`).
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let views = Topic::<String, String>::new("views");
/// let finals = Topic::<Windowed<String>, Option<u64>, TimeWindowedCodec<10>>::with_codecs("final-counts");
/// let builder = StreamsBuilder::new();
/// builder
///     .stream(&views)
///     .group_by_key()
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(10))?)
///     .count()
///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
///     .to_stream()
///     .to(&finals);
/// let mut driver = TopologyTestDriver::new(builder.build()?)?;
/// for t in [1, 4, 12] {
///     driver.pipe_at(&views, "home".into(), String::new(), t)?;
/// }
/// // The record at 12 closed [0, 10): its one final result is out; [10, 20) is still open.
/// let finals: Vec<(Windowed<String>, Option<u64>)> = driver.read_key_values(&finals)?;
/// assert_eq!(finals, vec![(Windowed::new("home".into(), 0, 10), Some(2))]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Suppressed<K> {
    until: Until,
    /// The buffer time of an update of a key at a timestamp: the window's end for emit-final,
    /// the timestamp for a time limit.
    buffer_time: fn(&K, i64) -> i64,
    max_records: u64,
    max_bytes: u64,
    when_full: WhenFull,
    name: Option<String>,
    key: PhantomData<fn() -> K>,
}

impl<K> Suppressed<Windowed<K>> {
    /// One final result per window: each window's last update, forwarded once stream time
    /// reaches the window's end plus its grace period. Only for the table of a windowed
    /// aggregation, and only with a buffer that never emits early.
    pub fn until_window_closes(buffer: BufferConfig<Strict>) -> Self {
        let mut suppressed = Suppressed::new(
            Until::WindowCloses,
            buffer.max_records,
            buffer.max_bytes,
            buffer.when_full,
        );
        suppressed.buffer_time = |key: &Windowed<K>, _| key.window.end;
        suppressed
    }
}

impl<K> Suppressed<K> {
    fn new(until: Until, max_records: u64, max_bytes: u64, when_full: WhenFull) -> Self {
        Suppressed {
            until,
            buffer_time: |_, timestamp| timestamp,
            max_records,
            max_bytes,
            when_full,
            name: None,
            key: PhantomData,
        }
    }

    /// Each key's latest update once stream time is `limit` past the key's first update since
    /// its last emission (later updates replace the value, not the wait, as in Kafka
    /// Streams): a rate limit on a table's updates.
    pub fn until_time_limit<S>(limit: Duration, buffer: BufferConfig<S>) -> Self {
        let limit_ms = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
        Suppressed::new(
            Until::TimeLimit(limit_ms),
            buffer.max_records,
            buffer.max_bytes,
            buffer.when_full,
        )
    }

    /// Names the suppress node; its buffer's store is then `<name>-store`.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<K, V> KTable<K, V>
where
    K: Data,
    V: Data,
    StoreKeyCodec: Codec<K>,
    StoreValueCodec: Codec<V>,
{
    /// Holds back the table's updates as `suppressed` says: with
    /// [`Suppressed::until_window_closes`], one final result per window of a windowed
    /// aggregation; with [`Suppressed::until_time_limit`], each key's latest update once it is
    /// old enough.
    pub fn suppress(self, suppressed: Suppressed<K>) -> KTable<K, V> {
        let graph = Rc::clone(self.graph());
        let mut g = graph.borrow_mut();
        // As Kafka Streams: a named suppression takes no index, for its node or its store.
        let name = match &suppressed.name {
            Some(chosen) => chosen.clone(),
            None => g.generate_name("KTABLE-SUPPRESS"),
        };
        let store_name = match &suppressed.name {
            Some(chosen) => format!("{chosen}-store"),
            None => g.generate_name("KTABLE-SUPPRESS-STATE-STORE"),
        };
        let close_after_end = match suppressed.until {
            Until::WindowCloses => match self.window_close_ms() {
                Some(ms) => ms,
                None => {
                    g.record_error(TopologyError::SuppressWithoutWindows { node: name.clone() });
                    0
                }
            },
            Until::TimeLimit(ms) => ms,
        };
        // Cached (when the thread has a cache): the buffer's writes and removals of a key merge
        // until a commit, which logs what is left, as Kafka Streams' buffer logs its dirty keys
        // at each commit; the commit still covers exactly what was emitted and is buffered.
        let spec = <KeyValueStore<Vec<u8>, Vec<u8>> as StateStore>::spec(&store_name)
            .with_caching_enabled();
        let supplier_store = store_name.clone();
        let settings = suppressed.clone();
        let node = g.add_node(
            name,
            NodeKind::Processor,
            &[self.node()],
            std::sync::Arc::new(ProcessorFactory::<K, Change<V>, _>::new(
                move || Suppress::<K, V> {
                    until: settings.until,
                    buffer_time: settings.buffer_time,
                    close_after_end,
                    max_records: settings.max_records,
                    max_bytes: settings.max_bytes,
                    when_full: settings.when_full,
                    store_name: supplier_store.clone(),
                    store: None,
                    buffer: None,
                    stream_time: -1,
                    types: PhantomData,
                },
            )),
        );
        g.connect_store(node, spec);
        drop(g);
        let table = KTable::new(graph, node, None);
        match self.window_close_ms() {
            Some(ms) => table.with_window_close(ms),
            None => table,
        }
    }
}

/// One buffered update: its place in the buffer (the buffer time of the key's first update
/// since it entered), and the key's latest change with that update's timestamp and headers.
#[derive(Debug, Clone)]
struct Buffered {
    time: i64,
    timestamp: i64,
    new: Option<Vec<u8>>,
    old: Option<Vec<u8>>,
    headers: Headers,
}

impl Buffered {
    /// The store value: `[time][timestamp]`, then the new and old values and the headers,
    /// each length-prefixed (a length of `u32::MAX` is an absent value).
    fn encode(&self) -> Vec<u8> {
        fn bytes(out: &mut Vec<u8>, value: Option<&[u8]>) {
            match value {
                Some(value) => {
                    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
                    out.extend_from_slice(value);
                }
                None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        bytes(&mut out, self.new.as_deref());
        bytes(&mut out, self.old.as_deref());
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for header in self.headers.iter() {
            bytes(&mut out, Some(header.key.as_bytes()));
            bytes(&mut out, header.value.as_deref());
        }
        out
    }

    fn decode(mut input: &[u8]) -> Option<Self> {
        fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = input.split_at_checked(n)?;
            *input = rest;
            Some(head)
        }
        fn u32_of(input: &mut &[u8]) -> Option<u32> {
            Some(u32::from_be_bytes(take(input, 4)?.try_into().ok()?))
        }
        fn i64_of(input: &mut &[u8]) -> Option<i64> {
            Some(i64::from_be_bytes(take(input, 8)?.try_into().ok()?))
        }
        fn bytes(input: &mut &[u8]) -> Option<Option<Vec<u8>>> {
            match u32_of(input)? {
                u32::MAX => Some(None),
                len => Some(Some(take(input, len as usize)?.to_vec())),
            }
        }
        let time = i64_of(&mut input)?;
        let timestamp = i64_of(&mut input)?;
        let new = bytes(&mut input)?;
        let old = bytes(&mut input)?;
        let mut headers = Headers::new();
        for _ in 0..u32_of(&mut input)? {
            let key = String::from_utf8(bytes(&mut input)??).ok()?;
            headers.add(key, bytes(&mut input)?);
        }
        input.is_empty().then_some(Buffered {
            time,
            timestamp,
            new,
            old,
            headers,
        })
    }
}

/// The buffer in memory: entries by key, and their order by (buffer time, key).
#[derive(Debug, Default)]
struct Buffer {
    entries: HashMap<Vec<u8>, Buffered>,
    order: BTreeSet<(i64, Vec<u8>)>,
    bytes: u64,
}

impl Buffer {
    fn size_of(key: &[u8], entry: &Buffered) -> u64 {
        let value = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        (key.len() + value(&entry.new) + value(&entry.old) + 16) as u64
    }

    fn insert(&mut self, key: Vec<u8>, entry: Buffered) {
        if let Some(replaced) = self.entries.remove(&key) {
            self.order.remove(&(replaced.time, key.clone()));
            self.bytes -= Self::size_of(&key, &replaced);
        }
        self.bytes += Self::size_of(&key, &entry);
        self.order.insert((entry.time, key.clone()));
        self.entries.insert(key, entry);
    }

    fn pop_first(&mut self) -> Option<(Vec<u8>, Buffered)> {
        let (_, key) = self.order.pop_first()?;
        let entry = self.entries.remove(&key)?;
        self.bytes -= Self::size_of(&key, &entry);
        Some((key, entry))
    }

    fn min_time(&self) -> Option<i64> {
        self.order.first().map(|(time, _)| *time)
    }
}

/// The suppress node (Kafka Streams' `KTableSuppressProcessor`).
struct Suppress<K, V> {
    until: Until,
    buffer_time: fn(&K, i64) -> i64,
    /// How long after its buffer time an entry is forwarded: the window's grace (plus the
    /// gap, for sessions) or the time limit.
    close_after_end: i64,
    max_records: u64,
    max_bytes: u64,
    when_full: WhenFull,
    store_name: String,
    store: Option<KeyValueStore<Vec<u8>, Vec<u8>>>,
    /// Loaded from the store on the first record, after the task restored it.
    buffer: Option<Buffer>,
    stream_time: i64,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Suppress<K, V>
where
    K: Data,
    V: Data,
    StoreKeyCodec: Codec<K>,
    StoreValueCodec: Codec<V>,
{
    fn store_error(&self, message: impl Into<String>) -> ProcessError {
        ProcessError::Store(StoreError::InvalidConfig {
            store: self.store_name.clone(),
            message: message.into(),
        })
    }

    fn store(&mut self) -> Result<&mut KeyValueStore<Vec<u8>, Vec<u8>>, ProcessError> {
        let name = &self.store_name;
        self.store
            .as_mut()
            .ok_or_else(|| ProcessError::Store(StoreError::NotFound(name.clone())))
    }

    /// The buffer, reloaded from its store (restored from the changelog) the first time.
    fn buffer(&mut self) -> Result<&mut Buffer, ProcessError> {
        if self.buffer.is_none() {
            let mut buffer = Buffer::default();
            for (key, value) in self.store()?.all()? {
                let entry = Buffered::decode(&value)
                    .ok_or_else(|| self.store_error("a suppression buffer entry is damaged"))?;
                // The buffered records' timestamps are no later than the stream time they
                // were buffered at: resume from the latest.
                self.stream_time = self.stream_time.max(entry.timestamp);
                buffer.insert(key, entry);
            }
            self.buffer = Some(buffer);
        }
        Ok(self.buffer.get_or_insert_with(Buffer::default))
    }

    fn encode<T, C: Codec<T>>(&self, value: &T) -> Result<Option<Vec<u8>>, ProcessError> {
        let mut out = Vec::new();
        let encoded = C::encode(value, &mut out).map_err(|e| {
            ProcessError::Store(StoreError::Codec {
                store: self.store_name.clone(),
                source: e,
            })
        })?;
        Ok((encoded == Encoded::Bytes).then_some(out))
    }

    fn decode<T, C: Codec<T>>(&self, bytes: &[u8]) -> Result<T, ProcessError> {
        C::decode(Some(bytes)).map_err(|e| {
            ProcessError::Store(StoreError::Codec {
                store: self.store_name.clone(),
                source: e,
            })
        })
    }

    /// Forwards and removes the oldest entry.
    fn emit_first(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<bool, ProcessError> {
        let Some((key, entry)) = self.buffer()?.pop_first() else {
            return Ok(false);
        };
        self.store()?.delete(&key)?;
        // Emit-final drops tombstones: a window with no result has nothing final to say.
        if entry.new.is_none() && self.until == Until::WindowCloses {
            return Ok(true);
        }
        let decoded_key = self.decode::<K, StoreKeyCodec>(&key)?;
        let new = entry
            .new
            .as_deref()
            .map(|bytes| self.decode::<V, StoreValueCodec>(bytes))
            .transpose()?;
        let old = entry
            .old
            .as_deref()
            .map(|bytes| self.decode::<V, StoreValueCodec>(bytes))
            .transpose()?;
        ctx.forward(Record {
            key: decoded_key,
            value: Change { new, old },
            timestamp: entry.timestamp,
            headers: entry.headers,
        })?;
        Ok(true)
    }

    fn over_capacity(&mut self) -> Result<bool, ProcessError> {
        let (max_records, max_bytes) = (self.max_records, self.max_bytes);
        let buffer = self.buffer()?;
        Ok(buffer.entries.len() as u64 > max_records || buffer.bytes > max_bytes)
    }
}

impl<K, V> Processor<K, Change<V>> for Suppress<K, V>
where
    K: Data,
    V: Data,
    StoreKeyCodec: Codec<K>,
    StoreValueCodec: Codec<V>,
{
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        self.store = Some(ctx.store(&self.store_name)?);
        // Reloaded on the first record: a restored store is complete only then.
        self.buffer = None;
        self.stream_time = -1;
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessError> {
        self.stream_time = self.stream_time.max(r.timestamp);
        let key = self
            .encode::<K, StoreKeyCodec>(&r.key)?
            .ok_or_else(|| self.store_error("a suppressed key encodes to null"))?;
        let new = r
            .value
            .new
            .as_ref()
            .map(|v| self.encode::<V, StoreValueCodec>(v))
            .transpose()?
            .flatten();
        let old = r
            .value
            .old
            .as_ref()
            .map(|v| self.encode::<V, StoreValueCodec>(v))
            .transpose()?
            .flatten();
        // As Kafka Streams' buffer: a key keeps the place of its first buffered update; its
        // change and record are the latest.
        let time = match self.buffer()?.entries.get(&key) {
            Some(buffered) => buffered.time,
            None => (self.buffer_time)(&r.key, r.timestamp),
        };
        let entry = Buffered {
            time,
            timestamp: r.timestamp,
            new,
            old,
            headers: r.headers,
        };
        self.store()?.put(&key, &entry.encode())?;
        self.buffer()?.insert(key, entry);

        let expiry = self.stream_time.saturating_sub(self.close_after_end);
        while self.buffer()?.min_time().is_some_and(|time| time <= expiry) {
            self.emit_first(ctx)?;
        }
        if self.over_capacity()? {
            match self.when_full {
                WhenFull::EmitEarly => while self.over_capacity()? && self.emit_first(ctx)? {},
                WhenFull::ShutDown => {
                    let buffer = self.buffer()?;
                    let (records, bytes) = (buffer.entries.len() as u64, buffer.bytes);
                    return Err(ProcessError::BufferFull {
                        node: ctx.node_name().to_owned(),
                        records,
                        bytes,
                        max_records: self.max_records,
                        max_bytes: self.max_bytes,
                    });
                }
            }
        }
        Ok(())
    }
}
