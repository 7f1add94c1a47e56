//! [`Materialized`]: how an aggregation's or a table's store is named and kept.

use std::marker::PhantomData;

use super::{KeyValueStore, StateStore, StoreBackend, StoreSpec};
use crate::codec::{Codec, StoreKeyCodec, StoreValueCodec};

/// The store behind a `count`, `reduce`, `aggregate` or `table`: its name, codecs and backend.
///
/// The key and value types are part of the type, so materializing a `count()` (values `u64`)
/// into a store of another value type does not compile.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use streams::prelude::*;
///
/// let counts: Materialized<String, u64> = Materialized::named("word-counts").with_logging_disabled();
/// assert_eq!(counts.name(), Some("word-counts"));
/// ```
pub struct Materialized<K, V, KC = StoreKeyCodec, VC = StoreValueCodec> {
    name: Option<String>,
    logging: bool,
    caching: bool,
    backend: StoreBackend,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V, KC, VC> std::fmt::Debug for Materialized<K, V, KC, VC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialized")
            .field("name", &self.name)
            .field("logging", &self.logging)
            .field("caching", &self.caching)
            .field("backend", &self.backend)
            .finish()
    }
}

impl<K, V, KC, VC> Default for Materialized<K, V, KC, VC> {
    fn default() -> Self {
        Materialized {
            name: None,
            logging: true,
            // As Kafka Streams' `Materialized`: cached unless told otherwise (the thread's
            // cache exists only when `statestore.cache.max.bytes` is not 0).
            caching: true,
            backend: StoreBackend::default(),
            types: PhantomData,
        }
    }
}

impl<K, V> Materialized<K, V>
where
    K: 'static,
    V: 'static,
    StoreKeyCodec: Codec<K>,
    StoreValueCodec: Codec<V>,
{
    /// A store with a generated name and the default store codecs.
    pub fn unnamed() -> Self {
        Self::default()
    }

    /// A store named `name` with the default store codecs (its changelog topic will be
    /// `<application.id>-<name>-changelog`).
    pub fn named(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Self::default()
        }
    }
}

impl<K, V, KC, VC> Materialized<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    /// The same store with the codecs `KC2` and `VC2`.
    pub fn with_codecs<KC2: Codec<K>, VC2: Codec<V>>(self) -> Materialized<K, V, KC2, VC2> {
        Materialized {
            name: self.name,
            logging: self.logging,
            caching: self.caching,
            backend: self.backend,
            types: PhantomData,
        }
    }

    /// Turns change logging off: the store is not restored after a failure.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Turns record caching off (Kafka Streams' `withCachingDisabled`): every update reaches
    /// the store, its changelog and the table's downstream at once, instead of merging per key
    /// until the next commit or eviction.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// Turns record caching back on (the default; effective when `statestore.cache.max.bytes`
    /// is not 0).
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// Whether the store's updates go through the record cache.
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// Keeps the store on the given backend.
    pub fn with_backend(mut self, backend: StoreBackend) -> Self {
        self.backend = backend;
        self
    }

    /// The chosen name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn into_spec(self, generated_name: impl FnOnce() -> String) -> StoreSpec {
        let name = self.name.unwrap_or_else(generated_name);
        // Aggregations and tables keep each value's timestamp, as Kafka Streams' timestamped
        // stores do; typed handles still read and write plain values.
        let spec = <KeyValueStore<K, V, KC, VC> as StateStore>::spec(&name)
            .with_backend(self.backend)
            .with_timestamps();
        let spec = if self.caching {
            spec.with_caching_enabled()
        } else {
            spec
        };
        if self.logging {
            spec
        } else {
            spec.with_logging_disabled()
        }
    }
}
