//! Store specs: the stores a processor declares. A [`StoreSpec`] names a store and says what it
//! is (key-value, window or session, with the typed handle it is opened with), where it keeps
//! its data (in memory or in RocksDB) and how (change logging, record caching, timestamps,
//! retention); each task opens its own stores from the specs (`task_stores`).

use std::any::TypeId;
use std::time::Duration;

use super::windowed;

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

/// The kind of a store, as shown by `describe()` and used to pick a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Keys to values, with range and prefix scans in key-byte order.
    KeyValue,
    /// Values per key and time window, kept for a retention period
    /// ([`WindowStore`](super::WindowStore)).
    Window,
    /// Values per key and session, kept for a retention period after the session ends
    /// ([`SessionStore`](super::SessionStore)).
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
    /// A spec for the typed handle `H`; used by [`StateStore::spec`](super::StateStore::spec)
    /// implementations.
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

    /// Whether writes go through the thread's record cache (when the application's
    /// `statestore.cache.max.bytes` is not 0).
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// The same spec with record caching on (a window store that retains duplicates ignores
    /// it: every write is a new entry there).
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

    /// Whether this store's handle is `H`.
    pub(super) fn has_handle<H: 'static>(&self) -> bool {
        self.handle_type == TypeId::of::<H>()
    }

    /// [`retention`](Self::retention) in milliseconds, as window and session stores take it.
    pub(super) fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// [`window_size`](Self::window_size) in milliseconds, as window stores take it.
    pub(super) fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    /// Whether `other` declares a store of the same kind and handle type.
    pub(crate) fn same_type(&self, other: &StoreSpec) -> bool {
        self.kind == other.kind && self.handle_type == other.handle_type
    }
}
