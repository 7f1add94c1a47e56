//! A task's changelog positions and checkpoints: where each store's restore starts, what the
//! task's own delivered changelog writes have reached, and when the checkpoint file is written
//! (on a clean close, or every [`CHECKPOINT_DELTA`] changelog records).

use super::StreamTask;
use crate::error::StoreError;
use crate::state::{ChangelogOffsets, changelog_topic};

/// How many changelog records a task writes before a commit also flushes its persistent stores
/// and writes a checkpoint (as Kafka Streams does, to keep commits cheap under at-least-once).
const CHECKPOINT_DELTA: i64 = 10_000;

impl StreamTask {
    /// The offset a store's restore starts at: the checkpointed offset of its changelog
    /// partition when the store kept local state, `None` (the beginning) otherwise.
    pub fn restore_start(&self, changelog: &str) -> Option<i64> {
        self.changelog_offsets
            .get(&(changelog.to_owned(), self.id.partition))
            .copied()
    }

    /// Records that the store logging to `changelog` has applied everything before `next`.
    pub fn set_changelog_offset(&mut self, changelog: &str, next: i64) {
        self.changelog_offsets
            .insert((changelog.to_owned(), self.id.partition), next);
    }

    /// Takes the end offsets of the task's own delivered changelog writes; `ends` maps
    /// (changelog topic, partition) to the next offset after the last delivered record.
    pub fn update_changelog_offsets(&mut self, ends: &ChangelogOffsets) {
        for store in self.stores.iter().filter(|s| s.spec().logging_enabled()) {
            let key = (
                changelog_topic(&self.config.application_id, store.spec().name()),
                self.id.partition,
            );
            if let Some(&end) = ends.get(&key) {
                let offset = self.changelog_offsets.entry(key).or_insert(end);
                *offset = (*offset).max(end);
            }
        }
    }

    /// Flushes the persistent stores and writes the checkpoint, when `force`d (a clean close)
    /// or when enough changelog records were written since the last one. Returns whether it
    /// wrote one.
    pub fn maybe_checkpoint(&mut self, force: bool) -> Result<bool, StoreError> {
        let Some(checkpoint) = &self.checkpoint else {
            return Ok(false);
        };
        // Under exactly-once only a clean close vouches for the stores (see `new`).
        if self.config.exactly_once && !force {
            return Ok(false);
        }
        let persistent: ChangelogOffsets = self
            .stores
            .iter()
            .filter(|s| s.is_persistent() && s.spec().logging_enabled())
            .filter_map(|s| {
                let key = (
                    changelog_topic(&self.config.application_id, s.spec().name()),
                    self.id.partition,
                );
                self.changelog_offsets.get(&key).map(|&o| (key, o))
            })
            .collect();
        let delta: i64 = persistent
            .iter()
            .map(|(key, offset)| offset - self.checkpointed.get(key).copied().unwrap_or(0))
            .sum();
        if persistent == self.checkpointed || (!force && delta < CHECKPOINT_DELTA) {
            return Ok(false);
        }
        self.stores.flush()?;
        checkpoint.write(&persistent)?;
        self.checkpointed = persistent;
        Ok(true)
    }
}
