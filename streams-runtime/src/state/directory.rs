//! The state directory of an application instance, `<state.dir>/<application.id>` (Kafka
//! Streams' `StateDirectory`): one place for its layout on disk.
//!
//! ```text
//! <state.dir>/<application.id>/
//!     .lock           held by the running instance: two instances on one directory would
//!                     corrupt each other's stores
//!     .process-id     the instance's id, kept across restarts
//!     <task id>/      one directory per task: its stores, and its `.checkpoint`
//!         <store>/
//! ```
//!
//! `StateDirectory` (feature `kafka`) is an application instance's own handle: it creates and
//! locks the directory and keeps the process id. [`StateRoot`] is what it hands to the threads
//! that run tasks (stream and standby threads, or the test driver's): where each task's stores
//! live, and the RocksDB memory they share.

#[cfg(feature = "kafka")]
use std::fs::File;
#[cfg(feature = "kafka")]
use std::path::Path;
use std::path::PathBuf;

use crate::error::StoreError;
#[cfg(feature = "kafka")]
use crate::error::StreamsError;
#[cfg(feature = "rocksdb")]
use crate::state::RocksDbMemory;
use crate::task_env::TaskId;

/// The lock file in the application's state directory.
#[cfg(feature = "kafka")]
const LOCK_FILE: &str = ".lock";

/// The file in the application's state directory that keeps the instance's process id.
#[cfg(feature = "kafka")]
const PROCESS_ID_FILE: &str = ".process-id";

/// The locked state directory of a running instance, `<state.dir>/<application.id>`.
///
/// The lock is held for as long as the value lives.
#[cfg(feature = "kafka")]
#[derive(Debug)]
pub(crate) struct StateDirectory {
    path: PathBuf,
    /// Kept open: dropping it releases the lock.
    _lock: File,
}

#[cfg(feature = "kafka")]
impl StateDirectory {
    /// Where the application `application_id` keeps its state under `state_dir`.
    pub(crate) fn path_of(state_dir: &Path, application_id: &str) -> PathBuf {
        state_dir.join(application_id)
    }

    /// Creates and locks the state directory of `application_id` under `state_dir`. Fails with
    /// [`StreamsError::StateDirLocked`] when another instance holds it.
    pub(crate) fn lock(state_dir: &Path, application_id: &str) -> Result<Self, StreamsError> {
        let path = Self::path_of(state_dir, application_id);
        let failed = |source: std::io::Error| StreamsError::StateDir {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&path).map_err(failed)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => Ok(StateDirectory { path, _lock: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StreamsError::StateDirLocked(path)),
            Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
        }
    }

    /// Reads the instance's process id from the directory, or makes one (a damaged one is
    /// replaced).
    ///
    /// The id outlives restarts on the same state directory, so under exactly-once a restarted
    /// instance's producers reuse their `transactional.id`s
    /// (`<application.id>-<process id>-<thread>`): initializing them fences the crashed
    /// incarnation's producers and aborts its open transactions at once, instead of leaving
    /// `read_committed` readers waiting for the broker's transaction timeout.
    pub(crate) fn load_process_id(&self) -> Result<String, StreamsError> {
        let path = self.path.join(PROCESS_ID_FILE);
        let failed = |source: std::io::Error| StreamsError::StateDir {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) if uuid::Uuid::parse_str(text.trim()).is_ok() => {
                return Ok(text.trim().to_owned());
            }
            Ok(_) => tracing::warn!(path = %path.display(), "replacing a damaged process id"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(failed(e)),
        }
        let id = uuid::Uuid::new_v4().to_string();
        // Written beside, then renamed: a crash leaves the old id or the new one, never half.
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, &id).map_err(failed)?;
        std::fs::rename(&temporary, &path).map_err(failed)?;
        Ok(id)
    }

    /// The task directories under this one, for the threads that run tasks; their RocksDB
    /// stores share a budget of `rocksdb_memory` bytes (ignored without the `rocksdb` feature,
    /// where no store is persistent).
    pub(crate) fn task_directories(&self, rocksdb_memory: usize) -> StateRoot {
        #[cfg(not(feature = "rocksdb"))]
        let _ = rocksdb_memory;
        StateRoot {
            app_dir: self.path.clone(),
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksDbMemory::new(rocksdb_memory),
        }
    }
}

/// The task directories of an application instance, under `<state.dir>/<application.id>`, and
/// the RocksDB memory their stores share. Cheap to clone: every thread that runs tasks has one.
#[derive(Debug, Clone)]
pub struct StateRoot {
    /// `<state.dir>/<application.id>`.
    pub app_dir: PathBuf,
    /// The shared block cache and write-buffer budget.
    #[cfg(feature = "rocksdb")]
    pub rocksdb: RocksDbMemory,
}

impl StateRoot {
    /// Where the stores of task `id` live.
    pub fn location(&self, id: TaskId) -> StateLocation {
        StateLocation {
            task_dir: self.app_dir.join(id.to_string()),
            #[cfg(feature = "rocksdb")]
            rocksdb: self.rocksdb.clone(),
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

impl StateLocation {
    /// The directory of the task's persistent store `store`.
    pub(crate) fn store_dir(&self, store: &str) -> PathBuf {
        self.task_dir.join(store)
    }

    /// Deletes the directory of the task's store `store` (nothing to do when there is none),
    /// so that it is rebuilt from its changelog.
    pub(crate) fn remove_store(&self, store: &str) -> Result<(), StoreError> {
        let path = self.store_dir(store);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                store: store.to_owned(),
                action: "delete",
                path,
                source,
            }),
        }
    }

    /// Deletes the directory of the task's store `store`, which no checkpoint vouches for: its
    /// data may be ahead of, or apart from, its changelog, and is restored from there instead.
    pub(crate) fn remove_unvouched_store(&self, store: &str) -> Result<(), StoreError> {
        tracing::info!(task_dir = %self.task_dir.display(), store,
            "deleting local state no checkpoint vouches for");
        self.remove_store(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "kafka")]
    #[test]
    fn a_locked_state_directory_refuses_a_second_instance_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDirectory::lock(dir.path(), "app").unwrap();
        assert_eq!(first.path, dir.path().join("app"));
        let error = StateDirectory::lock(dir.path(), "app").unwrap_err();
        assert!(
            matches!(&error, StreamsError::StateDirLocked(path) if path == &dir.path().join("app")),
            "{error}"
        );
        drop(first);
        StateDirectory::lock(dir.path(), "app").unwrap();
    }

    #[cfg(feature = "kafka")]
    #[test]
    fn the_process_id_outlives_the_instance_and_a_damaged_one_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateDirectory::lock(dir.path(), "app").unwrap();
        let id = first.load_process_id().unwrap();
        drop(first);
        let again = StateDirectory::lock(dir.path(), "app").unwrap();
        assert_eq!(again.load_process_id().unwrap(), id);
        std::fs::write(again.path.join(PROCESS_ID_FILE), "not a uuid").unwrap();
        let replaced = again.load_process_id().unwrap();
        assert_ne!(replaced, id);
        assert!(uuid::Uuid::parse_str(&replaced).is_ok());
    }

    #[test]
    fn an_unvouched_store_is_deleted_and_a_missing_one_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = StateRoot {
            app_dir: dir.path().to_owned(),
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksDbMemory::new(1 << 20),
        };
        let task = root.location(TaskId {
            subtopology: 1,
            partition: 2,
        });
        assert_eq!(task.task_dir, dir.path().join("1_2"));
        std::fs::create_dir_all(task.task_dir.join("counts")).unwrap();
        task.remove_unvouched_store("counts").unwrap();
        assert!(!task.task_dir.join("counts").exists());
        task.remove_unvouched_store("counts").unwrap();
    }
}
