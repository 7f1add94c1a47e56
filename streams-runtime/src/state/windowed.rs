//! Typed handles on window and session stores: [`WindowStore<K, V>`] and
//! [`SessionStore<K, V>`], with their codecs in the type as [`KeyValueStore`](super::KeyValueStore)
//! has, over the byte-level [`BytesWindowStore`] and [`BytesSessionStore`].

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::Duration;

use super::key_value::{codec_error, encode_store_key, split_timestamp};
use super::session::{BytesSessionStore, SegmentedSessionStore, decode_session_key};
use super::window::{BytesWindowStore, SegmentedWindowStore, decode_window_key};
use super::{StateStore, StoreKind, StoreSpec, TaskStore};
use crate::codec::{Codec, CodecError, Encoded, StoreKeyCodec, StoreValueCodec};
use crate::error::StoreError;
pub use crate::record::{Window, Windowed};

/// Converts a duration to the milliseconds stores count in, saturating.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The codec work both handles share.
struct Codecs<K, V, KC, VC> {
    name: Rc<str>,
    /// Values carry an 8-byte timestamp prefix (see [`StoreSpec::is_timestamped`]).
    timestamped: bool,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V, KC: Codec<K>, VC: Codec<V>> Codecs<K, V, KC, VC> {
    fn new(name: &str) -> Self {
        Codecs {
            name: name.into(),
            timestamped: false,
            types: PhantomData,
        }
    }

    fn error(&self, source: CodecError) -> StoreError {
        codec_error(&self.name, source)
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        encode_store_key::<K, KC>(&self.name, key, &mut out)?;
        Ok(out)
    }

    /// The value's bytes, or `None` for a value its codec encodes as null (a delete).
    fn value(&self, value: &V, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        out.clear();
        Ok(VC::encode(value, out).map_err(|e| self.error(e))? == Encoded::Bytes)
    }

    fn decode_key(&self, bytes: &[u8]) -> Result<K, StoreError> {
        KC::decode(Some(bytes)).map_err(|e| self.error(e))
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<V, StoreError> {
        Ok(self.decode_timestamped(bytes)?.0)
    }

    /// A value and its timestamp (-1 where the store keeps none).
    fn decode_timestamped(&self, bytes: &[u8]) -> Result<(V, i64), StoreError> {
        let (timestamp, value) = if self.timestamped {
            split_timestamp(bytes).ok_or_else(|| {
                self.error(CodecError::decode::<V>(
                    VC::NAME,
                    "a timestamped value needs 8 bytes of timestamp",
                ))
            })?
        } else {
            (-1, bytes)
        };
        let value = VC::decode(Some(value)).map_err(|e| self.error(e))?;
        Ok((value, timestamp))
    }
}

/// Collects decoded entries from a visitor, stopping at the first decoding error.
fn collect<T>(
    scan: impl FnOnce(&mut dyn FnMut(&[u8], i64, i64, &[u8]) -> bool) -> Result<(), StoreError>,
    mut decode: impl FnMut(&[u8], i64, i64, &[u8]) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    let mut failure = None;
    scan(
        &mut |key, start, end, value| match decode(key, start, end, value) {
            Ok(item) => {
                out.push(item);
                true
            }
            Err(e) => {
                failure = Some(e);
                false
            }
        },
    )?;
    failure.map_or(Ok(out), Err)
}

/// A typed window store handle: values `V` per key `K` and window, kept for the store's
/// retention period.
///
/// Time bounds are inclusive window starts, as in Kafka Streams' `WindowStore`. Windows are
/// `[start, start + window size)`; a write older than the retention period (relative to the
/// latest window start written) is dropped.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let mut clicks = WindowStore::<String, u64>::in_memory(
///     "clicks",
///     Duration::from_secs(3600),
///     Duration::from_secs(60),
/// )?;
/// clicks.put(&"home".to_owned(), &3, 0)?;
/// clicks.put(&"home".to_owned(), &5, 60_000)?;
/// assert_eq!(clicks.fetch_time_range(&"home".to_owned(), 0, 60_000)?, vec![(0, 3), (60_000, 5)]);
/// assert_eq!(clicks.fetch(&"home".to_owned(), 60_000)?, Some(5));
/// # Ok::<(), streams::StoreError>(())
/// ```
pub struct WindowStore<K, V, KC = StoreKeyCodec, VC = StoreValueCodec> {
    codecs: Codecs<K, V, KC, VC>,
    backend: Rc<RefCell<Box<dyn BytesWindowStore>>>,
    scratch: Vec<u8>,
}

impl<K, V, KC, VC> Clone for WindowStore<K, V, KC, VC> {
    fn clone(&self) -> Self {
        WindowStore {
            codecs: Codecs {
                name: Rc::clone(&self.codecs.name),
                timestamped: self.codecs.timestamped,
                types: PhantomData,
            },
            backend: Rc::clone(&self.backend),
            scratch: Vec::new(),
        }
    }
}

impl<K, V, KC, VC> fmt::Debug for WindowStore<K, V, KC, VC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowStore")
            .field("name", &self.codecs.name)
            .field("window_size", &self.backend.borrow().window_size())
            .finish()
    }
}

impl<K, V, KC, VC> WindowStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    /// A standalone in-memory store, outside any task (for unit tests of processor functions).
    pub fn in_memory(
        name: &str,
        retention: Duration,
        window_size: Duration,
    ) -> Result<Self, StoreError> {
        let backend =
            SegmentedWindowStore::in_memory(name, millis(retention), millis(window_size), false)?;
        Ok(Self::over(name, Box::new(backend)))
    }

    /// A handle over the given backend.
    pub fn over(name: &str, backend: Box<dyn BytesWindowStore>) -> Self {
        WindowStore {
            codecs: Codecs::new(name),
            backend: Rc::new(RefCell::new(backend)),
            scratch: Vec::new(),
        }
    }

    /// The declaration of a window store named `name` keeping windows of `window_size` for
    /// `retention` (at least the window size; Kafka Streams' default is one day).
    pub fn spec_with(name: &str, retention: Duration, window_size: Duration) -> StoreSpec {
        <Self as StateStore>::spec(name)
            .with_retention(retention)
            .with_window_size(window_size)
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.codecs.name
    }

    /// The window size in milliseconds.
    pub fn window_size(&self) -> i64 {
        self.backend.borrow().window_size()
    }

    /// The latest window start written or restored (-1 before any).
    pub fn observed_stream_time(&self) -> i64 {
        self.backend.borrow().observed_stream_time()
    }

    /// Decodes the store's entries as a cache flush hands them over, without holding the
    /// store (a cache listener that held it would keep the store, and its files, alive).
    pub(crate) fn entry_decoder(&self) -> WindowEntryDecoder<K, V, KC, VC> {
        WindowEntryDecoder {
            codecs: Codecs {
                name: Rc::clone(&self.codecs.name),
                timestamped: self.codecs.timestamped,
                types: PhantomData,
            },
            window_size: self.window_size(),
        }
    }

    /// Stores `value` for `key`'s window starting at `window_start` (a value its codec encodes
    /// as null deletes the window, as a Kafka Streams `put(key, null, start)` does).
    pub fn put(&mut self, key: &K, value: &V, window_start: i64) -> Result<(), StoreError> {
        self.put_with_timestamp(key, value, window_start, -1)
    }

    /// Stores `value` for `key`'s window starting at `window_start`, updated at `timestamp`
    /// (kept only by a timestamped store, as Kafka Streams' `TimestampedWindowStore`: a windowed
    /// aggregation keeps the largest timestamp of each window's records).
    pub fn put_with_timestamp(
        &mut self,
        key: &K,
        value: &V,
        window_start: i64,
        timestamp: i64,
    ) -> Result<(), StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        self.put_encoded(&key_bytes, value, window_start, timestamp)
    }

    /// The value of `key`'s window starting at `window_start`, with the timestamp of its last
    /// update (-1 where the store keeps no timestamps).
    pub fn fetch_with_timestamp(
        &self,
        key: &K,
        window_start: i64,
    ) -> Result<Option<(V, i64)>, StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        self.fetch_encoded(&key_bytes, window_start)
    }

    /// Encodes `key` as the store does into `out` (cleared first): for the `_encoded` calls,
    /// which a caller making several of one key encodes once for.
    pub(crate) fn encode_key(&self, key: &K, out: &mut Vec<u8>) -> Result<(), StoreError> {
        out.clear();
        encode_store_key::<K, KC>(&self.codecs.name, key, out)
    }

    /// [`fetch_with_timestamp`](Self::fetch_with_timestamp) of an encoded key.
    pub(crate) fn fetch_encoded(
        &self,
        key_bytes: &[u8],
        window_start: i64,
    ) -> Result<Option<(V, i64)>, StoreError> {
        let found = self.backend.borrow().get(key_bytes, window_start)?;
        found
            .map(|bytes| self.codecs.decode_timestamped(&bytes))
            .transpose()
    }

    /// [`put_with_timestamp`](Self::put_with_timestamp) of an encoded key.
    pub(crate) fn put_encoded(
        &mut self,
        key_bytes: &[u8],
        value: &V,
        window_start: i64,
        timestamp: i64,
    ) -> Result<(), StoreError> {
        let mut buffer = std::mem::take(&mut self.scratch);
        buffer.clear();
        if self.codecs.timestamped {
            buffer.extend_from_slice(&timestamp.to_be_bytes());
        }
        let result = VC::encode(value, &mut buffer)
            .map_err(|e| self.codecs.error(e))
            .and_then(|encoded| {
                // A null value deletes, with or without a timestamp in front.
                let value = (encoded == Encoded::Bytes).then_some(&buffer[..]);
                self.backend
                    .borrow_mut()
                    .put(key_bytes, window_start, value)
                    .map(drop)
            });
        self.scratch = buffer;
        result
    }

    /// `key`'s windows starting in `time_from..=time_to`, in window-start order, as
    /// `(window start, value, timestamp of its last update)`.
    pub fn fetch_time_range_with_timestamps(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(i64, V, i64)>, StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        let backend = self.backend.borrow();
        collect(
            |visit| {
                backend.fetch(&key_bytes, time_from, time_to, &mut |start, value| {
                    visit(&[], start, start, value)
                })
            },
            |_, start, _, value| {
                let (value, timestamp) = self.codecs.decode_timestamped(value)?;
                Ok((start, value, timestamp))
            },
        )
    }

    /// Every window starting in `time_from..=time_to` with the timestamp of its last update,
    /// in the store's order (per segment, key then window start).
    pub fn fetch_all_with_timestamps(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(Windowed<K>, V, i64)>, StoreError> {
        let backend = self.backend.borrow();
        let size = backend.window_size();
        collect(
            |visit| {
                backend.fetch_all(time_from, time_to, &mut |key, start, value| {
                    visit(key, start, start, value)
                })
            },
            |key, start, _, value| {
                let (value, timestamp) = self.codecs.decode_timestamped(value)?;
                Ok((
                    Windowed::new(
                        self.codecs.decode_key(key)?,
                        start,
                        start.saturating_add(size),
                    ),
                    value,
                    timestamp,
                ))
            },
        )
    }

    /// Deletes `key`'s window starting at `window_start`.
    pub fn delete(&mut self, key: &K, window_start: i64) -> Result<(), StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        self.backend
            .borrow_mut()
            .put(&key_bytes, window_start, None)
            .map(drop)
    }

    /// The value of `key`'s window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>, StoreError> {
        Ok(self
            .fetch_time_range(key, window_start, window_start)?
            .into_iter()
            .next()
            .map(|(_, value)| value))
    }

    /// `key`'s windows starting in `time_from..=time_to`, as `(window start, value)` in
    /// window-start order.
    pub fn fetch_time_range(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(i64, V)>, StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        let backend = self.backend.borrow();
        collect(
            |visit| {
                backend.fetch(&key_bytes, time_from, time_to, &mut |start, value| {
                    visit(&[], start, start, value)
                })
            },
            |_, start, _, value| Ok((start, self.codecs.decode_value(value)?)),
        )
    }

    /// `key`'s windows starting in `time_from..=time_to`, latest first (Kafka Streams'
    /// `backwardFetch`).
    pub fn backward_fetch(
        &self,
        key: &K,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(i64, V)>, StoreError> {
        let mut windows = self.fetch_time_range(key, time_from, time_to)?;
        windows.reverse();
        Ok(windows)
    }

    /// The windows of the keys in `key_from..=key_to` (`None`: open) starting in
    /// `time_from..=time_to`, in key-byte then window-start order within each segment.
    pub fn fetch_key_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        let from = key_from.map(|k| self.codecs.key_bytes(k)).transpose()?;
        let to = key_to.map(|k| self.codecs.key_bytes(k)).transpose()?;
        self.windows(|backend, visit| {
            backend.fetch_range(from.as_deref(), to.as_deref(), time_from, time_to, visit)
        })
    }

    /// Every window starting in `time_from..=time_to`.
    pub fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        self.windows(|backend, visit| backend.fetch_all(time_from, time_to, visit))
    }

    /// Every window in the store.
    pub fn all(&self) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        self.windows(|backend, visit| backend.all(visit))
    }

    fn windows(
        &self,
        scan: impl FnOnce(
            &dyn BytesWindowStore,
            &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
        ) -> Result<(), StoreError>,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        let backend = self.backend.borrow();
        let size = backend.window_size();
        collect(
            |visit| {
                scan(&**backend, &mut |key, start, value| {
                    visit(key, start, start, value)
                })
            },
            |key, start, _, value| {
                Ok((
                    Windowed::new(
                        self.codecs.decode_key(key)?,
                        start,
                        start.saturating_add(size),
                    ),
                    self.codecs.decode_value(value)?,
                ))
            },
        )
    }
}

/// Decodes a window store's keys and values as it keeps them (see
/// [`WindowStore::entry_decoder`]).
pub(crate) struct WindowEntryDecoder<K, V, KC, VC> {
    codecs: Codecs<K, V, KC, VC>,
    window_size: i64,
}

impl<K, V, KC: Codec<K>, VC: Codec<V>> WindowEntryDecoder<K, V, KC, VC> {
    /// The key and window of a store key (`[key][window start][sequence number]`).
    pub(crate) fn windowed_key(&self, bytes: &[u8]) -> Result<Windowed<K>, StoreError> {
        let (key, start, _) = decode_window_key(bytes).ok_or_else(|| StoreError::MalformedKey {
            store: self.codecs.name.to_string(),
            message: format!("{} bytes are too few for a window store key", bytes.len()),
        })?;
        Ok(Windowed::new(
            self.codecs.decode_key(key)?,
            start,
            start.saturating_add(self.window_size),
        ))
    }

    /// A stored value and its timestamp (-1 where the store keeps none).
    pub(crate) fn value(&self, bytes: &[u8]) -> Result<(V, i64), StoreError> {
        self.codecs.decode_timestamped(bytes)
    }
}

impl<K, V, KC, VC> StateStore for WindowStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn spec(name: &str) -> StoreSpec {
        StoreSpec::for_handle::<Self>(name, StoreKind::Window)
    }

    fn open(store: &TaskStore) -> Result<Self, StoreError> {
        store.check_type::<Self>()?;
        let mut codecs = Codecs::new(store.spec().name());
        codecs.timestamped = store.spec().is_timestamped();
        Ok(WindowStore {
            codecs,
            backend: store.window_backend()?,
            scratch: Vec::new(),
        })
    }
}

/// A typed session store handle: values `V` per key `K` and session `[start, end]` (both
/// inclusive), kept for the store's retention period after a session ends.
///
/// A session-windowed aggregation finds the sessions a record at `t` merges with (gap `g`) with
/// [`find_sessions(key, t - g, t + g)`](Self::find_sessions), removes them and puts the merged
/// session:
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let mut sessions = SessionStore::<String, u64>::in_memory("clicks", Duration::from_secs(3600))?;
/// let user = "ann".to_owned();
/// sessions.put(&Windowed::new(user.clone(), 0, 10), &2)?;
/// sessions.put(&Windowed::new(user.clone(), 20, 30), &1)?;
/// let (t, gap) = (14, 5);
/// let merging = sessions.find_sessions(&user, t - gap, t + gap)?;
/// assert_eq!(merging, vec![(Windowed::new(user.clone(), 0, 10), 2)]);
/// # Ok::<(), streams::StoreError>(())
/// ```
pub struct SessionStore<K, V, KC = StoreKeyCodec, VC = StoreValueCodec> {
    codecs: Codecs<K, V, KC, VC>,
    backend: Rc<RefCell<Box<dyn BytesSessionStore>>>,
    scratch: Vec<u8>,
}

impl<K, V, KC, VC> Clone for SessionStore<K, V, KC, VC> {
    fn clone(&self) -> Self {
        SessionStore {
            codecs: Codecs {
                name: Rc::clone(&self.codecs.name),
                timestamped: self.codecs.timestamped,
                types: PhantomData,
            },
            backend: Rc::clone(&self.backend),
            scratch: Vec::new(),
        }
    }
}

impl<K, V, KC, VC> fmt::Debug for SessionStore<K, V, KC, VC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStore")
            .field("name", &self.codecs.name)
            .finish()
    }
}

impl<K, V, KC, VC> SessionStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    /// A standalone in-memory store, outside any task (for unit tests of processor functions).
    pub fn in_memory(name: &str, retention: Duration) -> Result<Self, StoreError> {
        let backend = SegmentedSessionStore::in_memory(name, millis(retention))?;
        Ok(Self::over(name, Box::new(backend)))
    }

    /// A handle over the given backend.
    pub fn over(name: &str, backend: Box<dyn BytesSessionStore>) -> Self {
        SessionStore {
            codecs: Codecs::new(name),
            backend: Rc::new(RefCell::new(backend)),
            scratch: Vec::new(),
        }
    }

    /// The declaration of a session store named `name` keeping sessions for `retention` after
    /// they end (Kafka Streams' default is one day).
    pub fn spec_with(name: &str, retention: Duration) -> StoreSpec {
        <Self as StateStore>::spec(name).with_retention(retention)
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.codecs.name
    }

    /// Stores `value` for the session `session` (a value its codec encodes as null removes it).
    pub fn put(&mut self, session: &Windowed<K>, value: &V) -> Result<(), StoreError> {
        let key_bytes = self.codecs.key_bytes(&session.key)?;
        let mut value_bytes = std::mem::take(&mut self.scratch);
        let present = self.codecs.value(value, &mut value_bytes);
        let result = present.and_then(|present| {
            self.backend
                .borrow_mut()
                .put(
                    &key_bytes,
                    session.window.start,
                    session.window.end,
                    present.then_some(&value_bytes[..]),
                )
                .map(drop)
        });
        self.scratch = value_bytes;
        result
    }

    /// Removes the session `session`.
    pub fn remove(&mut self, session: &Windowed<K>) -> Result<(), StoreError> {
        let key_bytes = self.codecs.key_bytes(&session.key)?;
        self.backend
            .borrow_mut()
            .put(&key_bytes, session.window.start, session.window.end, None)
            .map(drop)
    }

    /// The latest session end written or restored (-1 before any).
    pub fn observed_stream_time(&self) -> i64 {
        self.backend.borrow().observed_stream_time()
    }

    /// Decodes the store's entries as a cache flush hands them over, without holding the
    /// store.
    pub(crate) fn entry_decoder(&self) -> SessionEntryDecoder<K, V, KC, VC> {
        SessionEntryDecoder {
            codecs: Codecs {
                name: Rc::clone(&self.codecs.name),
                timestamped: false,
                types: PhantomData,
            },
        }
    }

    /// The value of `key`'s session `[start, end]`.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>, StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        let bytes = self
            .backend
            .borrow()
            .fetch_session(&key_bytes, start, end)?;
        bytes.map(|b| self.codecs.decode_value(&b)).transpose()
    }

    /// `key`'s sessions with `end >= earliest_session_end` and `start <= latest_session_start`,
    /// by session end: for a record at `t` and gap `g`, the sessions it merges with are
    /// `find_sessions(key, t - g, t + g)`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        let key_bytes = self.codecs.key_bytes(key)?;
        self.sessions(
            Some(&key_bytes),
            Some(&key_bytes),
            earliest_session_end,
            latest_session_start,
        )
    }

    /// The sessions of the keys in `key_from..=key_to` (`None`: open) with
    /// `end >= earliest_session_end` and `start <= latest_session_start`.
    pub fn find_sessions_in_range(
        &self,
        key_from: Option<&K>,
        key_to: Option<&K>,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        let from = key_from.map(|k| self.codecs.key_bytes(k)).transpose()?;
        let to = key_to.map(|k| self.codecs.key_bytes(k)).transpose()?;
        self.sessions(
            from.as_deref(),
            to.as_deref(),
            earliest_session_end,
            latest_session_start,
        )
    }

    /// Every session of `key`, by session end.
    pub fn fetch(&self, key: &K) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        self.find_sessions(key, 0, i64::MAX)
    }

    /// Every session in the store.
    pub fn all(&self) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        self.sessions(None, None, 0, i64::MAX)
    }

    fn sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_session_end: i64,
        latest_session_start: i64,
    ) -> Result<Vec<(Windowed<K>, V)>, StoreError> {
        let backend = self.backend.borrow();
        collect(
            |visit| {
                backend.find_sessions(
                    key_from,
                    key_to,
                    earliest_session_end,
                    latest_session_start,
                    visit,
                )
            },
            |key, start, end, value| {
                Ok((
                    Windowed::new(self.codecs.decode_key(key)?, start, end),
                    self.codecs.decode_value(value)?,
                ))
            },
        )
    }
}

/// Decodes a session store's keys and values as it keeps them (see
/// [`SessionStore::entry_decoder`]).
pub(crate) struct SessionEntryDecoder<K, V, KC, VC> {
    codecs: Codecs<K, V, KC, VC>,
}

impl<K, V, KC: Codec<K>, VC: Codec<V>> SessionEntryDecoder<K, V, KC, VC> {
    /// The key and session of a store key (`[key][session end][session start]`).
    pub(crate) fn session(&self, bytes: &[u8]) -> Result<Windowed<K>, StoreError> {
        let (key, start, end) =
            decode_session_key(bytes).ok_or_else(|| StoreError::MalformedKey {
                store: self.codecs.name.to_string(),
                message: format!("{} bytes are too few for a session store key", bytes.len()),
            })?;
        Ok(Windowed::new(self.codecs.decode_key(key)?, start, end))
    }

    /// A stored value.
    pub(crate) fn value(&self, bytes: &[u8]) -> Result<V, StoreError> {
        self.codecs.decode_value(bytes)
    }
}

impl<K, V, KC, VC> StateStore for SessionStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn spec(name: &str) -> StoreSpec {
        StoreSpec::for_handle::<Self>(name, StoreKind::Session)
    }

    fn open(store: &TaskStore) -> Result<Self, StoreError> {
        store.check_type::<Self>()?;
        Ok(SessionStore {
            codecs: Codecs::new(store.spec().name()),
            backend: store.session_backend()?,
            scratch: Vec::new(),
        })
    }
}
