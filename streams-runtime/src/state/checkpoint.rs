//! A task's checkpoint file: for each changelog partition of its persistent stores, the offset
//! up to which the local store is known to hold the changelog (written after a commit or a clean
//! close). A restart restores only what the changelog got after that offset.
//!
//! The file is text, one `<topic> <partition> <offset>` line per changelog partition, replaced
//! atomically (written beside, then renamed), so a crash leaves either the old or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The name of the checkpoint file in a task's directory.
pub const CHECKPOINT_FILE: &str = ".checkpoint";

/// Changelog offsets, by (topic, partition): the next offset the local store has not applied.
pub type ChangelogOffsets = BTreeMap<(String, i32), i64>;

/// The checkpoint file of one task directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint of the task whose stores live under `task_dir`.
    pub fn in_dir(task_dir: &Path) -> Self {
        Checkpoint {
            path: task_dir.join(CHECKPOINT_FILE),
        }
    }

    /// The offsets written last; empty when there is no file. A file that cannot be parsed is
    /// an error: the caller then trusts no local state.
    pub fn read(&self) -> Result<ChangelogOffsets, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(self.io_error("read", e)),
        };
        let mut offsets = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let parsed = line
                .rsplit_once(' ')
                .and_then(|(rest, offset)| {
                    let (topic, partition) = rest.rsplit_once(' ')?;
                    Some((topic, partition.parse().ok()?, offset.parse().ok()?))
                })
                .filter(|(topic, _, _)| !topic.is_empty());
            let Some((topic, partition, offset)) = parsed else {
                return Err(StoreError::CheckpointDamaged {
                    path: self.path.clone(),
                    line: number + 1,
                });
            };
            offsets.insert((topic.to_owned(), partition), offset);
        }
        Ok(offsets)
    }

    /// Replaces the file with `offsets`.
    pub fn write(&self, offsets: &ChangelogOffsets) -> Result<(), StoreError> {
        let temporary = self.path.with_extension("tmp");
        let mut text = String::new();
        for ((topic, partition), offset) in offsets {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &self.path)
        };
        write().map_err(|e| self.io_error("write", e))
    }

    /// Removes the file (the local state is no longer vouched for).
    pub fn delete(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_error("delete", e)),
        }
    }

    fn io_error(&self, action: &'static str, source: std::io::Error) -> StoreError {
        StoreError::CheckpointIo {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::in_dir(dir.path());
        assert!(checkpoint.read().unwrap().is_empty());
        let offsets: ChangelogOffsets = [
            (("app-counts-changelog".to_owned(), 3), 1200),
            (("app-other store-changelog".to_owned(), 0), 7),
        ]
        .into();
        checkpoint.write(&offsets).unwrap();
        assert_eq!(checkpoint.read().unwrap(), offsets);
        checkpoint.delete().unwrap();
        assert!(checkpoint.read().unwrap().is_empty());
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CHECKPOINT_FILE), "topic 0 12\ngarbage\n").unwrap();
        let error = Checkpoint::in_dir(dir.path()).read().unwrap_err();
        assert!(error.to_string().contains("line 2"), "{error}");
    }
}
