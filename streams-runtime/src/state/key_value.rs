//! Key-value stores: the byte-level backend trait, the in-memory backend, and the typed handle.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Bound;
use std::rc::Rc;

use super::{BytesStore, StateStore, StoreKind, StoreSpec, TaskStore};
use crate::codec::{Codec, CodecError, Encoded, StoreKeyCodec, StoreValueCodec};
use crate::error::StoreError;

/// A key-value store over bytes, ordered by key bytes: the interface every key-value backend
/// implements, on top of the lifecycle every store has ([`BytesStore`]; its entries are the
/// store's entries, in key order).
pub trait BytesKeyValueStore: BytesStore {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`, returning its previous value.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Calls `visit` for each entry with `from <= key < to` (an absent bound is open), in key order,
    /// until it returns `false`.
    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// The number of entries (exact for memory, an estimate for disk backends).
    fn approximate_len(&self) -> u64;
    /// Removes every entry with `from <= key < to` (window and session stores drop expired
    /// segments this way); disk backends write one range tombstone.
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<(), StoreError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        self.scan(Bound::Included(from), Bound::Excluded(to), &mut |k, _| {
            keys.push(k.to_vec());
            true
        })?;
        keys.iter().try_for_each(|key| self.delete(key).map(drop))
    }
}

/// Restores one changelog record into a key-value store by writing it: a put, or a delete for
/// `None` (for backends without a cheaper way).
pub(crate) fn restore_by_writing(
    store: &mut (impl BytesKeyValueStore + ?Sized),
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    match value {
        Some(value) => store.put(key, value),
        None => store.delete(key).map(drop),
    }
}

/// A [`BytesKeyValueStore`] in a sorted map.
#[derive(Debug, Default, Clone)]
pub struct InMemoryKeyValueStore {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl BytesKeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match self.map.get_mut(key) {
            Some(existing) => {
                existing.clear();
                existing.extend_from_slice(value);
            }
            None => {
                self.map.insert(key.to_vec(), value.to_vec());
            }
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.remove(key))
    }

    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        // BTreeMap::range panics on an empty or inverted range: answer it here.
        match (from, to) {
            (Bound::Included(a), Bound::Included(b)) if a > b => return Ok(()),
            (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b))
                if a >= b
                    && !(matches!(from, Bound::Included(_))
                        && matches!(to, Bound::Included(_))) =>
            {
                return Ok(());
            }
            _ => {}
        }
        for (k, v) in self.map.range::<[u8], _>((from, to)) {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn approximate_len(&self) -> u64 {
        self.map.len() as u64
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        // Cutting the range out and merging the rest back costs one pass and copies no key.
        let mut doomed = self.map.split_off(from);
        let mut rest = doomed.split_off(to);
        self.map.append(&mut rest);
        Ok(())
    }
}

impl BytesStore for InMemoryKeyValueStore {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.scan(Bound::Unbounded, Bound::Unbounded, visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        restore_by_writing(self, key, value)
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        records
            .iter()
            .try_for_each(|(key, value)| self.restore(key, value.as_deref()))
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.map.clear();
        Ok(())
    }
}

/// A typed key-value store handle: keys `K` encoded with `KC`, values `V` with `VC`.
///
/// Scans run in the order of the encoded keys; with the default [`StoreKeyCodec`] that is the
/// natural order for strings, byte strings and non-negative integers.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let mut store = KeyValueStore::<String, u64>::in_memory("counts");
/// store.put(&"kafka".to_owned(), &2)?;
/// store.put(&"rust".to_owned(), &5)?;
/// assert_eq!(store.get(&"rust".to_owned())?, Some(5));
/// assert_eq!(store.prefix_scan(&"ka".to_owned())?, vec![("kafka".to_owned(), 2)]);
/// # Ok::<(), streams::StoreError>(())
/// ```
pub struct KeyValueStore<K, V, KC = StoreKeyCodec, VC = StoreValueCodec> {
    name: Rc<str>,
    backend: Rc<RefCell<Box<dyn BytesKeyValueStore>>>,
    scratch: Vec<u8>,
    /// Values carry an 8-byte timestamp prefix (see [`StoreSpec::is_timestamped`]).
    timestamped: bool,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V, KC, VC> Clone for KeyValueStore<K, V, KC, VC> {
    fn clone(&self) -> Self {
        KeyValueStore {
            name: Rc::clone(&self.name),
            backend: Rc::clone(&self.backend),
            scratch: Vec::new(),
            timestamped: self.timestamped,
            types: PhantomData,
        }
    }
}

impl<K, V, KC, VC> fmt::Debug for KeyValueStore<K, V, KC, VC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("name", &self.name)
            .field("entries", &self.backend.borrow().approximate_len())
            .finish()
    }
}

impl<K, V, KC, VC> KeyValueStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    /// A standalone in-memory store, outside any task (for unit tests of processor functions).
    pub fn in_memory(name: &str) -> Self {
        Self::over(name, Box::new(InMemoryKeyValueStore::default()))
    }

    /// A handle over the given backend.
    pub fn over(name: &str, backend: Box<dyn BytesKeyValueStore>) -> Self {
        KeyValueStore {
            name: name.into(),
            backend: Rc::new(RefCell::new(backend)),
            scratch: Vec::new(),
            timestamped: false,
            types: PhantomData,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, StoreError> {
        Ok(self.get_with_timestamp(key)?.map(|(value, _)| value))
    }

    /// The value under `key` with the timestamp of its last update (-1 where the store keeps
    /// no timestamps).
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<(V, i64)>, StoreError> {
        let mut key_bytes = Vec::new();
        self.encode_key(key, &mut key_bytes)?;
        let bytes = self.backend.borrow().get(&key_bytes)?;
        bytes.map(|b| self.decode_entry(&b)).transpose()
    }

    /// Stores `value` under `key`.
    pub fn put(&mut self, key: &K, value: &V) -> Result<(), StoreError> {
        self.put_with_timestamp(key, value, -1)
    }

    /// Stores `value` under `key`, updated at `timestamp` (kept only by timestamped stores).
    pub fn put_with_timestamp(
        &mut self,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<(), StoreError> {
        let mut buffer = std::mem::take(&mut self.scratch);
        buffer.clear();
        self.encode_key(key, &mut buffer)?;
        let split = buffer.len();
        if self.timestamped {
            buffer.extend_from_slice(&timestamp.to_be_bytes());
        }
        let present = VC::encode(value, &mut buffer).map_err(|e| self.codec_error(e))?;
        let result = match present {
            Encoded::Bytes => self
                .backend
                .borrow_mut()
                .put(&buffer[..split], &buffer[split..]),
            Encoded::Null => self.backend.borrow_mut().delete(&buffer[..split]).map(drop),
        };
        self.scratch = buffer;
        result
    }

    /// Removes `key`, returning the value it had.
    pub fn delete(&mut self, key: &K) -> Result<Option<V>, StoreError> {
        let mut key_bytes = Vec::new();
        self.encode_key(key, &mut key_bytes)?;
        let old = self.backend.borrow_mut().delete(&key_bytes)?;
        old.map(|b| self.decode_value(&b)).transpose()
    }

    /// Every entry with `from <= key <= to`, in key order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StoreError> {
        let (mut from_bytes, mut to_bytes) = (Vec::new(), Vec::new());
        self.encode_key(from, &mut from_bytes)?;
        self.encode_key(to, &mut to_bytes)?;
        self.collect(
            Bound::Included(&from_bytes),
            Bound::Included(&to_bytes),
            None,
        )
    }

    /// Every entry whose encoded key starts with the encoding of `prefix`, in key order.
    pub fn prefix_scan(&self, prefix: &K) -> Result<Vec<(K, V)>, StoreError> {
        let mut prefix_bytes = Vec::new();
        self.encode_key(prefix, &mut prefix_bytes)?;
        self.collect(
            Bound::Included(&prefix_bytes),
            Bound::Unbounded,
            Some(&prefix_bytes),
        )
    }

    /// Every entry, in key order.
    pub fn all(&self) -> Result<Vec<(K, V)>, StoreError> {
        self.collect(Bound::Unbounded, Bound::Unbounded, None)
    }

    /// The number of entries (an estimate on disk backends).
    pub fn approximate_len(&self) -> u64 {
        self.backend.borrow().approximate_len()
    }

    fn collect(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        prefix: Option<&[u8]>,
    ) -> Result<Vec<(K, V)>, StoreError> {
        let mut out = Vec::new();
        let mut failure = None;
        self.backend.borrow().scan(from, to, &mut |k, v| {
            if prefix.is_some_and(|p| !k.starts_with(p)) {
                return false;
            }
            match (KC::decode(Some(k)), self.decode_value(v)) {
                (Ok(key), Ok(value)) => {
                    out.push((key, value));
                    true
                }
                (Err(e), _) => {
                    failure = Some(self.codec_error(e));
                    false
                }
                (_, Err(e)) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        failure.map_or(Ok(out), Err)
    }

    fn encode_key(&self, key: &K, out: &mut Vec<u8>) -> Result<(), StoreError> {
        encode_store_key::<K, KC>(&self.name, key, out)
    }

    fn decode_value(&self, bytes: &[u8]) -> Result<V, StoreError> {
        self.decode_entry(bytes).map(|(value, _)| value)
    }

    fn decode_entry(&self, bytes: &[u8]) -> Result<(V, i64), StoreError> {
        self.decoder().entry(bytes)
    }

    /// What decodes the store's keys and values without holding the store (a cache flush
    /// listener owned by the store must not keep it alive).
    pub(crate) fn decoder(&self) -> EntryDecoder<K, V, KC, VC> {
        EntryDecoder {
            name: Rc::clone(&self.name),
            timestamped: self.timestamped,
            types: PhantomData,
        }
    }

    fn codec_error(&self, source: CodecError) -> StoreError {
        codec_error(&self.name, source)
    }
}

/// Decodes the keys and values of a store as it keeps them.
pub(crate) struct EntryDecoder<K, V, KC, VC> {
    name: Rc<str>,
    timestamped: bool,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V, KC: Codec<K>, VC: Codec<V>> EntryDecoder<K, V, KC, VC> {
    /// A key.
    pub(crate) fn key(&self, bytes: &[u8]) -> Result<K, StoreError> {
        KC::decode(Some(bytes)).map_err(|e| self.codec_error(e))
    }

    /// A value, with its timestamp (-1 where the store keeps none).
    pub(crate) fn entry(&self, bytes: &[u8]) -> Result<(V, i64), StoreError> {
        let (timestamp, value) = if self.timestamped {
            split_timestamp(bytes).ok_or_else(|| {
                self.codec_error(CodecError::decode::<V>(
                    VC::NAME,
                    "a timestamped value needs 8 bytes of timestamp",
                ))
            })?
        } else {
            (-1, bytes)
        };
        let value = VC::decode(Some(value)).map_err(|e| self.codec_error(e))?;
        Ok((value, timestamp))
    }

    fn codec_error(&self, source: CodecError) -> StoreError {
        codec_error(&self.name, source)
    }
}

/// A codec failure of the store `store`.
pub(crate) fn codec_error(store: &str, source: CodecError) -> StoreError {
    StoreError::Codec {
        store: store.to_owned(),
        source,
    }
}

/// Appends the encoding of a store key of the store `store`: a key that encodes as null is an
/// error (a store has no null keys).
pub(crate) fn encode_store_key<K, KC: Codec<K>>(
    store: &str,
    key: &K,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    match KC::encode(key, out).map_err(|e| codec_error(store, e))? {
        Encoded::Bytes => Ok(()),
        Encoded::Null => Err(codec_error(
            store,
            CodecError::encode::<K>(KC::NAME, "a store key cannot be null"),
        )),
    }
}

/// Splits a timestamped value into its timestamp and the encoded value.
pub(crate) fn split_timestamp(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (timestamp, value) = bytes.split_first_chunk::<8>()?;
    Some((i64::from_be_bytes(*timestamp), value))
}

impl<K, V, KC, VC> StateStore for KeyValueStore<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn spec(name: &str) -> StoreSpec {
        StoreSpec::for_handle::<Self>(name, StoreKind::KeyValue)
    }

    fn open(store: &TaskStore) -> Result<Self, StoreError> {
        store.check_type::<Self>()?;
        Ok(KeyValueStore {
            name: store.spec().name().into(),
            backend: store.key_value_backend()?,
            scratch: Vec::new(),
            timestamped: store.spec().is_timestamped(),
            types: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> KeyValueStore<String, u64> {
        let mut store = KeyValueStore::in_memory("s");
        for (k, v) in [("a", 1), ("ab", 2), ("abc", 3), ("b", 4), ("c", 5)] {
            store.put(&k.to_owned(), &v).unwrap();
        }
        store
    }

    fn keys(entries: Vec<(String, u64)>) -> Vec<String> {
        entries.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn put_get_delete() {
        let mut s = store();
        assert_eq!(s.get(&"ab".into()).unwrap(), Some(2));
        s.put(&"ab".into(), &20).unwrap();
        assert_eq!(s.get(&"ab".into()).unwrap(), Some(20));
        assert_eq!(s.delete(&"ab".into()).unwrap(), Some(20));
        assert_eq!(s.get(&"ab".into()).unwrap(), None);
        assert_eq!(s.delete(&"zz".into()).unwrap(), None);
        assert_eq!(s.approximate_len(), 4);
    }

    #[test]
    fn range_and_prefix_scans_follow_key_order() {
        let s = store();
        assert_eq!(
            keys(s.range(&"ab".into(), &"b".into()).unwrap()),
            ["ab", "abc", "b"]
        );
        assert_eq!(keys(s.prefix_scan(&"ab".into()).unwrap()), ["ab", "abc"]);
        assert_eq!(
            keys(s.range(&"c".into(), &"a".into()).unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(keys(s.all().unwrap()), ["a", "ab", "abc", "b", "c"]);
    }

    #[test]
    fn degenerate_ranges_are_empty_not_panics() {
        let s = store();
        let backend = s.backend.borrow();
        for (from, to) in [
            (Bound::Excluded(&b"a"[..]), Bound::Excluded(&b"a"[..])),
            (Bound::Included(&b"a"[..]), Bound::Excluded(&b"a"[..])),
            (Bound::Excluded(&b"b"[..]), Bound::Included(&b"a"[..])),
        ] {
            let mut seen = 0;
            backend
                .scan(from, to, &mut |_, _| {
                    seen += 1;
                    true
                })
                .unwrap();
            assert_eq!(seen, 0);
        }
        let mut seen = 0;
        backend
            .scan(
                Bound::Included(&b"a"[..]),
                Bound::Included(&b"a"[..]),
                &mut |_, _| {
                    seen += 1;
                    true
                },
            )
            .unwrap();
        assert_eq!(seen, 1);
    }

    #[test]
    fn a_null_value_deletes() {
        let mut s = KeyValueStore::<
            String,
            Option<u64>,
            StoreKeyCodec,
            crate::codec::Auto<crate::codec::Binary>,
        >::in_memory("n");
        s.put(&"k".into(), &Some(1)).unwrap();
        s.put(&"k".into(), &None).unwrap();
        assert_eq!(s.get(&"k".into()).unwrap(), None);
    }
}
