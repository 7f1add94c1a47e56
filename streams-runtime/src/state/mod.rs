//! State stores: the local state of one task.
//!
//! Two layers, as in Kafka Streams. Underneath, a store is bytes: a [`BytesKeyValueStore`] backend
//! (RocksDB by default, or in memory; window and session backends plug in beside them). On top,
//! user code holds
//! a typed handle such as [`KeyValueStore<K, V>`] whose codecs are part of its type. A processor
//! declares the stores it needs with a [`StoreSpec`] (the `#[processor]` macro does this from the
//! function's `&mut KeyValueStore<..>` parameters); each task then gets its own instances, and the
//! processor opens typed handles to them in `init`. Handles are cheap to clone and never cross
//! threads: a task and its stores live on one stream thread.

mod checkpoint;
mod key_value;
mod logging;
mod materialized;
mod rocksdb;

pub use checkpoint::{CHECKPOINT_FILE, ChangelogOffsets, Checkpoint};
pub(crate) use key_value::split_timestamp;
pub use key_value::{BytesKeyValueStore, InMemoryKeyValueStore, KeyValueStore};
pub use logging::{ChangelogContext, changelog_topic};
pub use materialized::Materialized;
pub use rocksdb::{DEFAULT_ROCKSDB_MEMORY_BYTES, RocksDbKeyValueStore, RocksDbMemory};

use std::any::TypeId;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::StoreError;

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StoreBackend {
    /// RocksDB, under `<state.dir>/<application.id>/<task id>/<store name>` (the default).
    #[default]
    RocksDb,
    /// A sorted map in the process's memory.
    InMemory,
}

/// Where a task's persistent stores live, and the RocksDB memory they share.
#[derive(Debug, Clone)]
pub struct StateLocation {
    /// The task's directory: `<state.dir>/<application.id>/<task id>`.
    pub task_dir: PathBuf,
    /// The instance's shared RocksDB block cache and write-buffer budget.
    pub rocksdb: RocksDbMemory,
}

/// The kind of a store, as shown by `describe()` and used to pick a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Keys to values, with range and prefix scans in key-byte order.
    KeyValue,
}

/// The declaration of a store: its name, kind, typed handle and backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    name: String,
    kind: StoreKind,
    backend: StoreBackend,
    logging: bool,
    timestamped: bool,
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
            timestamped: false,
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

    /// The Rust type of the handle this store is opened with.
    pub fn handle_type_name(&self) -> &'static str {
        self.handle_type_name
    }

    pub(crate) fn same_type(&self, other: &StoreSpec) -> bool {
        self.kind == other.kind && self.handle_type == other.handle_type
    }

    /// Opens the backend; also says whether it holds local state from before (a persistent
    /// store that opened an existing database).
    fn open_backend(
        &self,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
    ) -> Result<(OpenStore, bool), StoreError> {
        let (backend, existing): (Box<dyn BytesKeyValueStore>, bool) =
            match (self.kind, self.backend) {
                (StoreKind::KeyValue, StoreBackend::InMemory) => {
                    (Box::new(InMemoryKeyValueStore::default()), false)
                }
                (StoreKind::KeyValue, StoreBackend::RocksDb) => {
                    let location = location.ok_or_else(|| StoreError::Backend {
                        store: self.name.clone(),
                        message: "a RocksDB store needs a state directory".to_owned(),
                    })?;
                    let (store, existing) = open_rocksdb(&self.name, location)?;
                    (Box::new(store), existing)
                }
            };
        let backend = match changelog {
            Some(context) if self.logging => Box::new(logging::ChangeLoggingStore::new(
                backend,
                &self.name,
                context.clone(),
            )),
            _ => backend,
        };
        Ok((
            OpenStore::KeyValue(Rc::new(RefCell::new(backend))),
            existing,
        ))
    }
}

/// Opens the RocksDB store `name` of a task; a database that does not open (damaged, or from an
/// incompatible version) is deleted and created empty, to be rebuilt from the changelog.
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
    note = "a store parameter is `&mut KeyValueStore<K, V>` (with optional codec parameters)"
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
}

/// One store instance of a task.
pub struct TaskStore {
    spec: StoreSpec,
    open: OpenStore,
    /// Whether the backend opened local state kept from an earlier run.
    existing: bool,
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

    pub(crate) fn key_value_backend(&self) -> Rc<RefCell<Box<dyn BytesKeyValueStore>>> {
        match &self.open {
            OpenStore::KeyValue(backend) => Rc::clone(backend),
        }
    }

    fn flush(&self) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().flush(),
        }
    }

    /// Every entry, as bytes, in key order.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow().scan(
                std::ops::Bound::Unbounded,
                std::ops::Bound::Unbounded,
                &mut |k, v| {
                    out.push((k.to_vec(), v.to_vec()));
                    true
                },
            )?,
        }
        Ok(out)
    }

    /// Applies one changelog record (restoring), without logging it again.
    pub fn restore(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().restore(key, value),
        }
    }

    /// Applies changelog records in order (restoring), in one batch where the backend can.
    pub fn restore_batch(&self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().restore_batch(records),
        }
    }

    /// Removes every entry, without logging (local state to be restored from scratch).
    pub fn clear(&self) -> Result<(), StoreError> {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow_mut().clear(),
        }
    }

    /// Whether the store's data outlives the process.
    pub fn is_persistent(&self) -> bool {
        match &self.open {
            OpenStore::KeyValue(backend) => backend.borrow().is_persistent(),
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
    pub(crate) fn open<'a>(
        specs: impl IntoIterator<Item = &'a StoreSpec>,
        changelog: Option<&ChangelogContext>,
        location: Option<&StateLocation>,
    ) -> Result<Self, StoreError> {
        let stores = specs
            .into_iter()
            .map(|spec| {
                let (open, existing) = spec.open_backend(changelog, location)?;
                Ok(TaskStore {
                    spec: spec.clone(),
                    open,
                    existing,
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
}
