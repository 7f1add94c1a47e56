//! State stores: the local state of one task.
//!
//! Two layers, as in Kafka Streams. Underneath, a store is bytes: a `BytesKeyValueStore`,
//! `BytesWindowStore` or `BytesSessionStore` backend, each a `BytesStore`, the part a task
//! drives without knowing the kind (RocksDB by default with the `rocksdb` feature, in memory
//! without it or when asked for; window and session stores keep their retention period in time
//! segments, see `segments`). On top, user code holds a typed handle such as
//! [`KeyValueStore<K, V>`], [`WindowStore<K, V>`] or [`SessionStore<K, V>`] whose codecs are part
//! of its type. A processor declares the stores it needs with a [`StoreSpec`] (`spec`; the
//! `#[processor]` macro does this from the function's `&mut KeyValueStore<..>` parameters); each
//! task then opens its own instances, its `TaskStores` (`task_stores`), and the processor opens
//! typed handles to them in `init`. Handles are cheap to clone and never cross threads: a task
//! and its stores live on one stream thread.
//!
//! A logged store sends its writes to its changelog (`logging`). A store with caching on (the
//! DSL's materialized stores, by default: key-value, and the window and session stores of
//! windowed aggregations that emit on update) has one more layer on top, the thread's record
//! cache (see `cache`): `cache → change logging → backend` (for window and session stores,
//! `cache → change logging → segments → backend`).

mod backend;
mod bytes_store;
mod cache;
mod checkpoint;
mod directory;
mod key_value;
mod logging;
mod materialized;
#[cfg(feature = "rocksdb")]
mod rocksdb_store;
mod segments;
mod session;
mod spec;
mod task_stores;
mod window;
mod windowed;

/// The RocksDB bindings the stores use, for programs that also use RocksDB directly.
#[cfg(feature = "rocksdb")]
pub use ::rocksdb;
pub use key_value::KeyValueStore;
pub use logging::changelog_topic;
pub use materialized::Materialized;
pub use spec::{DEFAULT_WINDOW_RETENTION, StoreBackend, StoreKind, StoreSpec};
pub use task_stores::StateStore;
pub(crate) use windowed::{SessionEntryDecoder, WindowEntryDecoder};
pub use windowed::{SessionStore, Window, WindowStore, Windowed};

// The byte-level layer, the record cache, checkpoints and the state directory: public for the
// integration tests and benchmarks, which drive stores and tasks directly, and hidden from the
// docs. Processors reach state only through the typed handles above.
#[doc(hidden)]
pub use bytes_store::BytesStore;
#[doc(hidden)]
pub use cache::{CACHE_ENTRY_OVERHEAD, ThreadCache};
#[doc(hidden)]
pub use checkpoint::{CHECKPOINT_FILE, ChangelogOffsets, Checkpoint};
#[doc(hidden)]
pub use directory::StateLocation;
#[doc(hidden)]
pub use directory::StateRoot;
#[doc(hidden)]
pub use key_value::{BytesKeyValueStore, InMemoryKeyValueStore};
#[doc(hidden)]
pub use logging::ChangelogContext;
#[cfg(feature = "rocksdb")]
#[doc(hidden)]
pub use rocksdb_store::{RocksDbKeyValueStore, RocksDbMemory};
#[doc(hidden)]
pub use segments::segment_interval;
#[doc(hidden)]
pub use session::{
    BytesSessionStore, SESSION_KEY_SUFFIX_LEN, SegmentedSessionStore, decode_session_key,
    encode_session_key,
};
#[doc(hidden)]
pub use task_stores::{TaskStore, TaskStores};
#[doc(hidden)]
pub use window::{
    BytesWindowStore, SegmentedWindowStore, WINDOW_KEY_SUFFIX_LEN, decode_window_key,
    encode_window_key,
};

pub(crate) use cache::{
    CacheHandle, CachingKeyValueStore, CachingSessionStore, CachingWindowStore, FlushedEntry,
    SessionEntries, WindowEntries,
};
#[cfg(feature = "kafka")]
pub(crate) use directory::StateDirectory;
pub(crate) use key_value::EntryDecoder;
#[cfg(feature = "kafka")]
pub(crate) use key_value::split_timestamp;
pub(crate) use task_stores::CacheContext;
