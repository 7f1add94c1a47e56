//! A store's key-value backend, opened where its spec says: in memory, or in RocksDB under the
//! task's directory. A RocksDB database that does not open (damaged, or from an incompatible
//! version) is deleted and created empty, to be rebuilt from the changelog.

#[cfg(feature = "rocksdb")]
use std::path::Path;
use std::path::PathBuf;

use super::{BytesKeyValueStore, InMemoryKeyValueStore, StoreBackend, StoreSpec};
#[cfg(feature = "rocksdb")]
use super::{RocksDbKeyValueStore, RocksDbMemory};
use crate::error::StoreError;

/// Where a task's persistent stores live, and the RocksDB memory they share.
#[derive(Debug, Clone)]
pub struct StateLocation {
    /// The task's directory: `<state.dir>/<application.id>/<task id>`.
    pub task_dir: PathBuf,
    /// The instance's shared RocksDB block cache and write-buffer budget.
    #[cfg(feature = "rocksdb")]
    pub rocksdb: RocksDbMemory,
}

/// Opens the key-value backend of the store `spec` declares; also says whether it holds local
/// state from before (a persistent store that opened an existing database).
pub(super) fn open_backend(
    spec: &StoreSpec,
    #[cfg_attr(not(feature = "rocksdb"), expect(unused_variables))] location: Option<
        &StateLocation,
    >,
) -> Result<(Box<dyn BytesKeyValueStore>, bool), StoreError> {
    match spec.backend() {
        StoreBackend::InMemory => Ok((Box::new(InMemoryKeyValueStore::default()), false)),
        #[cfg(feature = "rocksdb")]
        StoreBackend::RocksDb => {
            let location = location.ok_or_else(|| StoreError::NoStateDirectory {
                store: spec.name().to_owned(),
            })?;
            let (store, existing) = open_rocksdb(spec.name(), location)?;
            Ok((Box::new(store), existing))
        }
    }
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
        Err(source) => Err(StoreError::Io {
            store: name.to_owned(),
            action: "delete",
            path: path.to_owned(),
            source,
        }),
    }
}
