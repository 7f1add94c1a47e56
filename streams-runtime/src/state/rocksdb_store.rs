//! The RocksDB key-value backend, and the memory every RocksDB store of an instance shares.
//!
//! RocksDB's memory is bounded per application instance, not per store: one LRU block cache and
//! one write-buffer manager that charges memtables to that cache, shared by every store the
//! instance opens (Kafka Streams documents the same recipe as `BoundedMemoryRocksDBConfig`;
//! without it each store gets its own cache and memtables, and memory grows with the number of
//! tasks). The write-ahead log is off: the changelog topic is the durable copy, and a store that
//! lost its unflushed writes in a crash is caught up from the changelog.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use rocksdb::{
    BlockBasedOptions, Cache, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch,
    WriteBufferManager, WriteOptions,
};

use super::key_value::restore_by_writing;
use super::{BytesKeyValueStore, BytesStore};
use crate::error::StoreError;
use crate::sync::lock;

/// The memory shared by the RocksDB stores of one application instance: one block cache, and a
/// write-buffer manager charging memtables to it, so the total stays near one bound.
#[derive(Clone)]
pub struct RocksDbMemory {
    cache: Cache,
    write_buffers: WriteBufferManager,
    bytes: usize,
    /// Every open store's database, to flush memtables when the budget is exceeded.
    databases: Arc<Mutex<Vec<Weak<DB>>>>,
}

impl std::fmt::Debug for RocksDbMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbMemory")
            .field("bytes", &self.bytes)
            .field("cache_usage", &self.cache.get_usage())
            .field("write_buffer_usage", &self.write_buffers.get_usage())
            .finish()
    }
}

impl RocksDbMemory {
    /// A budget of `bytes` for block cache and memtables together; memtables may take half.
    pub fn new(bytes: usize) -> Self {
        let cache = Cache::new_lru_cache(bytes);
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            bytes / 2,
            false,
            cache.clone(),
        );
        RocksDbMemory {
            cache,
            write_buffers,
            bytes,
            databases: Arc::default(),
        }
    }

    fn register(&self, db: &Arc<DB>) {
        let mut databases = lock(&self.databases);
        databases.retain(|db| db.strong_count() > 0);
        databases.push(Arc::downgrade(db));
    }

    /// Brings usage back under the budget by flushing memtables to disk, when it is over.
    ///
    /// The write-buffer manager flushes only the store that is writing when memtables pass
    /// their share, so with many stores the idle ones keep theirs: each small, together
    /// unbounded. This flushes every store's non-trivial memtable instead. Blocks in the cache
    /// are the LRU's to evict.
    fn enforce(&self) -> Result<(), rocksdb::Error> {
        if self.usage() <= self.bytes {
            return Ok(());
        }
        let databases: Vec<Arc<DB>> = lock(&self.databases)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for db in databases {
            let memtable = db
                .property_int_value("rocksdb.cur-size-active-mem-table")?
                .unwrap_or(0);
            if memtable >= MIN_FLUSHED_MEMTABLE {
                db.flush()?;
            }
        }
        Ok(())
    }

    /// The configured budget in bytes.
    pub fn budget(&self) -> usize {
        self.bytes
    }

    /// Bytes held now by the shared block cache (which memtables are charged to).
    pub fn usage(&self) -> usize {
        self.cache.get_usage()
    }

    fn options(&self) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.cache);
        // Index and filter blocks count against the bound too, the top level stays pinned.
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_pin_top_level_index_and_filter(true);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_manager(&self.write_buffers);
        // Kafka Streams' defaults: 16 MiB memtables, at most 3 per store.
        options.set_write_buffer_size(16 * 1024 * 1024);
        options.set_max_write_buffer_number(3);
        // Memtables grow in small arena blocks: every open store holds at least one block,
        // charged to the shared budget, so large blocks (1/8 of the memtable by default) would
        // make many mostly idle stores fill the budget by themselves.
        options.set_arena_block_size(64 * 1024);
        options
    }
}

/// A [`BytesKeyValueStore`] in a RocksDB database of its own directory.
pub struct RocksDbKeyValueStore {
    db: Arc<DB>,
    memory: RocksDbMemory,
    /// Writes since the memory budget was last checked.
    unchecked_writes: u32,
    path: PathBuf,
    name: String,
    write: WriteOptions,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

/// How many changelog records a restore writes in one batch.
const RESTORE_BATCH: usize = 10_000;

/// How many writes a store makes between checks of the instance's memory budget.
const WRITES_PER_MEMORY_CHECK: u32 = 256;

/// Memtables smaller than this are not worth an SST file when the budget is enforced.
const MIN_FLUSHED_MEMTABLE: u64 = 64 * 1024;

impl RocksDbKeyValueStore {
    /// Opens (creating if needed) the store `name` at `path`.
    pub fn open(name: &str, path: &Path, memory: &RocksDbMemory) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path).map_err(|source| StoreError::Io {
            store: name.to_owned(),
            action: "create",
            path: path.to_owned(),
            source,
        })?;
        let db = Arc::new(DB::open(&memory.options(), path).map_err(|e| backend(name, &e))?);
        memory.register(&db);
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksDbKeyValueStore {
            db,
            memory: memory.clone(),
            unchecked_writes: 0,
            path: path.to_owned(),
            name: name.to_owned(),
            write,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, error: &rocksdb::Error) -> StoreError {
        backend(&self.name, error)
    }

    /// Counts `writes`, checking the instance's memory budget every so many.
    fn wrote(&mut self, writes: usize) -> Result<(), StoreError> {
        self.unchecked_writes = self
            .unchecked_writes
            .saturating_add(u32::try_from(writes).unwrap_or(u32::MAX));
        if self.unchecked_writes >= WRITES_PER_MEMORY_CHECK {
            self.unchecked_writes = 0;
            self.memory.enforce().map_err(|e| self.error(&e))?;
        }
        Ok(())
    }
}

fn backend(name: &str, error: &rocksdb::Error) -> StoreError {
    StoreError::RocksDb {
        store: name.to_owned(),
        source: error.clone(),
    }
}

impl BytesKeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(key).map_err(|e| self.error(&e))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db
            .put_opt(key, value, &self.write)
            .map_err(|e| self.error(&e))?;
        self.wrote(1)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        if old.is_some() {
            self.db
                .delete_opt(key, &self.write)
                .map_err(|e| self.error(&e))?;
            self.wrote(1)?;
        }
        Ok(old)
    }

    fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut read = ReadOptions::default();
        if let Bound::Excluded(end) = to {
            read.set_iterate_upper_bound(end.to_vec());
        }
        let mode = match from {
            Bound::Included(start) | Bound::Excluded(start) => {
                IteratorMode::From(start, Direction::Forward)
            }
            Bound::Unbounded => IteratorMode::Start,
        };
        for entry in self.db.iterator_opt(mode, read) {
            let (key, value) = entry.map_err(|e| self.error(&e))?;
            if let Bound::Excluded(start) = from
                && &*key == start
            {
                continue;
            }
            if let Bound::Included(end) = to
                && &*key > end
            {
                break;
            }
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    fn approximate_len(&self) -> u64 {
        self.db
            .property_int_value("rocksdb.estimate-num-keys")
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<(), StoreError> {
        if from >= to {
            return Ok(());
        }
        // One range tombstone, whatever the number of keys; compaction reclaims the space.
        let mut batch = WriteBatch::default();
        batch.delete_range(from, to);
        self.db
            .write_opt(batch, &self.write)
            .map_err(|e| self.error(&e))
    }
}

impl BytesStore for RocksDbKeyValueStore {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        self.scan(Bound::Unbounded, Bound::Unbounded, visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        // Without a write-ahead log, memtables are lost in a crash: write them to disk before a
        // checkpoint vouches for them.
        self.db.flush().map_err(|e| self.error(&e))
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        for chunk in records.chunks(RESTORE_BATCH) {
            let mut batch = WriteBatch::default();
            for (key, value) in chunk {
                match value {
                    Some(value) => batch.put(key, value),
                    None => batch.delete(key),
                }
            }
            self.db
                .write_opt(batch, &self.write)
                .map_err(|e| self.error(&e))?;
            self.wrote(chunk.len())?;
        }
        Ok(())
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        restore_by_writing(self, key, value)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        // A tombstone for every key, written in batches.
        let mut keys: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        self.scan(Bound::Unbounded, Bound::Unbounded, &mut |k, _| {
            keys.push((k.to_vec(), None));
            true
        })?;
        self.restore_batch(&keys)
    }

    fn is_persistent(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_one_budget_for_every_store() {
        let memory = RocksDbMemory::new(8 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let mut a = RocksDbKeyValueStore::open("a", &dir.path().join("a"), &memory).unwrap();
        let mut b = RocksDbKeyValueStore::open("b", &dir.path().join("b"), &memory).unwrap();
        for i in 0..1000u32 {
            a.put(&i.to_be_bytes(), &[7; 100]).unwrap();
            b.put(&i.to_be_bytes(), &[8; 100]).unwrap();
        }
        // Both stores' memtables are charged to the one shared cache.
        assert!(memory.usage() > 200_000, "{memory:?}");
        assert!(
            memory.usage() <= memory.budget() + 4 * 1024 * 1024,
            "{memory:?}"
        );
    }

    #[test]
    fn a_reopened_store_has_what_was_flushed() {
        let memory = RocksDbMemory::new(8 * 1024 * 1024);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut store = RocksDbKeyValueStore::open("s", &path, &memory).unwrap();
        store
            .restore_batch(&[
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"b".to_vec(), Some(b"2".to_vec())),
                (b"a".to_vec(), None),
            ])
            .unwrap();
        store.put(b"c", b"3").unwrap();
        store.flush().unwrap();
        drop(store);
        let store = RocksDbKeyValueStore::open("s", &path, &memory).unwrap();
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get(b"c").unwrap(), Some(b"3".to_vec()));
    }
}
