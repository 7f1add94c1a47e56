//! Key-value stores on both backends (in memory and RocksDB): point reads and writes, range and
//! prefix scans in key order, deletes, and on RocksDB what survives closing and reopening.

use streams::state::{
    BytesKeyValueStore, BytesStore, InMemoryKeyValueStore, RocksDbKeyValueStore, RocksDbMemory,
};
use streams::{KeyValueStore, StoreError};

fn memory() -> RocksDbMemory {
    RocksDbMemory::new(8 * 1024 * 1024)
}

/// Runs the same checks on a store of each backend.
fn on_each_backend(check: impl Fn(&str, Box<dyn BytesKeyValueStore>)) {
    check("in-memory", Box::new(InMemoryKeyValueStore::default()));
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksDbKeyValueStore::open("s", &dir.path().join("s"), &memory()).unwrap();
    check("rocksdb", Box::new(rocks));
}

fn words(store: &mut KeyValueStore<String, u64>, entries: &[(&str, u64)]) {
    for (word, count) in entries {
        store.put(&(*word).to_owned(), count).unwrap();
    }
}

fn owned(entries: &[(&str, u64)]) -> Vec<(String, u64)> {
    entries.iter().map(|(w, c)| ((*w).to_owned(), *c)).collect()
}

#[test]
fn point_reads_writes_and_deletes() {
    on_each_backend(|backend, bytes| {
        let mut store = KeyValueStore::<String, u64>::over("s", bytes);
        words(&mut store, &[("kafka", 1), ("rust", 2)]);
        store.put(&"kafka".to_owned(), &3).unwrap();
        assert_eq!(
            store.get(&"kafka".to_owned()).unwrap(),
            Some(3),
            "{backend}"
        );
        assert_eq!(store.get(&"none".to_owned()).unwrap(), None, "{backend}");
        assert_eq!(
            store.delete(&"rust".to_owned()).unwrap(),
            Some(2),
            "{backend}"
        );
        assert_eq!(store.delete(&"rust".to_owned()).unwrap(), None, "{backend}");
        assert_eq!(store.all().unwrap(), owned(&[("kafka", 3)]), "{backend}");
    });
}

#[test]
fn range_scans_are_inclusive_and_in_key_order() {
    on_each_backend(|backend, bytes| {
        let mut store = KeyValueStore::<String, u64>::over("s", bytes);
        words(
            &mut store,
            &[("d", 4), ("a", 1), ("c", 3), ("b", 2), ("e", 5)],
        );
        let range = |from: &str, to: &str| store.range(&from.to_owned(), &to.to_owned()).unwrap();
        assert_eq!(
            range("b", "d"),
            owned(&[("b", 2), ("c", 3), ("d", 4)]),
            "{backend}"
        );
        assert_eq!(range("bb", "cc"), owned(&[("c", 3)]), "{backend}");
        assert_eq!(range("c", "c"), owned(&[("c", 3)]), "{backend}");
        assert_eq!(range("d", "b"), owned(&[]), "inverted: {backend}");
        assert_eq!(range("f", "z"), owned(&[]), "past the end: {backend}");
        assert_eq!(
            store.all().unwrap(),
            owned(&[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]),
            "{backend}"
        );
    });
}

#[test]
fn prefix_scans_stop_at_the_prefix() {
    on_each_backend(|backend, bytes| {
        let mut store = KeyValueStore::<String, u64>::over("s", bytes);
        words(
            &mut store,
            &[("kafka", 1), ("ka", 2), ("kb", 3), ("k", 4), ("kaz", 5)],
        );
        assert_eq!(
            store.prefix_scan(&"ka".to_owned()).unwrap(),
            owned(&[("ka", 2), ("kafka", 1), ("kaz", 5)]),
            "{backend}"
        );
        assert_eq!(
            store.prefix_scan(&"x".to_owned()).unwrap(),
            owned(&[]),
            "{backend}"
        );
    });
}

#[test]
fn binary_keys_sort_by_bytes() {
    on_each_backend(|backend, mut bytes| {
        for key in [&[0xff, 0x00][..], &[0x00], &[0x7f, 0xff], &[0xff]] {
            bytes.put(key, b"v").unwrap();
        }
        let mut keys = Vec::new();
        bytes
            .scan(
                std::ops::Bound::Excluded(&[0x00][..]),
                std::ops::Bound::Excluded(&[0xff, 0x00][..]),
                &mut |k, _| {
                    keys.push(k.to_vec());
                    true
                },
            )
            .unwrap();
        assert_eq!(keys, [vec![0x7f, 0xff], vec![0xff]], "{backend}");
    });
}

#[test]
fn a_rocksdb_store_keeps_its_data_across_a_reopen() -> Result<(), StoreError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counts");
    let memory = memory();
    {
        let backend = RocksDbKeyValueStore::open("counts", &path, &memory)?;
        let mut store = KeyValueStore::<String, u64>::over("counts", Box::new(backend));
        words(&mut store, &[("kafka", 7), ("rust", 9)]);
        store.delete(&"rust".to_owned())?;
    }
    // Closing flushes what the write-ahead-log-less store holds in memory.
    let backend = RocksDbKeyValueStore::open("counts", &path, &memory)?;
    let store = KeyValueStore::<String, u64>::over("counts", Box::new(backend));
    assert_eq!(store.all()?, owned(&[("kafka", 7)]));
    Ok(())
}

#[test]
fn a_damaged_rocksdb_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("CURRENT"), "MANIFEST-999999\n").unwrap();
    let error = RocksDbKeyValueStore::open("broken", &path, &memory()).unwrap_err();
    assert!(
        error.to_string().contains("state store `broken` failed"),
        "{error}"
    );
}

/// RocksDB memory is bounded per instance, not per store: many stores sharing one budget write
/// and read far more than the budget, and the shared block cache (which memtables are charged
/// to) stays within it.
#[test]
fn many_rocksdb_stores_stay_within_one_memory_budget() {
    const BUDGET: usize = 16 * 1024 * 1024;
    const STORES: usize = 32;
    const ENTRIES: usize = 6_000;
    let memory = RocksDbMemory::new(BUDGET);
    let dir = tempfile::tempdir().unwrap();
    let value = vec![7u8; 256];
    let mut stores: Vec<RocksDbKeyValueStore> = (0..STORES)
        .map(|i| {
            let name = format!("store-{i}");
            RocksDbKeyValueStore::open(&name, &dir.path().join(&name), &memory).unwrap()
        })
        .collect();
    let mut peak = 0;
    for round in 0..2 {
        for store in &mut stores {
            for key in 0..ENTRIES {
                let key = format!("{round}-{key:08}");
                store.put(key.as_bytes(), &value).unwrap();
            }
            peak = peak.max(memory.usage());
        }
    }
    for store in &mut stores {
        store.flush().unwrap();
        // Read everything back: data blocks go through the shared cache too.
        let mut read = 0;
        store
            .scan(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                &mut |_, _| {
                    read += 1;
                    true
                },
            )
            .unwrap();
        assert_eq!(read, 2 * ENTRIES);
        peak = peak.max(memory.usage());
    }
    let written = STORES * 2 * ENTRIES * (value.len() + 12);
    assert!(
        written > 5 * BUDGET,
        "the stores hold far more than the budget"
    );
    assert!(peak > 0, "the cache was used");
    // LRU caches are not strict: allow the entries being inserted (a block or a memtable
    // arena chunk) over the bound.
    assert!(
        peak <= BUDGET + BUDGET / 8,
        "peak {peak} bytes over a {BUDGET}-byte budget"
    );
}
