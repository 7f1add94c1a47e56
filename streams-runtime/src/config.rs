//! Application configuration: Kafka Streams' keys, parsed once at startup into typed values.
//!
//! Settings come from [`StreamsConfig`]'s builder methods, from string key/value pairs
//! ([`StreamsConfig::set`]) and from `STREAMS_*` environment variables
//! ([`StreamsConfig::apply_env`]: `STREAMS_NUM_STREAM_THREADS=2` sets `num.stream.threads`). Every
//! key is checked when it is set: an unknown key or an invalid value is a [`ConfigError`] naming
//! it, never a silent default. Keys starting with `consumer.` or `producer.` pass through to
//! librdkafka (TLS and SASL settings included); librdkafka itself rejects unknown ones when the
//! clients are created.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{DeserializationErrorHandler, ProcessingErrorHandler, ProductionErrorHandler};

/// A configuration mistake, found at startup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not one this library knows.
    #[error(
        "unknown configuration key `{key}`; known keys: {known}, and `consumer.*` / `producer.*` librdkafka properties"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// The known keys.
        known: String,
    },
    /// The value does not parse for the key.
    #[error("invalid value `{value}` for `{key}`: {expected}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// A required key is missing.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// The key is managed by the runtime and cannot be overridden.
    #[error("`{0}` is set by the runtime and cannot be overridden")]
    Reserved(String),
}

/// The processing guarantee (`processing.guarantee`: `at_least_once` or `exactly_once_v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ProcessingGuarantee {
    /// Every record is processed at least once; a crash may redo work since the last commit.
    #[default]
    #[cfg_attr(feature = "cli", value(name = "at_least_once"))]
    AtLeastOnce,
    /// Outputs, state changes and input offsets commit atomically (Kafka transactions).
    #[cfg_attr(feature = "cli", value(name = "exactly_once_v2"))]
    ExactlyOnceV2,
}

impl ProcessingGuarantee {
    /// The configuration value that names this guarantee.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessingGuarantee::AtLeastOnce => "at_least_once",
            ProcessingGuarantee::ExactlyOnceV2 => "exactly_once_v2",
        }
    }
}

impl std::fmt::Display for ProcessingGuarantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The typed configuration of an application instance.
///
/// Built with [`StreamsConfig::new`] and the builder methods, or key by key with
/// [`StreamsConfig::set`]; every value is checked as it is set, and the fields are private so
/// that nothing bypasses those checks (a dead-letter topic without its handler, a commit
/// interval the guarantee's default would overwrite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// `application.id`: the consumer group, and the prefix of internal topics.
    pub(crate) application_id: String,
    /// `bootstrap.servers`; `None` until set (the binaries then start an embedded broker).
    pub(crate) bootstrap_servers: Option<String>,
    /// `num.stream.threads` (default 1).
    pub(crate) num_stream_threads: usize,
    /// `commit.interval.ms` (default 30 000 under at-least-once, 100 under exactly-once, as in
    /// Kafka Streams: a transaction stays open, and its outputs unread, until its commit).
    pub(crate) commit_interval: Duration,
    /// `state.dir` (default `<temp>/streams`).
    pub(crate) state_dir: PathBuf,
    /// `rocksdb.memory.max.bytes`: the block cache and memtables of all RocksDB stores of the
    /// instance together (default 128 MiB).
    pub(crate) rocksdb_memory: usize,
    /// `statestore.cache.max.bytes`: the record cache of the instance, divided evenly among its
    /// stream threads (default 10 MiB, as in Kafka Streams). Updates of a key merge in the cache
    /// until a commit or an eviction forwards the latest; 0 turns caching off, so every update
    /// reaches the stores, changelogs and downstream at once.
    pub(crate) statestore_cache_max_bytes: usize,
    /// `num.standby.replicas`: how many other instances keep a warm copy of each task's
    /// persistent stores (default 0).
    pub(crate) num_standby_replicas: usize,
    /// `processing.guarantee`.
    pub(crate) processing_guarantee: ProcessingGuarantee,
    /// `poll.ms`: how long a thread blocks waiting for records (default 100).
    pub(crate) poll: Duration,
    /// `max.task.idle.ms`: how long a task with an empty input partition waits for it before
    /// processing the others (default 0).
    pub(crate) max_task_idle: Duration,
    /// `task.timeout.ms`: how long a call to the cluster that timed out (metadata, offsets,
    /// transactions) is tried again before it becomes an error (default 300 000, as in Kafka
    /// Streams). A slow or briefly unreachable broker makes the application slow, not dead.
    pub(crate) task_timeout: Duration,
    /// `deserialization.exception.handler`: `fail`, `log_and_continue` or
    /// `dead_letter_queue` (with `errors.dead.letter.queue.topic.name`).
    pub(crate) deserialization_errors: DeserializationErrorHandler,
    /// `processing.exception.handler`: `fail` or `log_and_continue`.
    pub(crate) processing_errors: ProcessingErrorHandler,
    /// `production.exception.handler`: `fail` or `log_and_continue` (also spelled `continue`).
    pub(crate) production_errors: ProductionErrorHandler,
    /// `consumer.*` properties, without the prefix.
    pub(crate) consumer: BTreeMap<String, String>,
    /// `producer.*` properties, without the prefix.
    pub(crate) producer: BTreeMap<String, String>,
    dead_letter_topic: Option<String>,
    dead_letter_handler: bool,
    /// Whether `commit.interval.ms` was set, so the guarantee's default does not replace it.
    commit_interval_set: bool,
}

/// Kafka Streams' default `statestore.cache.max.bytes`: 10 MiB per application instance.
pub const DEFAULT_CACHE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// The default of `rocksdb.memory.max.bytes`: block cache and memtables of all stores together.
pub const DEFAULT_ROCKSDB_MEMORY_BYTES: usize = 128 * 1024 * 1024;

/// Kafka Streams' default `task.timeout.ms`: five minutes.
const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(300);

/// `commit.interval.ms` under at-least-once.
const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(30);
/// `commit.interval.ms` under exactly-once.
const EOS_DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_millis(100);

const KEYS: &[&str] = &[
    "application.id",
    "bootstrap.servers",
    "num.stream.threads",
    "num.standby.replicas",
    "commit.interval.ms",
    "state.dir",
    "rocksdb.memory.max.bytes",
    "statestore.cache.max.bytes",
    "processing.guarantee",
    "poll.ms",
    "max.task.idle.ms",
    "task.timeout.ms",
    "deserialization.exception.handler",
    "errors.dead.letter.queue.topic.name",
    "processing.exception.handler",
    "production.exception.handler",
];

/// librdkafka properties the runtime sets itself.
const RESERVED: &[&str] = &[
    "group.id",
    "bootstrap.servers",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "partition.assignment.strategy",
    "isolation.level",
    "transactional.id",
];

impl StreamsConfig {
    /// Defaults for the given application id.
    pub fn new(application_id: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
            bootstrap_servers: None,
            num_stream_threads: 1,
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            state_dir: std::env::temp_dir().join("streams"),
            rocksdb_memory: DEFAULT_ROCKSDB_MEMORY_BYTES,
            statestore_cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            num_standby_replicas: 0,
            processing_guarantee: ProcessingGuarantee::AtLeastOnce,
            poll: Duration::from_millis(100),
            max_task_idle: Duration::ZERO,
            task_timeout: DEFAULT_TASK_TIMEOUT,
            deserialization_errors: DeserializationErrorHandler::Fail,
            processing_errors: ProcessingErrorHandler::Fail,
            production_errors: ProductionErrorHandler::Fail,
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            dead_letter_topic: None,
            dead_letter_handler: false,
            commit_interval_set: false,
        }
    }

    /// Sets `bootstrap.servers`.
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.bootstrap_servers = Some(servers.into());
        self
    }

    /// Sets `num.stream.threads`.
    pub fn num_stream_threads(mut self, threads: usize) -> Self {
        self.num_stream_threads = threads.max(1);
        self
    }

    /// Sets `commit.interval.ms`.
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit_interval = interval;
        self.commit_interval_set = true;
        self
    }

    /// Sets `task.timeout.ms`: how long a call to the cluster that timed out is tried again
    /// before it becomes an error.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = timeout;
        self
    }

    /// Sets `processing.guarantee`; exactly-once also lowers the default commit interval to
    /// 100 ms unless `commit.interval.ms` was set.
    pub fn processing_guarantee(mut self, guarantee: ProcessingGuarantee) -> Self {
        self.set_guarantee(guarantee);
        self
    }

    fn set_guarantee(&mut self, guarantee: ProcessingGuarantee) {
        self.processing_guarantee = guarantee;
        if !self.commit_interval_set {
            self.commit_interval = match guarantee {
                ProcessingGuarantee::AtLeastOnce => DEFAULT_COMMIT_INTERVAL,
                ProcessingGuarantee::ExactlyOnceV2 => EOS_DEFAULT_COMMIT_INTERVAL,
            };
        }
    }

    /// `application.id`: the consumer group, and the prefix of internal topics.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// `processing.guarantee`.
    pub fn guarantee(&self) -> ProcessingGuarantee {
        self.processing_guarantee
    }

    /// Whether processing is exactly-once (transactions).
    pub fn is_exactly_once(&self) -> bool {
        self.processing_guarantee == ProcessingGuarantee::ExactlyOnceV2
    }

    /// Sets `statestore.cache.max.bytes` (0 turns the record cache off).
    pub fn statestore_cache_max_bytes(mut self, bytes: usize) -> Self {
        self.statestore_cache_max_bytes = bytes;
        self
    }

    /// Sets `state.dir`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Sets one key from its string form, as in a properties file.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let invalid = |expected: &str| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            expected: expected.to_owned(),
        };
        let millis = || {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| invalid("a whole number of milliseconds"))
        };
        if let Some(property) = key.strip_prefix("consumer.") {
            Self::check_reserved(property)?;
            self.consumer.insert(property.to_owned(), value.to_owned());
            return Ok(self);
        }
        if let Some(property) = key.strip_prefix("producer.") {
            Self::check_reserved(property)?;
            self.producer.insert(property.to_owned(), value.to_owned());
            return Ok(self);
        }
        match key {
            "application.id" => {
                if !crate::names::is_legal_name(value) {
                    return Err(invalid("1 to 249 ASCII letters, digits, '.', '_' or '-'"));
                }
                self.application_id = value.to_owned();
            }
            "bootstrap.servers" => {
                if value.trim().is_empty() {
                    return Err(invalid("a comma-separated list of host:port"));
                }
                self.bootstrap_servers = Some(value.to_owned());
            }
            "num.standby.replicas" => {
                self.num_standby_replicas = match value.parse::<usize>() {
                    Ok(n) if n <= 16 => n,
                    _ => return Err(invalid("a number of replicas from 0 to 16")),
                }
            }
            "num.stream.threads" => {
                self.num_stream_threads = match value.parse::<usize>() {
                    Ok(n) if (1..=256).contains(&n) => n,
                    _ => return Err(invalid("a number of threads from 1 to 256")),
                }
            }
            "commit.interval.ms" => {
                self.commit_interval = millis()?;
                self.commit_interval_set = true;
            }
            "state.dir" => {
                if value.is_empty() {
                    return Err(invalid("a directory path"));
                }
                self.state_dir = PathBuf::from(value);
            }
            "rocksdb.memory.max.bytes" => {
                self.rocksdb_memory = match value.parse::<usize>() {
                    Ok(n) if n >= 1024 * 1024 => n,
                    _ => return Err(invalid("a number of bytes, at least 1048576")),
                }
            }
            "statestore.cache.max.bytes" => {
                self.statestore_cache_max_bytes = value
                    .parse::<usize>()
                    .map_err(|_| invalid("a number of bytes (0 turns the record cache off)"))?;
            }
            "processing.guarantee" => {
                let guarantee = match value {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnceV2,
                    _ => return Err(invalid("`at_least_once` or `exactly_once_v2`")),
                };
                self.set_guarantee(guarantee);
            }
            "poll.ms" => self.poll = millis()?,
            "max.task.idle.ms" => self.max_task_idle = millis()?,
            "task.timeout.ms" => self.task_timeout = millis()?,
            "deserialization.exception.handler" => {
                self.dead_letter_handler = false;
                self.deserialization_errors = match value {
                    "fail" => DeserializationErrorHandler::Fail,
                    "log_and_continue" => DeserializationErrorHandler::LogAndContinue,
                    "dead_letter_queue" => {
                        self.dead_letter_handler = true;
                        DeserializationErrorHandler::DeadLetterQueue {
                            topic: self.dead_letter_topic.as_deref().unwrap_or_default().into(),
                        }
                    }
                    _ => return Err(invalid("`fail`, `log_and_continue` or `dead_letter_queue`")),
                }
            }
            "errors.dead.letter.queue.topic.name" => {
                if !crate::names::is_legal_name(value) {
                    return Err(invalid("a legal topic name"));
                }
                self.dead_letter_topic = Some(value.to_owned());
                if self.dead_letter_handler {
                    self.deserialization_errors = DeserializationErrorHandler::DeadLetterQueue {
                        topic: value.into(),
                    };
                }
            }
            "processing.exception.handler" => {
                self.processing_errors = match value {
                    "fail" => ProcessingErrorHandler::Fail,
                    "log_and_continue" => ProcessingErrorHandler::LogAndContinue,
                    _ => return Err(invalid("`fail` or `log_and_continue`")),
                }
            }
            "production.exception.handler" => {
                self.production_errors = match value {
                    "fail" => ProductionErrorHandler::Fail,
                    // `continue` is Kafka Streams' name for the handler's answer; both spell it.
                    "log_and_continue" | "continue" => ProductionErrorHandler::LogAndContinue,
                    _ => return Err(invalid("`fail` or `log_and_continue`")),
                }
            }
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    known: KEYS.join(", "),
                });
            }
        }
        Ok(self)
    }

    fn check_reserved(property: &str) -> Result<(), ConfigError> {
        if RESERVED.contains(&property) {
            Err(ConfigError::Reserved(property.to_owned()))
        } else {
            Ok(())
        }
    }

    /// Applies every `STREAMS_*` variable of `vars` (for example `std::env::vars()`):
    /// `STREAMS_COMMIT_INTERVAL_MS` sets `commit.interval.ms`.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<&mut Self, ConfigError> {
        let mut settings: Vec<(String, String)> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("STREAMS_")?;
                Some((key.to_ascii_lowercase().replace('_', "."), value))
            })
            .collect();
        // The handler choice first, so the dead-letter topic applies to it whatever the order.
        settings.sort_by_key(|(key, _)| key != "deserialization.exception.handler");
        for (key, value) in settings {
            // Underscores are part of a few values' names, never of a key.
            self.set(&key, &value)?;
        }
        Ok(self)
    }

    /// Checks the settings as a whole before the application starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.application_id.is_empty() {
            return Err(ConfigError::Missing("application.id"));
        }
        if self.bootstrap_servers.is_none() {
            return Err(ConfigError::Missing("bootstrap.servers"));
        }
        if let DeserializationErrorHandler::DeadLetterQueue { topic } = &self.deserialization_errors
            && topic.is_empty()
        {
            return Err(ConfigError::Missing("errors.dead.letter.queue.topic.name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_variables_map_to_keys() {
        let mut config = StreamsConfig::new("app");
        config
            .apply_env(env(&[
                ("STREAMS_NUM_STREAM_THREADS", "3"),
                ("STREAMS_COMMIT_INTERVAL_MS", "250"),
                ("STREAMS_CONSUMER_SESSION_TIMEOUT_MS", "6000"),
                ("STREAMS_ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME", "dlq"),
                (
                    "STREAMS_DESERIALIZATION_EXCEPTION_HANDLER",
                    "dead_letter_queue",
                ),
                ("PATH", "/bin"),
            ]))
            .unwrap();
        assert_eq!(config.num_stream_threads, 3);
        assert_eq!(config.commit_interval, Duration::from_millis(250));
        assert_eq!(config.consumer["session.timeout.ms"], "6000");
        assert_eq!(
            config.deserialization_errors,
            DeserializationErrorHandler::DeadLetterQueue {
                topic: "dlq".into()
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        let mut config = StreamsConfig::new("app");
        let unknown = config.set("num.stream.thread", "2").unwrap_err();
        assert!(
            unknown
                .to_string()
                .contains("unknown configuration key `num.stream.thread`")
        );
        let invalid = config.set("commit.interval.ms", "soon").unwrap_err();
        assert_eq!(
            invalid.to_string(),
            "invalid value `soon` for `commit.interval.ms`: a whole number of milliseconds"
        );
        assert_eq!(
            config.set("consumer.group.id", "x").unwrap_err(),
            ConfigError::Reserved("group.id".into())
        );
        assert_eq!(
            config.validate().unwrap_err(),
            ConfigError::Missing("bootstrap.servers")
        );
        config.set("bootstrap.servers", "localhost:9092").unwrap();
        assert_eq!(
            config
                .set("processing.guarantee", "exactly_once")
                .unwrap_err()
                .to_string(),
            "invalid value `exactly_once` for `processing.guarantee`: `at_least_once` or `exactly_once_v2`"
        );
    }

    #[test]
    fn the_record_cache_size_is_parsed_in_bytes() {
        let mut config = StreamsConfig::new("app");
        assert_eq!(config.statestore_cache_max_bytes, 10_485_760);
        config.set("statestore.cache.max.bytes", "0").unwrap();
        assert_eq!(config.statestore_cache_max_bytes, 0);
        config
            .apply_env(env(&[("STREAMS_STATESTORE_CACHE_MAX_BYTES", "4096")]))
            .unwrap();
        assert_eq!(config.statestore_cache_max_bytes, 4096);
        for bad in ["-1", "10MB", ""] {
            assert_eq!(
                config.set("statestore.cache.max.bytes", bad).unwrap_err(),
                ConfigError::InvalidValue {
                    key: "statestore.cache.max.bytes".into(),
                    value: bad.into(),
                    expected: "a number of bytes (0 turns the record cache off)".into(),
                }
            );
        }
        assert_eq!(
            config.statestore_cache_max_bytes, 4096,
            "unchanged by mistakes"
        );
        let config = StreamsConfig::new("app").statestore_cache_max_bytes(1024);
        assert_eq!(config.statestore_cache_max_bytes, 1024);
    }

    #[test]
    fn exactly_once_commits_every_100_ms_unless_told_otherwise() {
        let mut config = StreamsConfig::new("app");
        config
            .set("processing.guarantee", "exactly_once_v2")
            .unwrap();
        assert!(config.is_exactly_once());
        assert_eq!(config.commit_interval, Duration::from_millis(100));
        config.set("commit.interval.ms", "500").unwrap();
        config
            .set("processing.guarantee", "exactly_once_v2")
            .unwrap();
        assert_eq!(config.commit_interval, Duration::from_millis(500));
        let config = StreamsConfig::new("app")
            .commit_interval(Duration::from_secs(2))
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2);
        assert_eq!(config.commit_interval, Duration::from_secs(2));
        let config = StreamsConfig::new("app")
            .processing_guarantee(ProcessingGuarantee::ExactlyOnceV2)
            .processing_guarantee(ProcessingGuarantee::AtLeastOnce);
        assert_eq!(config.commit_interval, Duration::from_secs(30));
    }
}
