//! Micro-benchmarks (criterion) of the per-record building blocks the pipelines spend their CPU
//! on: the codecs of keys and values, and the byte-level key-value stores.
//!
//! ```text
//! cargo bench --bench micro            # all
//! cargo bench --bench micro -- codec   # those whose name contains `codec`
//! ```
//!
//! The records are the pipeline harness's (`benches/pipelines/`): 4-byte integer keys over
//! 10,000 distinct values and 100-byte values.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use streams::codec::{Binary, Codec, Json, StoreKeyCodec, StoreValueCodec, TopicCodec};
use streams::state::{
    BytesKeyValueStore, InMemoryKeyValueStore, RocksDbKeyValueStore, RocksDbMemory,
};

/// Distinct keys.
const KEYS: u32 = 10_000;

/// A small record for the JSON and binary codecs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: u64,
    customer: String,
    amount: f64,
}

/// Encodes `value` with `C` into a reused buffer.
fn encode<T, C: Codec<T>>(value: &T, out: &mut Vec<u8>) {
    out.clear();
    C::encode(value, out).expect("encode");
}

/// Encode and decode of the types the pipelines carry.
fn codecs(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);

    group.bench_function("encode u32 key (topic)", |b| {
        b.iter(|| encode::<u32, TopicCodec>(black_box(&42), &mut out))
    });
    let bytes = 42u32.to_be_bytes();
    group.bench_function("decode u32 key (topic)", |b| {
        b.iter(|| <TopicCodec as Codec<u32>>::decode(black_box(Some(&bytes[..]))).unwrap())
    });

    let value = vec![b'x'; 100];
    group.bench_function("encode 100-byte Vec<u8> value (topic)", |b| {
        b.iter(|| encode::<Vec<u8>, TopicCodec>(black_box(&value), &mut out))
    });
    group.bench_function("decode 100-byte Vec<u8> value (topic)", |b| {
        b.iter(|| <TopicCodec as Codec<Vec<u8>>>::decode(black_box(Some(&value[..]))).unwrap())
    });

    let text = "x".repeat(100);
    group.bench_function("encode 100-byte String (topic)", |b| {
        b.iter(|| encode::<String, TopicCodec>(black_box(&text), &mut out))
    });
    group.bench_function("decode 100-byte String (topic)", |b| {
        b.iter(|| <TopicCodec as Codec<String>>::decode(black_box(Some(text.as_bytes()))).unwrap())
    });

    group.bench_function("encode u32 key (store)", |b| {
        b.iter(|| encode::<u32, StoreKeyCodec>(black_box(&42), &mut out))
    });
    let mut count = Vec::new();
    encode::<u64, StoreValueCodec>(&12_345, &mut count);
    group.bench_function("encode u64 count (store)", |b| {
        b.iter(|| encode::<u64, StoreValueCodec>(black_box(&12_345), &mut out))
    });
    group.bench_function("decode u64 count (store)", |b| {
        b.iter(|| <StoreValueCodec as Codec<u64>>::decode(black_box(Some(&count[..]))).unwrap())
    });

    let order = Order {
        id: 7,
        customer: "customer-0042".to_owned(),
        amount: 99.5,
    };
    let mut json = Vec::new();
    encode::<Order, Json>(&order, &mut json);
    group.bench_function("encode struct (json)", |b| {
        b.iter(|| encode::<Order, Json>(black_box(&order), &mut out))
    });
    group.bench_function("decode struct (json)", |b| {
        b.iter(|| <Json as Codec<Order>>::decode(black_box(Some(&json[..]))).unwrap())
    });
    let mut binary = Vec::new();
    encode::<Order, Binary>(&order, &mut binary);
    group.bench_function("encode struct (binary)", |b| {
        b.iter(|| encode::<Order, Binary>(black_box(&order), &mut out))
    });
    group.bench_function("decode struct (binary)", |b| {
        b.iter(|| <Binary as Codec<Order>>::decode(black_box(Some(&binary[..]))).unwrap())
    });
    group.finish();
}

/// Put, get and a count's get + put on one byte-level store, cycling over 10,000 keys.
fn store_ops(c: &mut Criterion, name: &str, store: &mut dyn BytesKeyValueStore) {
    let mut group = c.benchmark_group(format!("store/{name}"));
    group.throughput(Throughput::Elements(1));
    let value = vec![b'x'; 100];
    let mut i = 0u32;
    let mut next = move || {
        i = (i + 1) % KEYS;
        i.to_be_bytes()
    };
    group.bench_function("put 100 bytes", |b| {
        b.iter(|| store.put(&next(), black_box(&value)).unwrap())
    });
    group.bench_function("get", |b| b.iter(|| black_box(store.get(&next()).unwrap())));
    group.bench_function("count (get + put)", |b| {
        b.iter(|| {
            let key = next();
            let count = store
                .get(&key)
                .unwrap()
                .and_then(|v| v.as_slice().try_into().ok())
                .map_or(0, u64::from_be_bytes);
            store.put(&key, &(count + 1).to_be_bytes()).unwrap();
        })
    });
    let batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..1_000u32)
        .map(|k| (k.to_be_bytes().to_vec(), Some(value.clone())))
        .collect();
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("restore batch of 1,000", |b| {
        b.iter_batched(
            || (),
            |()| store.restore_batch(black_box(&batch)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// The in-memory and RocksDB stores (RocksDB with the runtime's default memory budget).
fn stores(c: &mut Criterion) {
    let mut memory = InMemoryKeyValueStore::default();
    store_ops(c, "in-memory", &mut memory);
    let dir = tempfile::tempdir().expect("tempdir");
    let budget = RocksDbMemory::new(streams::config::DEFAULT_ROCKSDB_MEMORY_BYTES);
    let mut rocks = RocksDbKeyValueStore::open("micro", dir.path(), &budget).expect("open");
    store_ops(c, "rocksdb", &mut rocks);
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    codecs(&mut criterion);
    stores(&mut criterion);
    criterion.final_summary();
}
