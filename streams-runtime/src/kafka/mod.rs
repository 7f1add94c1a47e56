//! The Kafka side of the runtime: stream threads over rdkafka, the record collector, changelog
//! restoration, internal topics and the embedded broker. Nothing outside this module (and the
//! application in `app`) sees an rdkafka type: tasks, processors and stores run unchanged on the
//! test driver.

mod collector;
pub mod embedded;
pub mod restore;
mod retry;
pub(crate) mod standby;
pub(crate) mod thread;
// Public for the integration tests and benchmarks, which prepare topics the way an instance
// does; not part of the API.
#[doc(hidden)]
pub mod topics;
mod transaction;

use rdkafka::config::ClientConfig;

use crate::config::StreamsConfig;
use crate::task_env::TaskId;

pub use embedded::EmbeddedBroker;
/// The Kafka client library the runtime uses, for programs that also talk to Kafka directly.
pub use rdkafka;
pub use restore::StateRestoreListener;

/// The contents of one store of one task, as bytes, taken when its thread stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSnapshot {
    /// The task that owned the store.
    pub task: TaskId,
    /// The store's name.
    pub store: String,
    /// Its entries in key order, as stored.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether values carry an 8-byte timestamp prefix.
    pub timestamped: bool,
}

/// Applies the user's `consumer.*` or `producer.*` properties.
fn set_all(client: &mut ClientConfig, properties: &std::collections::BTreeMap<String, String>) {
    for (key, value) in properties {
        client.set(key, value);
    }
}

/// Builds the librdkafka configurations of an instance's clients from its typed settings.
// Public for the integration tests and benchmarks, whose own clients must match an instance's;
// not part of the API.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct KafkaClients {
    config: StreamsConfig,
}

impl KafkaClients {
    /// Client configurations for `config`.
    pub fn new(config: &StreamsConfig) -> Self {
        KafkaClients {
            config: config.clone(),
        }
    }

    fn base(&self, client_id: &str) -> ClientConfig {
        let mut client = ClientConfig::new();
        if let Some(servers) = &self.config.bootstrap_servers {
            client.set("bootstrap.servers", servers);
        }
        client.set("client.id", client_id);
        client
    }

    /// The `isolation.level` of the instance's consumers: under exactly-once they read only
    /// committed transactions, so no aborted output or state change is ever processed.
    fn isolation_level(&self) -> &'static str {
        if self.config.is_exactly_once() {
            "read_committed"
        } else {
            "read_uncommitted"
        }
    }

    /// The group consumer of a stream thread: manual commits, eager `range` assignment (keeps
    /// co-partitioned inputs together), earliest offsets for new groups.
    pub fn consumer_config(&self, client_id: &str) -> ClientConfig {
        let mut client = self.base(client_id);
        client
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000");
        set_all(&mut client, &self.config.consumer);
        client
            .set("group.id", &self.config.application_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("partition.assignment.strategy", "range")
            .set("isolation.level", self.isolation_level());
        client
    }

    /// The producer of a stream thread: Java's default partitioner, so keys land where other
    /// Kafka clients put them.
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let mut client = self.base(client_id);
        client
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "120000");
        set_all(&mut client, &self.config.producer);
        client
    }

    /// The transactional producer of a stream thread under exactly-once, with its
    /// `transactional.id`. Kafka Streams' defaults: a transaction that stays open for 10 s
    /// is aborted by the broker; librdkafka needs a record's delivery timeout within that.
    pub fn transactional_producer_config(
        &self,
        client_id: &str,
        transactional_id: &str,
    ) -> ClientConfig {
        let mut client = self.base(client_id);
        client
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("transaction.timeout.ms", "10000")
            .set("message.timeout.ms", "10000");
        set_all(&mut client, &self.config.producer);
        client
            .set("transactional.id", transactional_id)
            .set("enable.idempotence", "true");
        client
    }

    /// The consumer that restores stores from changelogs: assigned partitions only, no commits.
    pub fn restore_config(&self, client_id: &str) -> ClientConfig {
        let mut client = self.base(&format!("{client_id}-restore"));
        set_all(&mut client, &self.config.consumer);
        client
            .set(
                "group.id",
                format!("{}-restore", self.config.application_id),
            )
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", self.isolation_level());
        client
    }

    /// An admin or metadata client.
    pub fn admin_config(&self) -> ClientConfig {
        let mut client = self.base(&format!("{}-admin", self.config.application_id));
        set_all(&mut client, &self.config.producer);
        client
    }
}
