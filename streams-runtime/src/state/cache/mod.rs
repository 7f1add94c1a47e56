//! The record cache (Kafka Streams' `ThreadCache`, KIP-63, `statestore.cache.max.bytes`).
//!
//! One [`ThreadCache`] per stream thread, shared by the caching layer of every cached key-value
//! window and session store of the thread's tasks (`cache → change logging → backend`, as Kafka Streams'
//! `CachingKeyValueStore` over its `ChangeLoggingKeyValueBytesStore`). Writes land in the cache
//! as dirty entries, so repeated updates of a key merge before they reach the store, its
//! changelog and the store owner's children. Dirty entries leave the cache in two ways: the task
//! flushes its stores' entries on commit ([`CacheHandle::flush`]), and the cache evicts the least
//! recently used entries, across all its stores, when it holds more than its byte budget. Either
//! way an entry goes through the same path: written to the store below (which logs it), then,
//! when the store's owner forwards its changes (aggregations, table sources), queued as a
//! [`FlushedEntry`] with the value it replaced in the store, for the owner to forward.
//!
//! Forwarding needs the owning task's context, which an eviction triggered by another store (of
//! another task, maybe) does not have: that is why flushed entries are queued per store and
//! forwarded by the store's owner ([`CacheHandle::drain`]) right after its own writes and on every
//! commit, and why an eviction never forwards by itself. Nothing here crosses threads.
//!
//! Three parts, bottom-up: `thread_cache` (the thread's byte budget and its LRU accounting,
//! across stores), `handle` (one store's place in that cache: where its entries go when they
//! leave, and how its owner forwards them) and `caching_store` (the key-value layer that reads
//! and writes through the cache), and `caching_window_store` and `caching_session_store`, the
//! same for the window and session stores of windowed aggregations.

mod caching_session_store;
mod caching_store;
mod caching_window_store;
mod handle;
#[cfg(test)]
mod test_support;
mod thread_cache;

pub(crate) use caching_session_store::{CachingSessionStore, SessionEntries};
pub(crate) use caching_store::CachingKeyValueStore;
pub(crate) use caching_window_store::{CachingWindowStore, WindowEntries};
pub(crate) use handle::{CacheHandle, FlushedEntry};
pub use thread_cache::{CACHE_ENTRY_OVERHEAD, ThreadCache};
