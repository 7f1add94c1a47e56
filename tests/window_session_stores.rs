//! Window and session stores on both backends (in memory and RocksDB): fetches by key and time
//! range with inclusive bounds, key ranges, keys that are byte prefixes of each other, overwrite
//! and delete, retention by segments, reopening RocksDB stores, session merge queries, and the
//! changelog records of both kinds (their exact keys, and restoring them into a fresh store).

use std::time::Duration;

use streams::prelude::*;
use streams::state::{
    BytesKeyValueStore, BytesStore, BytesWindowStore, InMemoryKeyValueStore, RocksDbKeyValueStore,
    RocksDbMemory, SegmentedSessionStore, SegmentedWindowStore, encode_session_key,
    encode_window_key,
};

fn memory() -> RocksDbMemory {
    RocksDbMemory::new(16 << 20)
}

/// Runs the same checks on a key-value backend of each kind (segmented stores sit on top).
fn on_each_backend(check: impl Fn(&str, Box<dyn BytesKeyValueStore>)) {
    check("in-memory", Box::new(InMemoryKeyValueStore::default()));
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksDbKeyValueStore::open("s", &dir.path().join("s"), &memory()).unwrap();
    check("rocksdb", Box::new(rocks));
}

const MINUTE: i64 = 60_000;

fn window_bytes(
    bytes: Box<dyn BytesKeyValueStore>,
    retention: i64,
    size: i64,
) -> SegmentedWindowStore {
    SegmentedWindowStore::new("w", bytes, retention, size, false).unwrap()
}

fn windows(
    bytes: Box<dyn BytesKeyValueStore>,
    retention: i64,
    size: i64,
) -> WindowStore<String, u64> {
    WindowStore::over("w", Box::new(window_bytes(bytes, retention, size)))
}

fn sessions(bytes: Box<dyn BytesKeyValueStore>, retention: i64) -> SessionStore<String, u64> {
    let backend = SegmentedSessionStore::new("s", bytes, retention).unwrap();
    SessionStore::over("s", Box::new(backend))
}

fn key(k: &str) -> String {
    k.to_owned()
}

fn windowed(k: &str, start: i64, end: i64, value: u64) -> (Windowed<String>, u64) {
    (Windowed::new(key(k), start, end), value)
}

/// A key whose bytes are `"a"` followed by what looks like window start 5 of key `"a"`.
const LONG_A: &str = "a\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{5}";

#[test]
fn window_fetches_by_key_and_inclusive_time_range() {
    on_each_backend(|backend, bytes| {
        let mut store = windows(bytes, 10 * MINUTE, 10);
        for (k, v, start) in [("a", 1, 0), ("a", 2, 10), ("a", 3, 20), ("b", 4, 10)] {
            store.put(&key(k), &v, start).unwrap();
        }
        let a = key("a");
        assert_eq!(
            store.fetch_time_range(&a, 10, 20).unwrap(),
            [(10, 2), (20, 3)],
            "{backend}"
        );
        assert_eq!(
            store.fetch_time_range(&a, 0, 9).unwrap(),
            [(0, 1)],
            "{backend}"
        );
        assert_eq!(
            store.fetch_time_range(&a, 21, 1000).unwrap(),
            [],
            "{backend}"
        );
        assert_eq!(
            store.fetch_time_range(&a, 20, 10).unwrap(),
            [],
            "inverted: {backend}"
        );
        assert_eq!(
            store.fetch_time_range(&a, -10, 0).unwrap(),
            [(0, 1)],
            "a negative lower bound reads from 0: {backend}"
        );
        assert_eq!(store.fetch(&a, 10).unwrap(), Some(2), "{backend}");
        assert_eq!(store.fetch(&a, 5).unwrap(), None, "{backend}");
        assert_eq!(store.fetch(&key("b"), 10).unwrap(), Some(4), "{backend}");
        assert_eq!(store.fetch(&key("c"), 10).unwrap(), None, "{backend}");
    });
}

#[test]
fn window_key_range_and_time_range_fetches() {
    on_each_backend(|backend, bytes| {
        let mut store = windows(bytes, 10 * MINUTE, 10);
        for (k, v, start) in [
            ("a", 1, 0),
            ("b", 2, 0),
            ("b", 3, 10),
            ("c", 4, 10),
            ("c", 5, 20),
            ("d", 6, 10),
        ] {
            store.put(&key(k), &v, start).unwrap();
        }
        assert_eq!(
            store
                .fetch_key_range(Some(&key("b")), Some(&key("c")), 0, 10)
                .unwrap(),
            [
                windowed("b", 0, 10, 2),
                windowed("b", 10, 20, 3),
                windowed("c", 10, 20, 4)
            ],
            "{backend}"
        );
        assert_eq!(
            store.fetch_key_range(None, Some(&key("b")), 0, 0).unwrap(),
            [windowed("a", 0, 10, 1), windowed("b", 0, 10, 2)],
            "{backend}"
        );
        assert_eq!(
            store
                .fetch_key_range(Some(&key("c")), None, 15, 100)
                .unwrap(),
            [windowed("c", 20, 30, 5)],
            "{backend}"
        );
        assert_eq!(
            store
                .fetch_key_range(Some(&key("c")), Some(&key("b")), 0, 100)
                .unwrap(),
            [],
            "inverted: {backend}"
        );
        assert_eq!(
            store.fetch_all(10, 10).unwrap(),
            [
                windowed("b", 10, 20, 3),
                windowed("c", 10, 20, 4),
                windowed("d", 10, 20, 6)
            ],
            "{backend}"
        );
        assert_eq!(store.all().unwrap().len(), 6, "{backend}");
    });
}

#[test]
fn keys_that_are_byte_prefixes_of_each_other_do_not_mix() {
    on_each_backend(|backend, bytes| {
        let mut store = windows(bytes, 10 * MINUTE, 10);
        let (a, a0, long) = (key("a"), key("a\u{0}"), key(LONG_A));
        store.put(&a, &1, 5).unwrap();
        store.put(&a0, &2, 5).unwrap();
        store.put(&long, &3, 0).unwrap();
        store.put(&long, &4, 7).unwrap();
        // The long key's entries sort inside the range of `"a"`'s window 5: filtered out.
        assert_eq!(
            store.fetch_time_range(&a, 0, 10).unwrap(),
            [(5, 1)],
            "{backend}"
        );
        assert_eq!(store.fetch(&a, 5).unwrap(), Some(1), "{backend}");
        assert_eq!(
            store.fetch_time_range(&a0, 0, 10).unwrap(),
            [(5, 2)],
            "{backend}"
        );
        assert_eq!(
            store.fetch_time_range(&long, 0, 10).unwrap(),
            [(0, 3), (7, 4)],
            "{backend}"
        );
        assert_eq!(
            store.fetch_key_range(Some(&a), Some(&a0), 0, 10).unwrap(),
            [windowed("a\u{0}", 5, 15, 2), windowed("a", 5, 15, 1)],
            "in store-key order: {backend}"
        );
        assert_eq!(
            store
                .fetch_key_range(Some(&a0), Some(&long), 6, 10)
                .unwrap(),
            [windowed(LONG_A, 7, 17, 4)],
            "{backend}"
        );
    });
}

#[test]
fn a_window_is_overwritten_and_deleted() {
    on_each_backend(|backend, bytes| {
        let mut store = windows(bytes, 10 * MINUTE, 10);
        let a = key("a");
        store.put(&a, &1, 0).unwrap();
        store.put(&a, &2, 0).unwrap();
        store.put(&a, &3, 10).unwrap();
        assert_eq!(store.fetch(&a, 0).unwrap(), Some(2), "{backend}");
        assert_eq!(
            store.all().unwrap(),
            [windowed("a", 0, 10, 2), windowed("a", 10, 20, 3)]
        );
        store.delete(&a, 0).unwrap();
        assert_eq!(store.fetch(&a, 0).unwrap(), None, "{backend}");
        assert_eq!(
            store.all().unwrap(),
            [windowed("a", 10, 20, 3)],
            "{backend}"
        );
    });
}

#[test]
fn windows_past_retention_expire_and_late_writes_are_dropped() {
    on_each_backend(|backend, bytes| {
        // Retention 2 minutes: segments of 1 minute.
        let mut store = window_bytes(bytes, 2 * MINUTE, 10);
        for start in [0, 50_000, 70_000] {
            assert_eq!(
                store.put(b"a", start, Some(b"v")).unwrap(),
                Some(0),
                "{backend}"
            );
        }
        assert_eq!(
            store.put(b"a", 190_000, Some(b"w")).unwrap(),
            Some(0),
            "{backend}"
        );
        // Stream time 190 000: windows from 70 001 on are live.
        let mut seen = Vec::new();
        store
            .all(&mut |k, start, v| {
                seen.push((k.to_vec(), start, v.to_vec()));
                true
            })
            .unwrap();
        assert_eq!(seen, [(b"a".to_vec(), 190_000, b"w".to_vec())], "{backend}");
        assert_eq!(
            store.put(b"a", 60_000, Some(b"late")).unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(
            store.put(b"a", 70_000, Some(b"late")).unwrap(),
            None,
            "{backend}"
        );
        assert_eq!(store.expired_records(), 2, "{backend}");
        assert_eq!(
            store.put(b"a", 70_001, Some(b"x")).unwrap(),
            Some(0),
            "{backend}"
        );
        let mut starts = Vec::new();
        store
            .fetch(b"a", 0, i64::MAX, &mut |start, _| {
                starts.push(start);
                true
            })
            .unwrap();
        assert_eq!(starts, [70_001, 190_000], "{backend}");
        let mut entries = 0;
        store
            .entries(&mut |_, _| {
                entries += 1;
                true
            })
            .unwrap();
        assert_eq!(entries, 2, "{backend}");
    });
}

#[test]
fn negative_window_starts_are_an_error() {
    let mut store = windows(Box::new(InMemoryKeyValueStore::default()), MINUTE, 10);
    let error = store.put(&key("a"), &1, -1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "state store `w`: timestamp -1 is negative; window and session stores take timestamps >= 0"
    );
}

#[test]
fn a_reopened_rocksdb_window_store_keeps_its_windows_and_its_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w");
    let memory = memory();
    let open = || {
        Box::new(RocksDbKeyValueStore::open("w", &path, &memory).unwrap())
            as Box<dyn BytesKeyValueStore>
    };
    {
        let mut store = windows(open(), 2 * MINUTE, 10);
        store.put(&key("a"), &1, 0).unwrap();
        store.put(&key("a"), &2, 100_000).unwrap();
        store.put(&key("b"), &3, 130_000).unwrap();
    }
    let mut reopened = window_bytes(open(), 2 * MINUTE, 10);
    assert_eq!(reopened.observed_stream_time(), 130_000);
    // Past retention at the recovered stream time: dropped at once.
    assert_eq!(reopened.put(b"a", 5_000, Some(b"late")).unwrap(), None);
    let store = WindowStore::<String, u64>::over("w", Box::new(reopened));
    assert_eq!(
        store.all().unwrap(),
        [
            windowed("a", 100_000, 100_010, 2),
            windowed("b", 130_000, 130_010, 3)
        ]
    );
}

#[test]
fn find_sessions_returns_the_sessions_a_record_merges_with() {
    on_each_backend(|backend, bytes| {
        let mut store = sessions(bytes, 10 * MINUTE);
        let (u, gap) = (key("u"), 5);
        store.put(&Windowed::new(u.clone(), 0, 10), &2).unwrap();
        store.put(&Windowed::new(u.clone(), 20, 30), &1).unwrap();
        store.put(&Windowed::new(key("v"), 12, 13), &7).unwrap();
        store.put(&Windowed::new(key(LONG_A), 12, 13), &8).unwrap();
        // A record at 14 reaches back to the session ending at 10, not forward to 20.
        let t = 14;
        let merging = store.find_sessions(&u, t - gap, t + gap).unwrap();
        assert_eq!(merging, [windowed("u", 0, 10, 2)], "{backend}");
        for (session, _) in &merging {
            store.remove(session).unwrap();
        }
        store.put(&Windowed::new(u.clone(), 0, t), &3).unwrap();
        assert_eq!(
            store.fetch(&u).unwrap(),
            [windowed("u", 0, 14, 3), windowed("u", 20, 30, 1)],
            "{backend}"
        );
        // A record at 17 bridges both sessions.
        let t = 17;
        let merging = store.find_sessions(&u, t - gap, t + gap).unwrap();
        assert_eq!(
            merging,
            [windowed("u", 0, 14, 3), windowed("u", 20, 30, 1)],
            "{backend}"
        );
        for (session, _) in &merging {
            store.remove(session).unwrap();
        }
        store.put(&Windowed::new(u.clone(), 0, 30), &5).unwrap();
        assert_eq!(
            store.fetch(&u).unwrap(),
            [windowed("u", 0, 30, 5)],
            "{backend}"
        );
        assert_eq!(
            store.fetch_session(&u, 0, 30).unwrap(),
            Some(5),
            "{backend}"
        );
        assert_eq!(store.fetch_session(&u, 0, 14).unwrap(), None, "{backend}");
        assert_eq!(
            store.fetch(&key("a")).unwrap(),
            [],
            "`a` is a byte prefix of another key: {backend}"
        );
        assert_eq!(
            store
                .find_sessions_in_range(Some(&key("u")), Some(&key("v")), 0, i64::MAX)
                .unwrap(),
            [windowed("u", 0, 30, 5), windowed("v", 12, 13, 7)],
            "by segment, then store key: {backend}"
        );
    });
}

#[test]
fn sessions_are_removed_and_expire_after_their_end() {
    on_each_backend(|backend, bytes| {
        let mut store = sessions(bytes, MINUTE);
        let u = key("u");
        store.put(&Windowed::new(u.clone(), 0, 10), &1).unwrap();
        store
            .put(&Windowed::new(u.clone(), 30_000, 50_000), &2)
            .unwrap();
        store
            .put(&Windowed::new(u.clone(), 55_000, 60_000), &3)
            .unwrap();
        store
            .remove(&Windowed::new(u.clone(), 55_000, 60_000))
            .unwrap();
        assert_eq!(
            store.fetch(&u).unwrap(),
            [windowed("u", 0, 10, 1), windowed("u", 30_000, 50_000, 2)],
            "{backend}"
        );
        // Stream time 100 000: sessions ending after 40 000 are live.
        store
            .put(&Windowed::new(u.clone(), 90_000, 100_000), &4)
            .unwrap();
        assert_eq!(
            store.fetch(&u).unwrap(),
            [
                windowed("u", 30_000, 50_000, 2),
                windowed("u", 90_000, 100_000, 4)
            ],
            "{backend}"
        );
        store.put(&Windowed::new(u.clone(), 0, 40_000), &5).unwrap();
        assert_eq!(
            store.fetch_session(&u, 0, 40_000).unwrap(),
            None,
            "dropped: {backend}"
        );
        assert_eq!(store.all().unwrap().len(), 2, "{backend}");
    });
}

#[test]
fn a_reopened_rocksdb_session_store_keeps_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let memory = memory();
    let open = || {
        Box::new(RocksDbKeyValueStore::open("s", &path, &memory).unwrap())
            as Box<dyn BytesKeyValueStore>
    };
    {
        let mut store = sessions(open(), MINUTE);
        store.put(&Windowed::new(key("u"), 0, 10), &1).unwrap();
        store.put(&Windowed::new(key("u"), 20, 30), &2).unwrap();
        store.remove(&Windowed::new(key("u"), 0, 10)).unwrap();
    }
    let store = sessions(open(), MINUTE);
    assert_eq!(store.all().unwrap(), [windowed("u", 20, 30, 2)]);
}

/// Counts records per key in tumbling windows of 10 ms.
#[processor]
fn count_windows(
    word: &String,
    _line: &String,
    ctx: &RecordContext,
    #[store(window_size = "10ms")] counts: &mut WindowStore<String, u64>,
) -> Result<u64, StoreError> {
    let start = ctx.timestamp - ctx.timestamp % 10;
    let count = counts.fetch(word, start)?.unwrap_or(0) + 1;
    counts.put(word, &count, start)?;
    Ok(count)
}

/// Counts records per key in sessions with an inactivity gap of 5 ms.
#[processor]
fn count_sessions(
    user: &String,
    _click: &String,
    ctx: &RecordContext,
    sessions: &mut SessionStore<String, u64>,
) -> Result<u64, StoreError> {
    let (t, gap) = (ctx.timestamp, 5);
    let mut merged = Windowed::new(user.clone(), t, t);
    let mut count = 1;
    for (session, n) in sessions.find_sessions(user, t - gap, t + gap)? {
        merged.window.start = merged.window.start.min(session.window.start);
        merged.window.end = merged.window.end.max(session.window.end);
        count += n;
        sessions.remove(&session)?;
    }
    sessions.put(&merged, &count)?;
    Ok(count)
}

const WORDS: Topic<String, String> = Topic::new("words");
const COUNTS: Topic<String, u64> = Topic::new("counts");

/// The raw records of a changelog topic, as `(key, value)` bytes.
fn changelog(driver: &mut TopologyTestDriver, store: &str) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let topic = Topic::<Vec<u8>, Option<Vec<u8>>>::named(format!("test-driver-{store}-changelog"));
    driver
        .read_key_values(&topic)
        .unwrap()
        .into_iter()
        .collect()
}

fn window_key(k: &str, start: i64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_window_key(&mut out, k.as_bytes(), start, 0);
    out
}

fn session_key(k: &str, start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::new();
    encode_session_key(&mut out, k.as_bytes(), start, end);
    out
}

#[test]
fn window_writes_are_logged_under_their_store_keys_and_restore() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&WORDS)
        .process(count_windows::Function)
        .to(&COUNTS);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for (word, ts) in [("a", 3), ("a", 7), (LONG_A, 12), ("a", 15)] {
        driver
            .pipe_at(&WORDS, key(word), String::new(), ts)
            .unwrap();
    }
    assert_eq!(driver.read_values(&COUNTS).unwrap(), [1, 2, 1, 1]);
    let logged = changelog(&mut driver, "count_windows-counts");
    // Values are the store codec's (a varint for u64).
    assert_eq!(
        logged,
        [
            (b"a\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(), Some(vec![1])),
            (window_key("a", 0), Some(vec![2])),
            (window_key(LONG_A, 10), Some(vec![1])),
            (window_key("a", 10), Some(vec![1])),
        ]
    );
    on_each_backend(|backend, bytes| {
        // The shape `#[store(window_size = "10ms")]` gave the live store (a day's retention).
        let mut fresh = window_bytes(bytes, 24 * 60 * MINUTE, 10);
        fresh.restore_batch(&logged).unwrap();
        let restored = WindowStore::<String, u64>::over("w", Box::new(fresh));
        let live = driver
            .store::<WindowStore<String, u64>>("count_windows-counts")
            .unwrap();
        assert_eq!(restored.all().unwrap(), live.all().unwrap(), "{backend}");
        assert_eq!(
            restored.all().unwrap(),
            // Store-key order: `LONG_A` at 10 is "a" + [0 x 7, 5] + ..., before "a" at 10.
            [
                windowed("a", 0, 10, 2),
                windowed(LONG_A, 10, 20, 1),
                windowed("a", 10, 20, 1)
            ],
            "{backend}"
        );
    });
}

#[test]
fn session_merges_are_logged_as_tombstones_then_the_merged_session_and_restore() {
    let builder = StreamsBuilder::new();
    builder
        .stream(&WORDS)
        .process(count_sessions::Function)
        .to(&COUNTS);
    let mut driver = TopologyTestDriver::new(builder.build().unwrap()).unwrap();
    for ts in [0, 10, 5] {
        driver.pipe_at(&WORDS, key("u"), String::new(), ts).unwrap();
    }
    assert_eq!(driver.read_values(&COUNTS).unwrap(), [1, 1, 3]);
    let logged = changelog(&mut driver, "count_sessions-sessions");
    assert_eq!(
        logged,
        [
            (session_key("u", 0, 0), Some(vec![1])),
            (session_key("u", 10, 10), Some(vec![1])),
            (session_key("u", 0, 0), None),
            (session_key("u", 10, 10), None),
            (session_key("u", 0, 10), Some(vec![3])),
        ]
    );
    assert_eq!(
        session_key("u", 0, 10),
        b"u\0\0\0\0\0\0\0\x0a\0\0\0\0\0\0\0\0",
        "[key][end][start]"
    );
    on_each_backend(|backend, bytes| {
        let mut fresh = SegmentedSessionStore::new("s", bytes, 24 * 60 * MINUTE).unwrap();
        for (key, value) in &logged {
            fresh.restore(key, value.as_deref()).unwrap();
        }
        let restored = SessionStore::<String, u64>::over("s", Box::new(fresh));
        assert_eq!(
            restored.all().unwrap(),
            [windowed("u", 0, 10, 3)],
            "{backend}"
        );
    });
    let live = driver
        .store::<SessionStore<String, u64>>("count_sessions-sessions")
        .unwrap();
    assert_eq!(live.all().unwrap(), [windowed("u", 0, 10, 3)]);
}

#[test]
fn window_and_session_specs_carry_their_retention() {
    let spec = WindowStore::<String, u64>::spec_with(
        "w",
        Duration::from_secs(600),
        Duration::from_secs(60),
    );
    assert_eq!(spec.retention(), Duration::from_secs(600));
    assert_eq!(spec.window_size(), Duration::from_secs(60));
    assert!(!spec.retains_duplicates());
    let spec = <SessionStore<String, u64> as StateStore>::spec("s");
    assert_eq!(spec.retention(), Duration::from_secs(24 * 3600));
}

#[test]
fn a_window_store_fetches_a_time_range_either_way_and_across_keys() {
    let mut store = WindowStore::<String, u64>::in_memory(
        "w",
        Duration::from_secs(3600),
        Duration::from_millis(10),
    )
    .unwrap();
    let (a, b) = ("a".to_owned(), "b".to_owned());
    for (key, start, count) in [(&a, 0, 1), (&a, 10, 2), (&a, 20, 3), (&b, 10, 4)] {
        store.put(key, &count, start).unwrap();
    }
    // Kafka Streams' fetch(key, from, to) and backwardFetch: window starts, both bounds
    // inclusive.
    assert_eq!(
        store.fetch_time_range(&a, 0, 10).unwrap(),
        [(0, 1), (10, 2)]
    );
    assert_eq!(
        store.backward_fetch(&a, 0, 20).unwrap(),
        [(20, 3), (10, 2), (0, 1)]
    );
    assert_eq!(
        store.fetch_all(10, 10).unwrap(),
        [
            (Windowed::new(a.clone(), 10, 20), 2),
            (Windowed::new(b.clone(), 10, 20), 4)
        ]
    );
    assert_eq!(store.observed_stream_time(), 20);
}
