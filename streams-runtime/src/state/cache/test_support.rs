//! Fixtures of the record cache's unit tests: a cached store over a backend, optionally change
//! logged, and readers of what the store below the cache holds.

use std::cell::{Cell, RefCell};
use std::ops::Bound;
use std::rc::Rc;

use super::{CACHE_ENTRY_OVERHEAD, CacheHandle, CachingKeyValueStore, ThreadCache};
use crate::error::ProcessError;
use crate::record::{OutgoingRecord, RecordCollector};
use crate::state::logging::ChangeLoggingStore;
use crate::state::{BytesKeyValueStore, ChangelogContext, InMemoryKeyValueStore};

/// The bytes an entry without headers costs.
pub(super) fn size(key: &str, value: &str) -> usize {
    2 * key.len() + value.len() + CACHE_ENTRY_OVERHEAD
}

/// Keeps what is logged, as `(key, value, timestamp)`.
#[derive(Default)]
pub(super) struct Logged(pub(super) Vec<(String, Option<String>, i64)>);

impl RecordCollector for Logged {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), ProcessError> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.0.push((
            record.key.map(text).unwrap_or_default(),
            record.value.map(text),
            record.timestamp,
        ));
        Ok(())
    }
}

/// A cached store over `inner` (logged to `logged` when given), with the clock its task
/// would share.
pub(super) struct Fixture {
    pub(super) store: CachingKeyValueStore,
    pub(super) handle: CacheHandle,
    pub(super) clock: Rc<Cell<i64>>,
}

/// Registers a store named `name` over `inner` with `cache`, change logged to `logged` when given.
pub(super) fn cached(
    cache: &ThreadCache,
    name: &str,
    inner: Box<dyn BytesKeyValueStore>,
    logged: Option<&Rc<RefCell<Logged>>>,
) -> Fixture {
    let clock = Rc::new(Cell::new(0));
    let inner: Box<dyn BytesKeyValueStore> = match logged {
        Some(logged) => Box::new(ChangeLoggingStore::new(
            inner,
            name,
            ChangelogContext {
                application_id: "app".to_owned(),
                partition: 0,
                collector: logged.clone(),
                timestamp: Rc::clone(&clock),
            },
        )),
        None => inner,
    };
    let handle = CacheHandle::register(cache, name, inner, Rc::clone(&clock));
    Fixture {
        store: CachingKeyValueStore::new(handle.clone()),
        handle,
        clock,
    }
}

/// An empty in-memory backend.
pub(super) fn memory() -> Box<dyn BytesKeyValueStore> {
    Box::new(InMemoryKeyValueStore::default())
}

/// What the store below the cache holds.
pub(super) fn below(fixture: &Fixture) -> Vec<(String, String)> {
    entries(&**fixture.handle.inner().unwrap())
}

/// Every entry of `store`, as text, in key order.
pub(super) fn entries(store: &dyn BytesKeyValueStore) -> Vec<(String, String)> {
    let mut out = Vec::new();
    store
        .scan(Bound::Unbounded, Bound::Unbounded, &mut |k, v| {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ));
            true
        })
        .unwrap();
    out
}

/// Owned `(key, value)` pairs, to compare with [`entries`].
pub(super) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
