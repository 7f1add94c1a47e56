//! The embedded broker: librdkafka's in-process mock cluster, so demos and tests need no Kafka.
//!
//! It speaks the Kafka protocol (consumer groups, offsets, transactions, fault injection) but
//! has no CreateTopics request: [`EmbeddedBroker::create_topic`] and
//! [`EmbeddedBroker::prepare`] create topics through its own API instead. It is a test broker:
//! slow, and it shows aborted transactional records to `read_committed` readers.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaClients;
use super::topics::{self, InternalTopic};
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::topology::Topology;

/// The partition count librdkafka's mock cluster gives a topic it creates on first produce.
const MOCK_DEFAULT_PARTITIONS: i32 = 4;

/// An in-process Kafka-protocol broker on a loopback port.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
    servers: String,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("servers", &self.servers)
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster.
    pub fn start() -> Result<Self, StreamsError> {
        let cluster =
            MockCluster::new(1).map_err(StreamsError::kafka("cannot start the embedded broker"))?;
        let servers = cluster.bootstrap_servers();
        Ok(EmbeddedBroker { cluster, servers })
    }

    /// The `bootstrap.servers` value that reaches it.
    pub fn bootstrap_servers(&self) -> &str {
        &self.servers
    }

    /// Creates `topic` with `partitions` partitions (a no-op if it exists with that many).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), StreamsError> {
        match self.cluster.create_topic(topic, partitions, 1) {
            Ok(()) | Err(KafkaError::MockCluster(RDKafkaErrorCode::TopicAlreadyExists)) => Ok(()),
            Err(e) => Err(StreamsError::kafka(format!(
                "cannot create topic `{topic}`"
            ))(e)),
        }
    }

    /// Creates the internal topics `topology` needs under `config` with the right partition
    /// counts (the mock broker would otherwise auto-create them with its default of 4), and the
    /// output and dead-letter topics that do not exist yet, which an instance checks for at
    /// startup.
    pub fn prepare(
        &self,
        topology: &Topology,
        config: &StreamsConfig,
    ) -> Result<Vec<InternalTopic>, StreamsError> {
        let mut config = config.clone();
        config.bootstrap_servers = Some(self.servers.clone());
        let mut lookup = KafkaClients::new(&config).admin_config();
        lookup.set("allow.auto.create.topics", "false");
        let metadata: BaseConsumer = lookup
            .create()
            .map_err(StreamsError::kafka("cannot create a metadata client"))?;
        let planned = topics::plan(topology, &config.application_id, |t| {
            topics::partition_count(metadata.client(), t)
        })?;
        for topic in &planned {
            self.create_topic(&topic.name, topic.partitions)?;
        }
        // A demo broker creates what a user would have created on a real cluster: the output
        // and dead-letter topics (sized as the mock sizes topics it creates on first produce).
        for topic in topics::output_topics(topology, &config) {
            if topics::partition_count(metadata.client(), &topic)?.is_none() {
                self.create_topic(&topic, MOCK_DEFAULT_PARTITIONS)?;
            }
        }
        Ok(planned)
    }

    /// The mock cluster, for fault injection (`broker_down`, `request_errors`, ...).
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
