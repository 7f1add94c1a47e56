//! What every byte-level store has, whatever its kind: the lifecycle its task drives. A task
//! flushes its stores before it commits, restores them from their changelogs, clears local
//! state it cannot trust and lists entries as their changelogs hold them, without knowing
//! whether a store holds keys, windows or sessions. Key-value, window and session stores add
//! their own reads and writes on top ([`BytesKeyValueStore`](super::BytesKeyValueStore),
//! [`BytesWindowStore`](super::BytesWindowStore), [`BytesSessionStore`](super::BytesSessionStore)).

use crate::error::StoreError;

/// A store over bytes, of any kind: the supertrait of [`BytesKeyValueStore`],
/// [`BytesWindowStore`] and [`BytesSessionStore`].
///
/// Its keys are store keys, as in the store's changelog: a key-value store's keys, a window
/// store's `[key][window start][sequence number]`, a session store's `[key][end][start]`.
///
/// [`BytesKeyValueStore`]: super::BytesKeyValueStore
/// [`BytesWindowStore`]: super::BytesWindowStore
/// [`BytesSessionStore`]: super::BytesSessionStore
pub trait BytesStore {
    /// Calls `visit(store_key, value)` for every entry in store-key order (window and session
    /// stores: segment by segment), until it returns `false`.
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError>;
    /// Makes every write so far durable in the backend.
    fn flush(&mut self) -> Result<(), StoreError>;
    /// Applies one changelog record while restoring (`None` deletes), without logging it again.
    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        self.restore_batch(&[(key.to_vec(), value.map(<[u8]>::to_vec))])
    }
    /// Applies changelog records in order (`None` deletes) while restoring, without logging
    /// them; disk backends write them as one batch.
    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError>;
    /// Removes every entry (local state found unusable, to be restored from scratch), without
    /// logging anything.
    fn clear(&mut self) -> Result<(), StoreError>;
    /// Whether the data outlives the process (and a checkpoint can vouch for it).
    fn is_persistent(&self) -> bool {
        false
    }
}

/// A boxed store is a store: what lets a task hold a store of any kind as one
/// `RefCell<dyn BytesStore>`.
impl<S: BytesStore + ?Sized> BytesStore for Box<S> {
    fn entries(&self, visit: &mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError> {
        (**self).entries(visit)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        (**self).flush()
    }

    fn restore(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        (**self).restore(key, value)
    }

    fn restore_batch(&mut self, records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        (**self).restore_batch(records)
    }

    fn clear(&mut self) -> Result<(), StoreError> {
        (**self).clear()
    }

    fn is_persistent(&self) -> bool {
        (**self).is_persistent()
    }
}
