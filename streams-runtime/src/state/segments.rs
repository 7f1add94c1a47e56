//! Time segments: how window and session stores keep only their retention period.
//!
//! As in Kafka Streams, a windowed store splits time into segments of
//! `max(retention / 2, 60 s)` and drops a whole segment once every record it can hold is older
//! than the retention period, so expiring data costs one range deletion instead of a delete per
//! record. The store's clock is the largest timestamp it has been written with (its observed
//! stream time); a write older than `observed - retention` is dropped and counted, like Kafka
//! Streams' `dropped-records` sensor, and reads never show records past retention even while
//! their segment still exists.
//!
//! Layout: one byte-level key-value backend per store, every key prefixed by its segment id
//! (8 bytes, big-endian), so a segment is one contiguous key range. Kafka Streams' RocksDB stores
//! open one database per segment instead; we keep one database per store because then opening,
//! flushing, checkpointing and rebuilding a damaged store work exactly as for key-value stores
//! (one directory, one `CURRENT` file, one set of memtables charged to the shared
//! [`RocksDbMemory`](super::RocksDbMemory)), and dropping a segment is still a single RocksDB range
//! tombstone (`delete_range`) whose space compaction reclaims. The in-memory backend is the same
//! layout in one sorted map. Window and session stores differ only in where their key schema keeps
//! the timestamp that picks the segment.

use std::ops::Bound;

use super::BytesKeyValueStore;
use crate::error::StoreError;

/// The smallest segment, as in Kafka Streams: short retentions would otherwise make many tiny
/// segments.
const MIN_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// Bytes of the segment-id prefix of every backend key.
const PREFIX_LEN: usize = 8;

/// The segment length of a store with the given retention: `max(retention / 2, 60 s)`.
pub fn segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(MIN_SEGMENT_INTERVAL_MS)
}

/// Reads the timestamp that places a store key in a segment (window start, session end).
pub(crate) type SegmentTimestamp = fn(&[u8]) -> Option<i64>;

/// A byte-level store split into time segments, over one key-value backend.
pub(crate) struct SegmentedStore {
    name: String,
    backend: Box<dyn BytesKeyValueStore>,
    retention: i64,
    interval: i64,
    /// The largest segment timestamp written so far; -1 before the first write, as in Kafka
    /// Streams.
    observed: i64,
    /// Every segment below this id has been deleted.
    live_from: u64,
    /// Writes dropped because they were older than the retention period.
    expired_records: u64,
    segment_timestamp: SegmentTimestamp,
    scratch: Vec<u8>,
}

impl SegmentedStore {
    /// A store over `backend`, recovering its observed stream time from the data it holds (a
    /// reopened RocksDB store), so retention applies at once rather than after the next write.
    pub(crate) fn open(
        name: &str,
        backend: Box<dyn BytesKeyValueStore>,
        retention_ms: i64,
        segment_timestamp: SegmentTimestamp,
    ) -> Result<Self, StoreError> {
        if retention_ms <= 0 {
            return Err(StoreError::InvalidConfig {
                store: name.to_owned(),
                message: format!("the retention period must be positive, not {retention_ms} ms"),
            });
        }
        let mut store = SegmentedStore {
            name: name.to_owned(),
            backend,
            retention: retention_ms,
            interval: segment_interval(retention_ms),
            observed: -1,
            live_from: 0,
            expired_records: 0,
            segment_timestamp,
            scratch: Vec::new(),
        };
        store.observed = store.recover_observed()?;
        Ok(store)
    }

    /// The largest segment timestamp in the backend: the last segment is found by jumping from
    /// segment to segment (there are only a few), then scanned.
    fn recover_observed(&self) -> Result<i64, StoreError> {
        let mut last = None;
        let mut from: Option<[u8; PREFIX_LEN]> = None;
        loop {
            let mut next = None;
            let lower = from
                .as_ref()
                .map_or(Bound::Unbounded, |p| Bound::Included(&p[..]));
            self.backend.scan(lower, Bound::Unbounded, &mut |k, _| {
                next = segment_of(k);
                false
            })?;
            match next {
                Some(id) => {
                    last = Some(id);
                    match id.checked_add(1) {
                        Some(following) => from = Some(following.to_be_bytes()),
                        None => break,
                    }
                }
                None => break,
            }
        }
        let Some(last) = last else {
            return Ok(-1);
        };
        let mut observed = -1;
        let (prefix, end) = (
            last.to_be_bytes(),
            last.checked_add(1).map(u64::to_be_bytes),
        );
        let upper = end
            .as_ref()
            .map_or(Bound::Unbounded, |e| Bound::Excluded(&e[..]));
        let mut malformed = false;
        self.backend
            .scan(Bound::Included(&prefix[..]), upper, &mut |k, _| {
                match (self.segment_timestamp)(&k[PREFIX_LEN.min(k.len())..]) {
                    Some(ts) => observed = observed.max(ts),
                    None => malformed = true,
                }
                true
            })?;
        if malformed {
            return Err(self.malformed("a key in the last segment has no timestamp"));
        }
        Ok(observed)
    }

    /// The store's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The largest segment timestamp written so far (-1 before the first write).
    pub(crate) fn observed_stream_time(&self) -> i64 {
        self.observed
    }

    /// Writes dropped so far for being older than the retention period.
    pub(crate) fn expired_records(&self) -> u64 {
        self.expired_records
    }

    /// The oldest timestamp still inside the retention period.
    fn min_live_timestamp(&self) -> i64 {
        (self.observed - self.retention + 1).max(0)
    }

    fn segment_id(&self, timestamp: i64) -> u64 {
        // Timestamps are checked non-negative before they get here.
        (timestamp.max(0) / self.interval) as u64
    }

    /// Checks a timestamp given to the store.
    pub(crate) fn check_timestamp(&self, timestamp: i64) -> Result<(), StoreError> {
        if timestamp < 0 {
            Err(StoreError::NegativeTimestamp {
                store: self.name.clone(),
                timestamp,
            })
        } else {
            Ok(())
        }
    }

    /// A malformed-key error of this store.
    pub(crate) fn malformed(&self, message: impl Into<String>) -> StoreError {
        StoreError::MalformedKey {
            store: self.name.clone(),
            message: message.into(),
        }
    }

    /// Moves the observed stream time to `timestamp` if later, deleting the segments that fall
    /// out of the retention period.
    fn observe(&mut self, timestamp: i64) -> Result<(), StoreError> {
        if timestamp <= self.observed {
            return Ok(());
        }
        self.observed = timestamp;
        let first_live = self.segment_id(self.min_live_timestamp());
        if first_live > self.live_from {
            self.backend
                .delete_range(&0u64.to_be_bytes(), &first_live.to_be_bytes())?;
            self.live_from = first_live;
        }
        Ok(())
    }

    fn count_expired(&mut self, timestamp: i64) {
        self.expired_records += 1;
        tracing::debug!(
            store = %self.name,
            timestamp,
            observed_stream_time = self.observed,
            retention_ms = self.retention,
            dropped_records = self.expired_records,
            "skipping a record older than the store's retention period"
        );
    }

    /// Writes (`Some`) or deletes (`None`) `key`; returns `false` when the record was dropped
    /// for being older than the retention period.
    pub(crate) fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<bool, StoreError> {
        let timestamp = (self.segment_timestamp)(key)
            .ok_or_else(|| self.malformed("a key too short for its timestamps"))?;
        self.check_timestamp(timestamp)?;
        self.observe(timestamp)?;
        if timestamp < self.min_live_timestamp() {
            self.count_expired(timestamp);
            return Ok(false);
        }
        let mut buffer = std::mem::take(&mut self.scratch);
        buffer.clear();
        buffer.extend_from_slice(&self.segment_id(timestamp).to_be_bytes());
        buffer.extend_from_slice(key);
        let result = match value {
            Some(value) => self.backend.put(&buffer, value),
            None => self.backend.delete(&buffer).map(drop),
        };
        self.scratch = buffer;
        result.map(|()| true)
    }

    /// The value under `key`, if it is inside the retention period.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let timestamp = (self.segment_timestamp)(key)
            .ok_or_else(|| self.malformed("a key too short for its timestamps"))?;
        if timestamp < self.min_live_timestamp() || timestamp > self.observed {
            return Ok(None);
        }
        let mut full = Vec::with_capacity(PREFIX_LEN + key.len());
        full.extend_from_slice(&self.segment_id(timestamp).to_be_bytes());
        full.extend_from_slice(key);
        self.backend.get(&full)
    }

    /// Applies changelog records in order (`None` deletes), without logging: the batch's latest
    /// timestamp moves the clock first, so a record that the batch itself expires is not
    /// written only to be deleted.
    pub(crate) fn restore_batch(
        &mut self,
        records: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> Result<(), StoreError> {
        let mut latest = -1;
        for (key, _) in records {
            let timestamp = (self.segment_timestamp)(key)
                .ok_or_else(|| self.malformed("a changelog key too short for its timestamps"))?;
            self.check_timestamp(timestamp)?;
            latest = latest.max(timestamp);
        }
        self.observe(latest)?;
        let min_live = self.min_live_timestamp();
        let mut live = Vec::with_capacity(records.len());
        for (key, value) in records {
            let timestamp = (self.segment_timestamp)(key).unwrap_or(-1);
            if timestamp < min_live {
                self.count_expired(timestamp);
                continue;
            }
            let mut full = Vec::with_capacity(PREFIX_LEN + key.len());
            full.extend_from_slice(&self.segment_id(timestamp).to_be_bytes());
            full.extend_from_slice(key);
            live.push((full, value.clone()));
        }
        self.backend.restore_batch(&live)
    }

    /// Calls `visit` with each live entry whose segment timestamp lies in `[time_from, time_to]`
    /// and whose key (without segment prefix) lies within `from..=to` inside each segment, in
    /// segment order then key order, until it returns `false`. Bounds are on the schema's keys;
    /// the caller filters false matches of variable-length keys.
    pub(crate) fn scan(
        &self,
        time_from: i64,
        time_to: i64,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let time_from = time_from.max(self.min_live_timestamp());
        // Nothing was written after the observed stream time.
        let time_to = time_to.min(self.observed);
        if time_to < time_from {
            return Ok(());
        }
        let (first, last) = (self.segment_id(time_from), self.segment_id(time_to));
        let mut lower = Vec::new();
        let mut upper = Vec::new();
        for segment in first..=last {
            let prefix = segment.to_be_bytes();
            lower.clear();
            lower.extend_from_slice(&prefix);
            if let Bound::Included(from) | Bound::Excluded(from) = from {
                lower.extend_from_slice(from);
            }
            upper.clear();
            let upper_bound = match to {
                Bound::Included(to) => {
                    upper.extend_from_slice(&prefix);
                    upper.extend_from_slice(to);
                    Bound::Included(&upper[..])
                }
                Bound::Excluded(to) => {
                    upper.extend_from_slice(&prefix);
                    upper.extend_from_slice(to);
                    Bound::Excluded(&upper[..])
                }
                Bound::Unbounded => match segment.checked_add(1) {
                    Some(next) => {
                        upper.extend_from_slice(&next.to_be_bytes());
                        Bound::Excluded(&upper[..])
                    }
                    None => Bound::Unbounded,
                },
            };
            let lower_bound = match from {
                Bound::Excluded(_) => Bound::Excluded(&lower[..]),
                _ => Bound::Included(&lower[..]),
            };
            let mut more = true;
            self.backend.scan(lower_bound, upper_bound, &mut |k, v| {
                let key = &k[PREFIX_LEN.min(k.len())..];
                let live = (self.segment_timestamp)(key)
                    .is_some_and(|ts| ts >= time_from && ts <= time_to);
                if live {
                    more = visit(key, v);
                }
                more
            })?;
            if !more {
                break;
            }
        }
        Ok(())
    }

    /// Every live entry, in segment order then key order.
    pub(crate) fn all(
        &self,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.scan(0, i64::MAX, Bound::Unbounded, Bound::Unbounded, visit)
    }

    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        self.backend.flush()
    }

    pub(crate) fn clear(&mut self) -> Result<(), StoreError> {
        self.backend.clear()?;
        self.observed = -1;
        self.live_from = 0;
        Ok(())
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.backend.is_persistent()
    }
}

fn segment_of(key: &[u8]) -> Option<u64> {
    key.first_chunk::<PREFIX_LEN>()
        .map(|prefix| u64::from_be_bytes(*prefix))
}

/// The scan bounds, on schema keys `[key][suffix]`, of the keys from `key_from` to `key_to`
/// (`None`: open) whose fixed-size suffixes lie in `lower_suffix..=upper_suffix`.
///
/// Keys have variable length and no delimiter, so the bytes of one key may begin with another
/// key: `"a"` with any suffix can sort after `"a\0"` with a smaller one. For a single key the
/// tight range `[key][lower]..=[key][upper]` still holds all its entries (and maybe some of
/// longer keys, which callers filter out). For a range, any key above `key_from` has bytes of at
/// least `[key_from][0 ..]`, and any key up to `key_to` is at most the largest of
/// `[a prefix of key_to][upper]`, which is what the bounds use.
pub(crate) fn key_range_bounds(
    key_from: Option<&[u8]>,
    key_to: Option<&[u8]>,
    lower_suffix: &[u8],
    upper_suffix: &[u8],
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    if let (Some(from), Some(to)) = (key_from, key_to)
        && from == to
    {
        return (
            Some([from, lower_suffix].concat()),
            Some([to, upper_suffix].concat()),
        );
    }
    let lower = key_from.map(|from| {
        let mut bytes = from.to_vec();
        bytes.resize(from.len() + lower_suffix.len(), 0);
        bytes
    });
    let upper = key_to.map(|to| {
        (0..=to.len())
            .map(|len| [&to[..len], upper_suffix].concat())
            .max()
            .unwrap_or_default()
    });
    (lower, upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InMemoryKeyValueStore;

    /// A schema whose key is just an 8-byte timestamp.
    fn timestamp_only(key: &[u8]) -> Option<i64> {
        key.first_chunk::<8>().map(|t| i64::from_be_bytes(*t))
    }

    fn store(retention: i64) -> SegmentedStore {
        SegmentedStore::open(
            "s",
            Box::new(InMemoryKeyValueStore::default()),
            retention,
            timestamp_only,
        )
        .unwrap()
    }

    fn timestamps(store: &SegmentedStore) -> Vec<i64> {
        let mut out = Vec::new();
        store
            .all(&mut |k, _| {
                out.extend(timestamp_only(k));
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn segment_interval_is_half_the_retention_but_at_least_a_minute() {
        assert_eq!(segment_interval(1_000), 60_000);
        assert_eq!(segment_interval(120_000), 60_000);
        assert_eq!(segment_interval(86_400_000), 43_200_000);
    }

    #[test]
    fn records_past_retention_are_dropped_and_their_segments_deleted() {
        let mut s = store(120_000);
        for ts in [0, 59_999, 60_000, 190_000] {
            assert!(s.put(&i64::to_be_bytes(ts), Some(b"v")).unwrap());
        }
        // Stream time 190 000: live from 70 001, in segment 1 ([60 000, 120 000)); segment 0
        // is deleted, and 60 000 is hidden until its segment goes.
        assert_eq!(timestamps(&s), [190_000]);
        assert!(!s.put(&i64::to_be_bytes(70_000), Some(b"v")).unwrap());
        assert_eq!(s.expired_records(), 1);
        assert!(s.put(&i64::to_be_bytes(70_001), Some(b"v")).unwrap());
        assert_eq!(timestamps(&s), [70_001, 190_000]);
        let mut raw = Vec::new();
        s.backend
            .scan(Bound::Unbounded, Bound::Unbounded, &mut |k, _| {
                raw.extend(segment_of(k));
                true
            })
            .unwrap();
        assert_eq!(raw, [1, 1, 3], "segment 0 is deleted as a whole");
    }

    #[test]
    fn negative_timestamps_are_rejected() {
        let mut s = store(120_000);
        let error = s.put(&i64::to_be_bytes(-5), Some(b"v")).unwrap_err();
        assert!(
            matches!(error, StoreError::NegativeTimestamp { timestamp: -5, .. }),
            "{error}"
        );
    }

    #[test]
    fn range_bounds_cover_keys_that_are_prefixes_of_each_other() {
        let (lower, upper) = key_range_bounds(Some(b"a"), Some(b"a\0"), &[0; 2], &[0, 5]);
        assert_eq!(lower.unwrap(), b"a\0\0");
        // "a" followed by the largest suffix sorts after "a\0" followed by it.
        assert_eq!(upper.unwrap(), b"a\0\x05");
        let (_, upper) = key_range_bounds(None, Some(b"b"), &[0], &[0xff]);
        assert_eq!(upper.unwrap(), b"\xff", "the empty key may have any suffix");
        let (lower, upper) = key_range_bounds(Some(b"k"), Some(b"k"), &[1], &[2]);
        assert_eq!(
            (lower.unwrap(), upper.unwrap()),
            (b"k\x01".to_vec(), b"k\x02".to_vec())
        );
        assert_eq!(key_range_bounds(None, None, &[0], &[1]), (None, None));
    }
}
