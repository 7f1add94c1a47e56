//! [`Materialized`]: how an aggregation's or a table's store is named and kept.

use std::marker::PhantomData;

use std::time::Duration;

use super::{KeyValueStore, SessionStore, StateStore, StoreBackend, StoreSpec, WindowStore};
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
    retention: Option<Duration>,
    types: PhantomData<fn() -> (K, V, KC, VC)>,
}

impl<K, V, KC, VC> std::fmt::Debug for Materialized<K, V, KC, VC> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialized")
            .field("name", &self.name)
            .field("logging", &self.logging)
            .field("caching", &self.caching)
            .field("backend", &self.backend)
            .field("retention", &self.retention)
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
            retention: None,
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
            retention: self.retention,
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

    /// Keeps a windowed aggregation's windows (or sessions, after they end) for `retention`
    /// (Kafka Streams' `withRetention`): at least the window size plus the grace period, which
    /// is also the default. Interactive queries can read windows as far back as this.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// The chosen retention of a windowed store, if any.
    pub fn retention(&self) -> Option<Duration> {
        self.retention
    }

    /// The chosen name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn into_spec(self, generated_name: impl FnOnce() -> String) -> StoreSpec {
        let name = self.name.clone().unwrap_or_else(generated_name);
        // Aggregations and tables keep each value's timestamp, as Kafka Streams' timestamped
        // stores do; typed handles still read and write plain values.
        let spec = <KeyValueStore<K, V, KC, VC> as StateStore>::spec(&name).with_timestamps();
        self.finish(spec)
    }

    /// The window store of a windowed aggregation: timestamped, windows of `window_size_ms`,
    /// kept for the chosen retention or `default_retention_ms`, plus `extra_retention_ms`.
    pub(crate) fn into_window_spec(
        self,
        generated_name: impl FnOnce() -> String,
        window_size_ms: i64,
        default_retention_ms: i64,
        extra_retention_ms: i64,
    ) -> StoreSpec {
        let name = self.name.clone().unwrap_or_else(generated_name);
        let retention = self
            .retention
            .unwrap_or(Duration::from_millis(
                u64::try_from(default_retention_ms).unwrap_or(0),
            ))
            .saturating_add(Duration::from_millis(
                u64::try_from(extra_retention_ms).unwrap_or(0),
            ));
        let size = Duration::from_millis(u64::try_from(window_size_ms).unwrap_or(0));
        let spec = WindowStore::<K, V, KC, VC>::spec_with(&name, retention, size).with_timestamps();
        self.finish(spec)
    }

    /// The session store of a session-windowed aggregation, kept for the chosen retention or
    /// `default_retention_ms` (plus `extra_retention_ms`) after each session ends.
    pub(crate) fn into_session_spec(
        self,
        generated_name: impl FnOnce() -> String,
        default_retention_ms: i64,
        extra_retention_ms: i64,
    ) -> StoreSpec {
        let name = self.name.clone().unwrap_or_else(generated_name);
        let retention = self
            .retention
            .unwrap_or(Duration::from_millis(
                u64::try_from(default_retention_ms).unwrap_or(0),
            ))
            .saturating_add(Duration::from_millis(
                u64::try_from(extra_retention_ms).unwrap_or(0),
            ));
        let spec = SessionStore::<K, V, KC, VC>::spec_with(&name, retention);
        self.finish(spec)
    }

    fn finish(self, spec: StoreSpec) -> StoreSpec {
        let spec = spec.with_backend(self.backend);
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
