//! The baselines our pipelines are compared with: the raw client (B1 produce, B2 consume, B3
//! consume → produce) and raw RocksDB (B4), each doing what a pipeline does underneath.

use std::time::{Duration, Instant};

use streams::kafka::rdkafka::message::Message;
use streams::state::rocksdb;

use crate::KEYS;
use crate::measure::{Mark, Measured, limit_for};
use crate::records::{
    create_topics, flush, input_topic, key_of, producer, raw_consumer, send, unique, value,
};

/// Records per RocksDB `WriteBatch` in B4-batch.
const BATCH: u64 = 1_000;
/// The runtime's default RocksDB budget (`rocksdb.memory.max.bytes`).
const ROCKSDB_MEMORY: usize = 128 * 1024 * 1024;

/// B1: produce `n` records to a fresh topic, through the flush.
pub(crate) fn b1(servers: &str, n: u64) -> Result<Measured, String> {
    let topic = unique("b1");
    create_topics(servers, &[&topic])?;
    let producer = producer(servers)?;
    let value = value();
    let start = Mark::now();
    for i in 0..n {
        send(&producer, &topic, &key_of(i), &value);
    }
    flush(&producer)?;
    Ok(start.to(Mark::now(), n))
}

/// B2 (and B3 with `out`): consume `n` records, optionally producing each to `out`.
pub(crate) fn consume(servers: &str, n: u64, out: Option<&str>) -> Result<Measured, String> {
    let input = input_topic(servers, if out.is_some() { "b3" } else { "b2" }, n)?;
    if let Some(out) = out {
        create_topics(servers, &[out])?;
    }
    let producer = out.map(|_| producer(servers)).transpose()?;
    let start = Mark::now();
    let consumer = raw_consumer(servers, &input)?;
    let deadline = Instant::now() + limit_for(n);
    let mut seen = 0u64;
    let mut bytes = 0usize;
    while seen < n {
        if Instant::now() > deadline {
            return Err(format!("consumed {seen} of {n}"));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                seen += 1;
                let key = message.key().unwrap_or_default();
                let payload = message.payload().unwrap_or_default();
                bytes += key.len() + payload.len();
                if let (Some(producer), Some(out)) = (&producer, out) {
                    send(producer, out, key, payload);
                    if seen.is_multiple_of(1024) {
                        producer.poll(Duration::ZERO);
                    }
                }
            }
            Some(Err(e)) => return Err(format!("consume: {e}")),
            None => {}
        }
    }
    if let Some(producer) = &producer {
        flush(producer)?;
    }
    let end = Mark::now();
    drop(consumer);
    std::hint::black_box(bytes);
    Ok(start.to(end, n))
}

/// Options shaped like the runtime's RocksDB stores: one LRU cache and a write-buffer manager
/// charging memtables to it (128 MiB), 16 MiB memtables, at most 3.
fn rocksdb_options() -> rocksdb::Options {
    let cache = rocksdb::Cache::new_lru_cache(ROCKSDB_MEMORY);
    let manager = rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
        ROCKSDB_MEMORY / 2,
        false,
        cache.clone(),
    );
    let mut table = rocksdb::BlockBasedOptions::default();
    table.set_block_cache(&cache);
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_top_level_index_and_filter(true);
    let mut options = rocksdb::Options::default();
    options.create_if_missing(true);
    options.set_block_based_table_factory(&table);
    options.set_write_buffer_manager(&manager);
    options.set_write_buffer_size(16 * 1024 * 1024);
    options.set_max_write_buffer_number(3);
    options
}

/// Which B4 workload.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RocksWork {
    Put,
    Batch,
    Count,
}

/// B4: raw RocksDB with the WAL off, `n` operations over 10,000 keys.
pub(crate) fn b4(work: RocksWork, n: u64) -> Result<Measured, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = rocksdb::DB::open(&rocksdb_options(), dir.path()).map_err(|e| e.to_string())?;
    let mut write = rocksdb::WriteOptions::default();
    write.disable_wal(true);
    let value = value();
    let err = |e: rocksdb::Error| e.to_string();
    let start = Mark::now();
    match work {
        RocksWork::Put => {
            for i in 0..n {
                db.put_opt(key_of(i), &value, &write).map_err(err)?;
            }
        }
        RocksWork::Batch => {
            let mut batch = rocksdb::WriteBatch::default();
            for i in 0..n {
                batch.put(key_of(i), &value);
                if (i + 1) % BATCH == 0 {
                    db.write_opt(std::mem::take(&mut batch), &write)
                        .map_err(err)?;
                }
            }
            db.write_opt(batch, &write).map_err(err)?;
        }
        RocksWork::Count => {
            for i in 0..n {
                let key = key_of(i);
                let count = db
                    .get_pinned(key)
                    .map_err(err)?
                    .and_then(|v| v.as_ref().try_into().ok())
                    .map_or(0, u64::from_be_bytes);
                db.put_opt(key, (count + 1).to_be_bytes(), &write)
                    .map_err(err)?;
            }
        }
    }
    let end = Mark::now();
    if let RocksWork::Count = work {
        let total: u64 = (0..KEYS.min(n))
            .map(|i| {
                db.get(key_of(i))
                    .ok()
                    .flatten()
                    .and_then(|v| v.as_slice().try_into().ok())
                    .map_or(0, u64::from_be_bytes)
            })
            .sum();
        if total != n {
            return Err(format!("counted {total} of {n}"));
        }
    }
    Ok(start.to(end, n))
}
