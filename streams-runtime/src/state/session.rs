//! Session stores: values per key and session (an activity period `[start, end]`, both
//! inclusive), kept for a retention period after the session ends.
//!
//! The byte-level trait [`BytesSessionStore`] and its segmented implementation
//! [`SegmentedSessionStore`] (in memory or in RocksDB, see [`segments`](super::segments),
//! segments chosen by session end). Keys are stored as Kafka Streams stores them,
//! `[key][session end: 8 bytes big-endian][session start: 8 bytes big-endian]`, which is also the
//! key of the store's changelog records: the sessions of a key sort by end, so the sessions that
//! a new record may merge with (ending no earlier than `t - gap`) are one range scan.
//!
//! The typed handle over it is [`SessionStore<K, V>`](super::SessionStore).

use std::ops::Bound;

use super::segments::{SegmentedStore, key_range_bounds};
use super::{BytesKeyValueStore, BytesStore};
use crate::error::StoreError;

/// Bytes after the key in a session store key: session end (8) and session start (8).
pub const SESSION_KEY_SUFFIX_LEN: usize = 16;

/// Appends the store key of `key`'s session `[start, end]` to `out`:
/// `[key][end as 8 bytes big-endian][start as 8 bytes big-endian]`.
pub fn encode_session_key(out: &mut Vec<u8>, key: &[u8], start: i64, end: i64) {
    out.reserve(key.len() + SESSION_KEY_SUFFIX_LEN);
    out.extend_from_slice(key);
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&start.to_be_bytes());
}

/// Splits a session store key into key, session start and session end.
pub fn decode_session_key(bytes: &[u8]) -> Option<(&[u8], i64, i64)> {
    let split = bytes.len().checked_sub(SESSION_KEY_SUFFIX_LEN)?;
    let (key, suffix) = bytes.split_at(split);
    let (end, start) = suffix.split_first_chunk::<8>()?;
    let start = <[u8; 8]>::try_from(start).ok()?;
    Some((key, i64::from_be_bytes(start), i64::from_be_bytes(*end)))
}

fn session_end(bytes: &[u8]) -> Option<i64> {
    decode_session_key(bytes).map(|(_, _, end)| end)
}

/// A session store over bytes. Flushing, restoring and listing entries (`[key][end][start]`, as
/// in the changelog) are every store's ([`BytesStore`]).
pub trait BytesSessionStore: BytesStore {
    /// Stores `value` (or removes, on `None`) for `key`'s session `[start, end]`; returns
    /// `false` when the session ended before the retention period and nothing was written.
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError>;
    /// The value of `key`'s session `[start, end]`.
    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Calls `visit(key, start, end, value)` for each session of the keys in `key_from..=key_to`
    /// (`None`: open) with `end >= earliest_session_end` and `start <= latest_session_start`
    /// (the sessions a record at `t` with gap `g` merges with, for `t - g` and `t + g`), ordered
    /// by end within each key and segment, until it returns `false`.
    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_session_end: i64,
        latest_session_start: i64,
        visit: &mut dyn FnMut(&[u8], i64, i64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// The latest session end written or restored (-1 before any): the store's clock for
    /// retention, and a lower bound of the stream time of whoever writes it.
    fn observed_stream_time(&self) -> i64;
}

/// A [`BytesSessionStore`] in time segments (by session end) over a key-value backend.
pub struct SegmentedSessionStore {
    segments: SegmentedStore,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for SegmentedSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedSessionStore")
            .field("name", &self.segments.name())
            .field(
                "observed_stream_time",
                &self.segments.observed_stream_time(),
            )
            .finish()
    }
}

impl SegmentedSessionStore {
    /// A session store named `name` over `backend`, keeping sessions for `retention_ms` after
    /// they end.
    pub fn new(
        name: &str,
        backend: Box<dyn BytesKeyValueStore>,
        retention_ms: i64,
    ) -> Result<Self, StoreError> {
        Ok(SegmentedSessionStore {
            segments: SegmentedStore::open(name, backend, retention_ms, session_end)?,
            scratch: Vec::new(),
        })
    }

    /// An in-memory session store.
    pub fn in_memory(name: &str, retention_ms: i64) -> Result<Self, StoreError> {
        Self::new(
            name,
            Box::new(super::InMemoryKeyValueStore::default()),
            retention_ms,
        )
    }

    /// Writes dropped so far for ending before the retention period.
    pub fn expired_records(&self) -> u64 {
        self.segments.expired_records()
    }
}

impl BytesSessionStore for SegmentedSessionStore {
    fn observed_stream_time(&self) -> i64 {
        self.segments.observed_stream_time()
    }

    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.segments.check_timestamp(start)?;
        if end < start {
            return Err(StoreError::MalformedKey {
                store: self.segments.name().to_owned(),
                message: format!("a session cannot end ({end}) before it starts ({start})"),
            });
        }
        let mut buffer = std::mem::take(&mut self.scratch);
        buffer.clear();
        encode_session_key(&mut buffer, key, start, end);
        let written = self.segments.put(&buffer, value);
        self.scratch = buffer;
        written
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        if start < 0 || end < start {
            return Ok(None);
        }
        let mut store_key = Vec::new();
        encode_session_key(&mut store_key, key, start, end);
        self.segments.get(&store_key)
    }

    fn find_sessions(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_session_end: i64,
        latest_session_start: i64,
        visit: &mut dyn FnMut(&[u8], i64, i64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if let (Some(from), Some(to)) = (key_from, key_to)
            && from > to
        {
            return Ok(());
        }
        if latest_session_start < 0 {
            return Ok(());
        }
        let earliest_end = earliest_session_end.max(0);
        // No session ends after the latest end written, which keeps the upper bound tight.
        let latest_end = self.segments.observed_stream_time();
        if latest_end < earliest_end {
            return Ok(());
        }
        let lower_suffix = [&earliest_end.to_be_bytes()[..], &[0; 8]].concat();
        let upper_suffix = [&latest_end.to_be_bytes()[..], &[0xff; 8]].concat();
        let (lower, upper) = key_range_bounds(key_from, key_to, &lower_suffix, &upper_suffix);
        self.segments.scan(
            earliest_end,
            latest_end,
            lower.as_deref().map_or(Bound::Unbounded, Bound::Included),
            upper.as_deref().map_or(Bound::Unbounded, Bound::Included),
            &mut |store_key, value| {
                let Some((key, start, end)) = decode_session_key(store_key) else {
                    return true;
                };
                // Bounds on variable-length keys also match other keys' sessions: filter them.
                let matches = key_from.is_none_or(|from| key >= from)
                    && key_to.is_none_or(|to| key <= to)
                    && end >= earliest_end
                    && start <= latest_session_start;
                !matches || visit(key, start, end, value)
            },
        )
    }
}

impl BytesStore for SegmentedSessionStore {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.segments.all(visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.segments.flush()
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.segments.restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        self.segments.clear()
    }

    fn is_persistent(&self) -> bool {
        self.segments.is_persistent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_layout_is_kafka_streams() {
        let mut key = Vec::new();
        encode_session_key(&mut key, b"k", 3, 0x0104);
        assert_eq!(key, b"k\0\0\0\0\0\0\x01\x04\0\0\0\0\0\0\0\x03");
        assert_eq!(decode_session_key(&key), Some((&b"k"[..], 3, 0x0104)));
        assert_eq!(decode_session_key(&[0; 15]), None);
    }

    #[test]
    fn a_session_ending_before_it_starts_is_an_error() {
        let mut store = SegmentedSessionStore::in_memory("s", 600_000).unwrap();
        assert!(store.put(b"k", 10, 5, Some(b"v")).is_err());
        assert!(matches!(
            store.put(b"k", -1, 5, Some(b"v")),
            Err(StoreError::NegativeTimestamp { .. })
        ));
    }
}
