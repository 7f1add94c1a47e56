//! State stores: the local state of one task.
//!
//! Two layers, as in Kafka Streams. Underneath, a store is bytes: a [`BytesKeyValueStore`],
//! [`BytesWindowStore`] or [`BytesSessionStore`] backend (RocksDB by default with the `rocksdb`
//! feature, in memory without it or when asked for; window
//! and session stores keep their retention period in time segments, see `segments`). On top, user
//! code holds a typed handle such as [`KeyValueStore<K, V>`], [`WindowStore<K, V>`] or
//! [`SessionStore<K, V>`] whose codecs are part of its type. A processor
//! declares the stores it needs with a [`StoreSpec`] (the `#[processor]` macro does this from the
//! function's `&mut KeyValueStore<..>` parameters); each task then gets its own instances, and the
//! processor opens typed handles to them in `init`. Handles are cheap to clone and never cross
//! threads: a task and its stores live on one stream thread.
//!
//! A key-value store with caching on (the DSL's materialized stores, by default) has one more
//! layer on top, the thread's record cache (see `cache`): `cache → change logging → backend`.
//! Window and session stores are not cached.

mod cache;
mod checkpoint;
mod key_value;
mod logging;
mod materialized;
#[cfg(feature = "rocksdb")]
mod rocksdb_store;
mod segments;
mod session;
mod window;
mod windowed;

/// The RocksDB bindings the stores use, for programs that also use RocksDB directly.
#[cfg(feature = "rocksdb")]
pub use ::rocksdb;
pub use cache::{CACHE_ENTRY_OVERHEAD, ThreadCache};
pub(crate) use cache::{CacheHandle, CachingKeyValueStore, FlushedEntry};
pub use checkpoint::{CHECKPOINT_FILE, ChangelogOffsets, Checkpoint};
pub(crate) use key_value::EntryDecoder;
#[cfg(feature = "kafka")]
pub(crate) use key_value::split_timestamp;
pub use key_value::{BytesKeyValueStore, InMemoryKeyValueStore, KeyValueStore};
pub use logging::{ChangelogContext, changelog_topic};
pub use materialized::Materialized;
#[cfg(feature = "rocksdb")]
pub use rocksdb_store::{RocksDbKeyValueStore, RocksDbMemory};
pub use segments::segment_interval;
pub use session::{
    BytesSessionStore, SESSION_KEY_SUFFIX_LEN, SegmentedSessionStore, decode_session_key,
    encode_session_key,
};
pub use window::{
    BytesWindowStore, SegmentedWindowStore, WINDOW_KEY_SUFFIX_LEN, decode_window_key,
    encode_window_key,
};
pub use windowed::{SessionStore, Window, WindowStore, Windowed};

use std::any::TypeId;
use std::cell::{Cell, RefCell};
#[cfg(feature = "rocksdb")]
use std::path::Path;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::error::StoreError;

/// Where a store keeps its data.
///
/// Non-exhaustive: the `RocksDb` variant exists with the `rocksdb` feature (and is then the
/// default); without it every store is in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum StoreBackend {
    /// RocksDB, under `<state.dir>/<application.id>/<task id>/<store name>` (the default).
    #[cfg(feature = "rocksdb")]
    #[default]
    RocksDb,
    /// A sorted map in the process's memory (the default without the `rocksdb` feature).
    #[cfg_attr(not(feature = "rocksdb"), default)]
    InMemory,
}

impl StoreBackend {
    /// Whether the store's data outlives the process (in the state directory).
    pub fn is_persistent(self) -> bool {
        match self {
            #[cfg(feature = "rocksdb")]
            StoreBackend::RocksDb => true,
            StoreBackend::InMemory => false,
        }
    }
}

/// Where a task's persistent stores live, and the RocksDB memory they share.
#[derive(Debug, Clone)]
pub struct StateLocation {
    /// The task's directory: `<state.dir>/<application.id>/<task id>`.
    pub task_dir: PathBuf,
    /// The instance's shared RocksDB block cache and write-buffer budget.
    #[cfg(feature = "rocksdb")]
    pub rocksdb: RocksDbMemory,
}

/// The kind of a store, as shown by `describe()` and used to pick a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Keys to values, with range and prefix scans in key-byte order.
    KeyValue,
    /// Values per key and time window, kept for a retention period ([`WindowStore`]).
    Window,
    /// Values per key and session, kept for a retention period after the session ends
    /// ([`SessionStore`]).
    Session,
}

/// Kafka Streams' default retention of window and session stores: one day.
pub const DEFAULT_WINDOW_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The declaration of a store: its name, kind, typed handle and backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    name: String,
    kind: StoreKind,
    backend: StoreBackend,
    logging: bool,
    caching: bool,
    timestamped: bool,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    handle_type: TypeId,
    handle_type_name: &'static str,
}

impl StoreSpec {
    /// A spec for the typed handle `H`; used by [`StateStore::spec`] implementations.
    pub fn for_handle<H: 'static>(name: impl Into<String>, kind: StoreKind) -> Self {
        StoreSpec {
            name: name.into(),
            kind,
            backend: StoreBackend::default(),
            logging: true,
            // Off unless asked for, as Kafka Streams' store builders: a processor that reads
            // its own writes through a typed handle sees them either way, but its changelog
            // would lag behind its outputs.
            caching: false,
            timestamped: false,
            retention_ms: windowed::millis(DEFAULT_WINDOW_RETENTION),
            window_size_ms: 0,
            retain_duplicates: false,
            handle_type: TypeId::of::<H>(),
            handle_type_name: std::any::type_name::<H>(),
        }
    }

    /// The store's name (also the base of its changelog topic's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's kind.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Where the store keeps its data.
    pub fn backend(&self) -> StoreBackend {
        self.backend
    }

    /// Whether writes are logged to a changelog topic.
    pub fn logging_enabled(&self) -> bool {
        self.logging
    }

    /// Whether writes go through the thread's record cache (key-value stores; when the
    /// application's `statestore.cache.max.bytes` is not 0).
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// The same spec with record caching on (key-value stores only; window and session stores
    /// ignore it).
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// The same spec with record caching off: every write reaches the store, its changelog and
    /// the store owner's children at once.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// The same spec under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Whether each value is stored with the timestamp of its last update (8 bytes before the
    /// value, as Kafka Streams' timestamped stores do); typed handles read and write the value.
    pub fn is_timestamped(&self) -> bool {
        self.timestamped
    }

    /// The same spec, keeping a timestamp with every value.
    pub fn with_timestamps(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// The same spec with change logging off.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// The same spec on another backend.
    pub fn with_backend(mut self, backend: StoreBackend) -> Self {
        self.backend = backend;
        self
    }

    /// How long a window or session store keeps data: windows by start, sessions by end,
    /// relative to the latest one written (default [`DEFAULT_WINDOW_RETENTION`]; unused by
    /// key-value stores).
    pub fn retention(&self) -> Duration {
        Duration::from_millis(self.retention_ms.max(0).unsigned_abs())
    }

    /// The same spec keeping data for `retention` (window and session stores).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention_ms = windowed::millis(retention);
        self
    }

    /// The size of a window store's windows (default 0: windowed keys then end where they
    /// start; unused by other kinds).
    pub fn window_size(&self) -> Duration {
        Duration::from_millis(self.window_size_ms.max(0).unsigned_abs())
    }

    /// The same spec with windows of `size` (window stores; at most the retention period).
    pub fn with_window_size(mut self, size: Duration) -> Self {
        self.window_size_ms = windowed::millis(size);
        self
    }

    /// Whether a window store keeps every write, even of the same key and window start (as the
    /// stores of stream-stream joins do).
    pub fn retains_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    /// The same spec keeping duplicates (window stores).
    pub fn with_retained_duplicates(mut self) -> Self {
        self.retain_duplicates = true;
        self
    }

    /// The Rust type of the handle this store is opened with.
    pub fn handle_type_name(&self) -> &'static str {
        self.handle_type_name
    }

    pub(crate) fn same_type(&self, other: &StoreSpec) -> bool {
        self.kind == other.kind && self.handle_type == other.handle_type
    }

    /// Opens the backend; also says whether it holds local state from before (a persistent
    /// store that opened an existing database), and returns the store's place in the record
    /// cache when it is cached.
    fn open_backend(
        &self,
        changelog: Option<&ChangelogContext>,
        #[cfg_attr(not(feature = "rocksdb"), expect(unused_variables))] location: Option<
            &StateLocation,
        >,
        cache: Option<&CacheContext>,
    ) -> Result<(OpenStore, bool, Option<CacheHandle>), StoreError> {
        let (bytes, existing): (Box<dyn BytesKeyValueStore>, bool) = match self.backend {
            StoreBackend::InMemory => (Box::new(InMemoryKeyValueStore::default()), false),
            #[cfg(feature = "rocksdb")]
            StoreBackend::RocksDb => {
                let location = location.ok_or_else(|| StoreError::Backend {
                    store: self.name.clone(),
                    message: "a RocksDB store needs a state directory".to_owned(),
                })?;
                let (store, existing) = open_rocksdb(&self.name, location)?;
                (Box::new(store), existing)
            }
        };
        let logged = changelog.filter(|_| self.logging);
        let mut cached = None;
        let open = match self.kind {
            StoreKind::KeyValue => {
                let backend = match logged {
                    Some(context) => Box::new(logging::ChangeLoggingStore::new(
                        bytes,
                        &self.name,
                        context.clone(),
                    )),
                    None => bytes,
                };
                let backend: Box<dyn BytesKeyValueStore> = match cache.filter(|_| self.caching) {
                    Some(cache) => {
                        let handle = CacheHandle::register(
                            &cache.cache,
                            &self.name,
                            backend,
                            Rc::clone(&cache.timestamp),
                        );
                        cached = Some(handle.clone());
                        Box::new(CachingKeyValueStore::new(handle))
                    }
                    None => backend,
                };
                OpenStore::KeyValue(Rc::new(RefCell::new(backend)))
            }
            StoreKind::Window => {
                let store: Box<dyn BytesWindowStore> = Box::new(SegmentedWindowStore::new(
                    &self.name,
                    bytes,
                    self.retention_ms,
                    self.window_size_ms,
                    self.retain_duplicates,
                )?);
                let backend = match logged {
                    Some(context) => Box::new(logging::ChangeLoggingWindowStore::new(
                        store,
                        &self.name,
                        context.clone(),
                    )),
                    None => store,
                };
                OpenStore::Window(Rc::new(RefCell::new(backend)))
            }
            StoreKind::Session => {
                let store: Box<dyn BytesSessionStore> = Box::new(SegmentedSessionStore::new(
                    &self.name,
                    bytes,
                    self.retention_ms,
                )?);
                let backend = match logged {
                    Some(context) => Box::new(logging::ChangeLoggingSessionStore::new(
                        store,
                        &self.name,
                        context.clone(),
                    )),
                    None => store,
                };
                OpenStore::Session(Rc::new(RefCell::new(backend)))
            }
        };
        Ok((open, existing, cached))
    }
}

/// What a task's cached stores share: the thread's record cache and the task's current
/// timestamp (stamped on cache entries, and on their changelog records when they leave).
#[derive(Clone)]
pub(crate) struct CacheContext {
    pub(crate) cache: ThreadCache,
    pub(crate) timestamp: Rc<Cell<i64>>,
}

/// Opens the RocksDB store `name` of a task; a database that does not open (damaged, or from an
/// incompatible version) is deleted and created empty, to be rebuilt from the changelog.
#[cfg(feature = "rocksdb")]
fn open_rocksdb(
    name: &str,
    location: &StateLocation,
) -> Result<(RocksDbKeyValueStore, bool), StoreError> {
    let path = location.task_dir.join(name);
    let existed = path.join("CURRENT").exists();
    match RocksDbKeyValueStore::open(name, &path, &location.rocksdb) {
        Ok(store) => Ok((store, existed)),
        Err(error) => {
            tracing::warn!(store = name, path = %path.display(), %error,
                "cannot open the local store; deleting it to rebuild it from the changelog");
            remove_dir(name, &path)?;
            Ok((
                RocksDbKeyValueStore::open(name, &path, &location.rocksdb)?,
                false,
            ))
        }
    }
}

#[cfg(feature = "rocksdb")]
fn remove_dir(name: &str, path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Backend {
            store: name.to_owned(),
            message: format!("cannot delete {}: {e}", path.display()),
        }),
    }
}

/// A typed handle on a task's store: what a processor holds and a `#[processor]` function takes
/// as a `&mut` parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a state store handle",
    label = "not a state store",
    note = "a store parameter is `&mut KeyValueStore<K, V>`, `&mut WindowStore<K, V>` or `&mut SessionStore<K, V>` (with optional codec parameters)"
)]
pub trait StateStore: Sized + 'static {
    /// The declaration of a store of this type named `name`.
    fn spec(name: &str) -> StoreSpec;

    /// Opens a handle on an instantiated store, checking that its type matches.
    fn open(store: &TaskStore) -> Result<Self, StoreError>;
}

/// The backend of an open store.
#[derive(Clone)]
pub(crate) enum OpenStore {
    KeyValue(Rc<RefCell<Box<dyn BytesKeyValueStore>>>),
    Window(Rc<RefCell<Box<dyn BytesWindowStore>>>),
    Session(Rc<RefCell<Box<dyn BytesSessionStore>>>),
}

/// One store instance of a task.
pub struct TaskStore {
    spec: StoreSpec,
    open: OpenStore,
    /// Whether the backend opened local state kept from an earlier run.
    existing: bool,
    /// The store's place in the record cache, when cached.
    cache: Option<CacheHandle>,
}

impl TaskStore {
    /// The store's declaration.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    /// Checks that the store was declared with the handle type `H`.
    pub fn check_type<H: 'static>(&self) -> Result<(), StoreError> {
        if self.spec.handle_type == TypeId::of::<H>() {
            Ok(())
        } else {
            Err(StoreError::TypeMismatch {
                name: self.spec.name.clone(),
                requested: std::any::type_name::<H>(),
                actual: self.spec.handle_type_name,
            })
        }
    }

    /// The store's place in the record cache, when its writes are cached.
    pub(crate) fn cache(&self) -> Option<&CacheHandle> {
        self.cache.as_ref()
    }

    pub(crate) fn key_value_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesKeyValueStore>>>, StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a key-value store")),
        }
    }

    fn kind_mismatch(&self, requested: &'static str) -> StoreError {
        StoreError::TypeMismatch {
            name: self.spec.name.clone(),
            requested,
            actual: self.spec.handle_type_name,
        }
    }

    pub(crate) fn window_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesWindowStore>>>, StoreError> {
        match &self.open {
            OpenStore::Window(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a window store")),
        }
    }

    pub(crate) fn session_backend(
        &self,
    ) -> Result<Rc<RefCell<Box<dyn BytesSessionStore>>>, StoreError> {
        match &self.open {
            OpenStore::Session(backend) => Ok(Rc::clone(backend)),
            _ => Err(self.kind_mismatch("a session store")),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().flush(),
            OpenStore::Window(backend) => backend.borrow_mut().flush(),
            OpenStore::Session(backend) => backend.borrow_mut().flush(),
        }
    }

    /// Every entry, as bytes, in key order (window and session stores: their store keys, as in
    /// their changelogs, segment by segment).
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let mut visit = |k: &[u8], v: &[u8]| {
            out.push((k.to_vec(), v.to_vec()));
            true
        };
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow().scan(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                &mut visit,
            )?,
            OpenStore::Window(backend) => backend.borrow().entries(&mut visit)?,
            OpenStore::Session(backend) => backend.borrow().entries(&mut visit)?,
        }
        Ok(out)
    }

    /// Applies one changelog record (restoring), without logging it again.
    pub fn restore(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().restore(key, value),
            OpenStore::Window(backend) => backend.borrow_mut().restore(key, value),
            OpenStore::Session(backend) => backend.borrow_mut().restore(key, value),
        }
    }

    /// Applies changelog records in order (restoring), in one batch where the backend can.
    pub fn restore_batch(&self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().restore_batch(records),
            OpenStore::Window(backend) => backend.borrow_mut().restore_batch(records),
            OpenStore::Session(backend) => backend.borrow_mut().restore_batch(records),
        }
    }

    /// Removes every entry, without logging (local state to be restored from scratch).
    pub fn clear(&self) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().clear(),
            OpenStore::Window(backend) => backend.borrow_mut().clear(),
            OpenStore::Session(backend) => backend.borrow_mut().clear(),
        }
    }

    /// Whether the store's data outlives the process.
    pub fn is_persistent(&self) -> bool {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow().is_persistent(),
            OpenStore::Window(backend) => backend.borrow().is_persistent(),
            OpenStore::Session(backend) => backend.borrow().is_persistent(),
        }
    }

    /// Whether the store opened local data kept from an earlier run (which a checkpoint may
    /// vouch for); a new, rebuilt or in-memory store restores its whole changelog.
    pub fn has_local_state(&self) -> bool {
        self.existing
    }
}

/// The stores of one task, created from the specs of its sub-topology.
#[derive(Default)]
pub struct TaskStores {
    stores: Vec<TaskStore>,
}

impl TaskStores {
    /// Opens uncached stores (standby replicas, tests).
    #[cfg(any(feature = "kafka", test))]
    pub(crate) fn open<'a>(
        specs: impl IntoIterator<Item = &'a StoreSpec>,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
    ) -> Result<Self, StoreError> {
        Self::open_cached(specs, changelog, location, None)
    }

    /// [`open`](Self::open), with the key-value stores whose spec enables caching on top of
    /// `cache`.
    pub(crate) fn open_cached<'a>(
        specs: impl IntoIterator<Item = &'a StoreSpec>,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
        cache: Option<&CacheContext>,
    ) -> Result<Self, StoreError> {
        let stores = specs
            .into_iter()
            .map(|spec| {
                let (open, existing, cache) = spec.open_backend(changelog, location, cache)?;
                Ok(TaskStore {
                    spec: spec.clone(),
                    open,
                    existing,
                    cache,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(TaskStores { stores })
    }

    /// The store named `name`, if this task has it.
    pub fn get(&self, name: &str) -> Option<&TaskStore> {
        self.stores.iter().find(|s| s.spec.name == name)
    }

    /// Opens a typed handle on the store named `name`.
    pub fn handle<H: StateStore>(&self, name: &str) -> Result<H, StoreError> {
        let store = self
            .get(name)
            .ok_or_else(|| StoreError::NotFound(name.to_owned()))?;
        H::open(store)
    }

    /// Flushes every store (before offsets are committed).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.stores.iter().try_for_each(TaskStore::flush)
    }

    /// The stores, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &TaskStore> {
        self.stores.iter()
    }

    /// The places in the record cache of the cached stores, in declaration order.
    pub(crate) fn caches(&self) -> impl Iterator<Item = &CacheHandle> {
        self.stores.iter().filter_map(TaskStore::cache)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::error::ProcessError;
    use crate::task::{OutgoingRecord, RecordCollector};

    /// Keeps what is logged, as `(topic, key, value)`.
    #[derive(Default)]
    struct Logged(Vec<(String, Vec<u8>, Option<Vec<u8>>)>);

    impl RecordCollector for Logged {
        fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
            self.0.push((
                record.topic.to_owned(),
                record.key.unwrap_or_default().to_vec(),
                record.value.map(<[u8]>::to_vec),
            ));
            Ok(())
        }
    }

    fn context(logged: &Rc<RefCell<Logged>>) -> ChangelogContext {
        ChangelogContext {
            application_id: "app".to_owned(),
            partition: 0,
            collector: logged.clone(),
            timestamp: Rc::new(Cell::new(0)),
        }
    }

    fn specs(backend: StoreBackend) -> Vec<StoreSpec> {
        let hour = Duration::from_secs(3600);
        vec![
            WindowStore::<String, u64>::spec_with("w", hour, Duration::from_millis(10))
                .with_backend(backend),
            SessionStore::<String, u64>::spec_with("s", hour).with_backend(backend),
        ]
    }

    /// The backends this build has.
    fn backends() -> Vec<StoreBackend> {
        vec![
            StoreBackend::InMemory,
            #[cfg(feature = "rocksdb")]
            StoreBackend::RocksDb,
        ]
    }

    #[test]
    fn window_and_session_stores_log_restore_and_reopen_through_task_stores() {
        let dir = tempfile::tempdir().unwrap();
        let location = |name: &str| StateLocation {
            task_dir: dir.path().join(name),
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksDbMemory::new(16 << 20),
        };
        for backend in backends() {
            let logged = Rc::new(RefCell::new(Logged::default()));
            let source = location("source");
            let stores =
                TaskStores::open(&specs(backend), Some(&context(&logged)), Some(&source)).unwrap();
            let mut windows: WindowStore<String, u64> = stores.handle("w").unwrap();
            let mut sessions: SessionStore<String, u64> = stores.handle("s").unwrap();
            windows.put(&"k".to_owned(), &1, 20).unwrap();
            windows.delete(&"k".to_owned(), 20).unwrap();
            windows.put(&"k".to_owned(), &2, 30).unwrap();
            sessions
                .put(&Windowed::new("k".to_owned(), 5, 9), &3)
                .unwrap();
            assert!(stores.handle::<KeyValueStore<String, u64>>("w").is_err());
            let mut window_key = Vec::new();
            encode_window_key(&mut window_key, b"k", 20, 0);
            let mut session_key = Vec::new();
            encode_session_key(&mut session_key, b"k", 5, 9);
            let records = logged.borrow().0.clone();
            assert_eq!(
                records[0],
                (
                    "app-w-changelog".to_owned(),
                    window_key.clone(),
                    Some(vec![1])
                )
            );
            assert_eq!(records[1], ("app-w-changelog".to_owned(), window_key, None));
            assert_eq!(
                records[3],
                ("app-s-changelog".to_owned(), session_key, Some(vec![3]))
            );
            assert_eq!(records.len(), 4, "{backend:?}");
            stores.flush().unwrap();

            // A fresh task restores each store from its changelog records.
            let target = location(&format!("{backend:?}-target"));
            let restored = TaskStores::open(&specs(backend), None, Some(&target)).unwrap();
            for store in restored.iter() {
                let topic = changelog_topic("app", store.spec().name());
                let batch: Vec<_> = records
                    .iter()
                    .filter(|(t, _, _)| *t == topic)
                    .map(|(_, k, v)| (k.clone(), v.clone()))
                    .collect();
                store.restore_batch(&batch).unwrap();
                assert_eq!(
                    store.entries().unwrap(),
                    stores.get(store.spec().name()).unwrap().entries().unwrap(),
                    "{backend:?}"
                );
                assert_eq!(store.is_persistent(), backend.is_persistent());
                assert!(!store.has_local_state());
            }
            restored.flush().unwrap();
            drop(restored);
            let reopened = TaskStores::open(&specs(backend), None, Some(&target)).unwrap();
            let windows: WindowStore<String, u64> = reopened.handle("w").unwrap();
            let expected = if backend.is_persistent() {
                vec![(Windowed::new("k".to_owned(), 30, 40), 2)]
            } else {
                vec![]
            };
            assert_eq!(windows.all().unwrap(), expected);
            for store in reopened.iter() {
                assert_eq!(store.has_local_state(), backend.is_persistent());
                store.clear().unwrap();
                assert_eq!(store.entries().unwrap(), []);
            }
        }
    }
}
