//! Window stores: values per key and time window, kept for a retention period.
//!
//! The byte-level trait [`BytesWindowStore`] and its segmented implementation
//! [`SegmentedWindowStore`] (in memory or in RocksDB, see [`segments`](super::segments)). Keys are
//! stored as Kafka Streams stores them, `[key][window start: 8 bytes big-endian][sequence number:
//! 4 bytes]`, so the windows of one key are one range scan in window-start order; this is also
//! the key of the store's changelog records. The sequence number is 0 unless the store retains
//! duplicates (stream-stream joins keep every record of a key and time), in which case each
//! write gets the next number and never replaces another.
//!
//! The typed handle over it is [`WindowStore<K, V>`](super::WindowStore).

use std::ops::Bound;

use super::segments::{SegmentedStore, key_range_bounds};
use super::{BytesKeyValueStore, BytesStore};
use crate::error::StoreError;

/// Bytes after the key in a window store key: window start (8) and sequence number (4).
pub const WINDOW_KEY_SUFFIX_LEN: usize = 12;

/// Appends the store key of `key`'s window starting at `window_start` to `out`:
/// `[key][window_start as 8 bytes big-endian][sequence_number as 4 bytes big-endian]`.
pub fn encode_window_key(out: &mut Vec<u8>, key: &[u8], window_start: i64, sequence_number: u32) {
    out.reserve(key.len() + WINDOW_KEY_SUFFIX_LEN);
    out.extend_from_slice(key);
    out.extend_from_slice(&window_start.to_be_bytes());
    out.extend_from_slice(&sequence_number.to_be_bytes());
}

/// Splits a window store key into key, window start and sequence number.
pub fn decode_window_key(bytes: &[u8]) -> Option<(&[u8], i64, u32)> {
    let split = bytes.len().checked_sub(WINDOW_KEY_SUFFIX_LEN)?;
    let (key, suffix) = bytes.split_at(split);
    let (start, sequence) = suffix.split_first_chunk::<8>()?;
    let sequence = <[u8; 4]>::try_from(sequence).ok()?;
    Some((
        key,
        i64::from_be_bytes(*start),
        u32::from_be_bytes(sequence),
    ))
}

fn window_start(bytes: &[u8]) -> Option<i64> {
    decode_window_key(bytes).map(|(_, start, _)| start)
}

/// A window store over bytes: values per key and window start, in a retention period.
///
/// Time bounds are inclusive on window starts, as in Kafka Streams. Writes older than the
/// retention period (relative to the largest window start written) are dropped. Flushing,
/// restoring and listing entries (`[key][window start][sequence number]`, as in the changelog)
/// are every store's ([`BytesStore`]).
pub trait BytesWindowStore: BytesStore {
    /// Stores `value` (or deletes, on `None`) for `key`'s window starting at `window_start`;
    /// returns the sequence number of the entry written, or `None` when nothing was written (the
    /// window is past retention, or a delete in a store that retains duplicates).
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<Option<u32>, StoreError>;
    /// The value of `key`'s window starting at `window_start` (the first, in a store that
    /// retains duplicates).
    fn get(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let mut found = None;
        self.fetch(key, window_start, window_start, &mut |_, value| {
            found = Some(value.to_vec());
            false
        })?;
        Ok(found)
    }
    /// Calls `visit(window_start, value)` for each window of `key` starting in
    /// `time_from..=time_to`, in window-start order, until it returns `false`.
    fn fetch(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(i64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Calls `visit(key, window_start, value)` for each window of the keys in
    /// `key_from..=key_to` (`None`: open) starting in `time_from..=time_to`, per segment in key
    /// then window-start order, until it returns `false`.
    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Every window starting in `time_from..=time_to`, as [`fetch_range`](Self::fetch_range)
    /// over all keys.
    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.fetch_range(None, None, time_from, time_to, visit)
    }
    /// Every window in the store.
    fn all(&self, visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool) -> Result<(), StoreError> {
        self.fetch_all(0, i64::MAX, visit)
    }
    /// The window size in milliseconds (window end = start + size).
    fn window_size(&self) -> i64;
    /// The latest window start written or restored (-1 before any): the store's clock for
    /// retention, and a lower bound of the stream time of whoever writes it.
    fn observed_stream_time(&self) -> i64;
}

/// A [`BytesWindowStore`] in time segments over a key-value backend: an
/// [`InMemoryKeyValueStore`](super::InMemoryKeyValueStore) or a
/// `RocksDbKeyValueStore` (feature `rocksdb`) of its own directory.
pub struct SegmentedWindowStore {
    segments: SegmentedStore,
    window_size: i64,
    retain_duplicates: bool,
    sequence_number: u32,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SegmentedWindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedWindowStore")
            .field("name", &self.segments.name())
            .field("window_size", &self.window_size)
            .field(
                "observed_stream_time",
                &self.segments.observed_stream_time(),
            )
            .finish()
    }
}

impl SegmentedWindowStore {
    /// A window store named `name` over `backend` keeping `retention_ms` of windows of
    /// `window_size_ms`; with `retain_duplicates` every write is kept, none replaces another.
    pub fn new(
        name: &str,
        backend: Box<dyn BytesKeyValueStore>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Result<Self, StoreError> {
        if window_size_ms < 0 || window_size_ms > retention_ms {
            return Err(StoreError::InvalidConfig {
                store: name.to_owned(),
                message: format!(
                    "the window size ({window_size_ms} ms) must be between 0 and the retention period ({retention_ms} ms)"
                ),
            });
        }
        Ok(SegmentedWindowStore {
            segments: SegmentedStore::open(name, backend, retention_ms, window_start)?,
            window_size: window_size_ms,
            retain_duplicates,
            sequence_number: 0,
            scratch: Vec::new(),
        })
    }

    /// An in-memory window store.
    pub fn in_memory(
        name: &str,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Result<Self, StoreError> {
        Self::new(
            name,
            Box::new(super::InMemoryKeyValueStore::default()),
            retention_ms,
            window_size_ms,
            retain_duplicates,
        )
    }

    /// Writes dropped so far for being older than the retention period.
    pub fn expired_records(&self) -> u64 {
        self.segments.expired_records()
    }
}

impl BytesWindowStore for SegmentedWindowStore {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<Option<u32>, StoreError> {
        // A store of duplicates has nothing to delete: no write names an earlier one.
        if self.retain_duplicates && value.is_none() {
            return Ok(None);
        }
        self.segments.check_timestamp(window_start)?;
        let sequence = if self.retain_duplicates {
            self.sequence_number = self.sequence_number.wrapping_add(1);
            self.sequence_number
        } else {
            0
        };
        let mut buffer = std::mem::take(&mut self.scratch);
        buffer.clear();
        encode_window_key(&mut buffer, key, window_start, sequence);
        let written = self.segments.put(&buffer, value);
        self.scratch = buffer;
        Ok(written?.then_some(sequence))
    }

    fn get(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        if self.retain_duplicates {
            let mut found = None;
            self.fetch(key, window_start, window_start, &mut |_, value| {
                found = Some(value.to_vec());
                false
            })?;
            return Ok(found);
        }
        // One window of one key is one store key: a point lookup, no range scan.
        let mut store_key = Vec::with_capacity(key.len() + WINDOW_KEY_SUFFIX_LEN);
        encode_window_key(&mut store_key, key, window_start, 0);
        self.segments.get(&store_key)
    }

    fn fetch(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.fetch_range(
            Some(key),
            Some(key),
            time_from,
            time_to,
            &mut |_, start, v| visit(start, v),
        )
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        visit: &mut dyn FnMut(&[u8], i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if let (Some(from), Some(to)) = (key_from, key_to)
            && from > to
        {
            return Ok(());
        }
        let time_from = time_from.max(0);
        // No window starts after the latest start written, which keeps range bounds tight.
        let time_to = time_to.min(self.segments.observed_stream_time());
        if time_to < time_from {
            return Ok(());
        }
        let lower_suffix = [&time_from.to_be_bytes()[..], &[0; 4]].concat();
        let upper_suffix = [&time_to.to_be_bytes()[..], &[0xff; 4]].concat();
        let (lower, upper) = key_range_bounds(key_from, key_to, &lower_suffix, &upper_suffix);
        self.segments.scan(
            time_from,
            time_to,
            lower.as_deref().map_or(Bound::Unbounded, Bound::Included),
            upper.as_deref().map_or(Bound::Unbounded, Bound::Included),
            &mut |store_key, value| {
                let Some((key, start, _)) = decode_window_key(store_key) else {
                    return true;
                };
                // Bounds on variable-length keys also match other keys' windows: filter them.
                let in_range = key_from.is_none_or(|from| key >= from)
                    && key_to.is_none_or(|to| key <= to)
                    && (time_from..=time_to).contains(&start);
                !in_range || visit(key, start, value)
            },
        )
    }

    fn window_size(&self) -> i64 {
        self.window_size
    }

    fn observed_stream_time(&self) -> i64 {
        self.segments.observed_stream_time()
    }
}

impl BytesStore for SegmentedWindowStore {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.segments.all(visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.segments.flush()
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        if self.retain_duplicates {
            // Continue numbering after the restored entries, so new writes do not replace them.
            for (key, _) in records {
                if let Some((_, _, sequence)) = decode_window_key(key) {
                    self.sequence_number = self.sequence_number.max(sequence);
                }
            }
        }
        self.segments.restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.sequence_number = 0;
        self.segments.clear()
    }

    fn is_persistent(&self) -> bool {
        self.segments.is_persistent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(store: &SegmentedWindowStore, key: &[u8], from: i64, to: i64) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        store
            .fetch(key, from, to, &mut |start, v| {
                out.push((start, v.to_vec()));
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn the_key_layout_is_kafka_streams() {
        let mut key = Vec::new();
        encode_window_key(&mut key, b"k", 0x0102, 7);
        assert_eq!(key, b"k\0\0\0\0\0\0\x01\x02\0\0\0\x07");
        assert_eq!(decode_window_key(&key), Some((&b"k"[..], 0x0102, 7)));
        assert_eq!(decode_window_key(&[0; 11]), None);
    }

    #[test]
    fn duplicates_are_all_kept_in_write_order() {
        let mut store = SegmentedWindowStore::in_memory("d", 600_000, 10, true).unwrap();
        assert_eq!(store.put(b"k", 5, Some(b"a")).unwrap(), Some(1));
        assert_eq!(store.put(b"k", 5, Some(b"b")).unwrap(), Some(2));
        assert_eq!(store.put(b"k", 5, None).unwrap(), None);
        assert_eq!(
            starts(&store, b"k", 0, 10),
            [(5, b"a".to_vec()), (5, b"b".to_vec())]
        );
    }

    #[test]
    fn a_window_larger_than_the_retention_is_a_config_error() {
        let error = SegmentedWindowStore::in_memory("w", 10, 20, false).unwrap_err();
        assert!(matches!(error, StoreError::InvalidConfig { .. }), "{error}");
    }
}
