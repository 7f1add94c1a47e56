//! A store's key-value backend, opened where its spec says: in memory, or in RocksDB under the
//! task's directory. A RocksDB database that does not open (damaged, or from an incompatible
//! version) is deleted and created empty, to be rebuilt from the changelog.

#[cfg(feature = "rocksdb")]
use super::RocksDbKeyValueStore;
use super::{BytesKeyValueStore, InMemoryKeyValueStore, StateLocation, StoreBackend, StoreSpec};
use crate::error::StoreError;

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
    let path = location.store_dir(name);
    let existed = path.join("CURRENT").exists();
    match RocksDbKeyValueStore::open(name, &path, &location.rocksdb) {
        Ok(store) => Ok((store, existed)),
        Err(error) => {
            tracing::warn!(store = name, path = %path.display(), %error,
                "cannot open the local store; deleting it to rebuild it from the changelog");
            location.remove_store(name)?;
            Ok((
                RocksDbKeyValueStore::open(name, &path, &location.rocksdb)?,
                false,
            ))
        }
    }
}
