//! Internal topics: plans the repartition and changelog topics of a topology, creates them, and
//! checks source topics (they must exist, and co-partitioned ones must agree on partitions).
//!
//! Topics are created through the admin API. A broker without CreateTopics (librdkafka's mock
//! cluster) falls back to auto-creation through a metadata request; either way the partition
//! counts are read back and checked: a changelog needs a partition for every task.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaClients;
use super::retry::{LastBrokerError, is_transient, within_task_timeout};
use crate::config::StreamsConfig;
use crate::error::{DeserializationErrorHandler, StreamsError};
use crate::state::{StoreKind, StoreSpec, changelog_topic};
use crate::topology::Topology;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the runtime owns a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalTopicKind {
    /// Carries re-keyed records between sub-topologies (`cleanup.policy=delete`).
    Repartition,
    /// The durable copy of a store (`cleanup.policy=compact`; `compact,delete` with a
    /// retention for window and session stores).
    Changelog,
}

/// Kafka Streams' `windowstore.changelog.additional.retention.ms` default: a windowed changelog
/// keeps records one day longer than its store, so clock drift between the brokers and the
/// application never deletes a record the store still holds.
pub const WINDOWED_CHANGELOG_ADDITIONAL_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// One internal topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// Full name, with the application id prefix.
    pub name: String,
    /// Partitions: those of the sub-topology that writes it (repartition) or owns it (changelog).
    pub partitions: i32,
    /// Its role.
    pub kind: InternalTopicKind,
    /// `retention.ms` of a windowed changelog, which is compacted and deleted by time (its
    /// store drops old windows, and so may the topic); `None` keeps the broker's default.
    pub retention_ms: Option<i64>,
}

impl InternalTopic {
    /// The topic configuration it is created with.
    pub fn configs(&self) -> Vec<(&'static str, String)> {
        match (self.kind, self.retention_ms) {
            (InternalTopicKind::Repartition, _) => vec![("cleanup.policy", "delete".to_owned())],
            (InternalTopicKind::Changelog, None) => vec![("cleanup.policy", "compact".to_owned())],
            (InternalTopicKind::Changelog, Some(retention)) => vec![
                ("cleanup.policy", "compact,delete".to_owned()),
                ("retention.ms", retention.to_string()),
            ],
        }
    }
}

/// The `retention.ms` of a store's changelog: store retention plus a day for window and session
/// stores, none (compaction only) for key-value stores.
fn changelog_retention_ms(store: &StoreSpec) -> Option<i64> {
    match store.kind() {
        StoreKind::KeyValue => None,
        StoreKind::Window | StoreKind::Session => Some(
            i64::try_from(store.retention().as_millis())
                .unwrap_or(i64::MAX)
                .saturating_add(WINDOWED_CHANGELOG_ADDITIONAL_RETENTION_MS),
        ),
    }
}

/// The partition count of `topic`, if it exists (one lookup, not retried).
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
) -> Result<Option<i32>, StreamsError> {
    let metadata = client
        .fetch_metadata(Some(topic), METADATA_TIMEOUT)
        .map_err(StreamsError::kafka(format!(
            "cannot read the metadata of `{topic}`"
        )))?;
    partitions_in(&metadata, topic)
}

/// The partition count of `topic` in `metadata`: `None` when it does not exist (yet), an error
/// naming the broker's code when the broker refuses it (an authorization failure).
fn partitions_in(metadata: &Metadata, topic: &str) -> Result<Option<i32>, StreamsError> {
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match found.error().map(RDKafkaErrorCode::from) {
        None => Ok((!found.partitions().is_empty()).then(|| found.partitions().len() as i32)),
        // Unknown, or just created and without a leader yet.
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::LeaderNotAvailable) => {
            Ok(None)
        }
        Some(code) => Err(StreamsError::TopicUnavailable {
            topic: topic.to_owned(),
            code,
        }),
    }
}

/// Looks topics up for an instance that starts: through clients that remember the errors they
/// meet talking to the brokers, trying lookups that time out again within `task.timeout.ms`,
/// so that an unreachable broker is reported by its cause (a refused connection, a failed
/// authentication) rather than as a timeout.
struct TopicLookup {
    /// Looks topics up without creating them.
    lookup: BaseConsumer<LastBrokerError>,
    /// Its metadata requests auto-create topics where the broker allows it.
    creator: BaseProducer<LastBrokerError>,
    task_timeout: Duration,
}

impl TopicLookup {
    fn new(clients: &KafkaClients, task_timeout: Duration) -> Result<Self, StreamsError> {
        let error = |e| StreamsError::kafka("cannot create a metadata client")(e);
        let mut lookup = clients.admin_config();
        lookup.set("allow.auto.create.topics", "false");
        Ok(TopicLookup {
            lookup: lookup
                .create_with_context(LastBrokerError::default())
                .map_err(error)?,
            creator: clients
                .admin_config()
                .create_with_context(LastBrokerError::default())
                .map_err(error)?,
            task_timeout,
        })
    }

    /// The partition count of `topic`, if it exists.
    fn partitions(&self, topic: &str) -> Result<Option<i32>, StreamsError> {
        self.look_up(self.lookup.client(), topic, || {
            let _ = self.lookup.poll(Duration::ZERO);
        })
    }

    /// Looks `topic` up through `client`; `serve` serves the client's events, among them the
    /// errors it met (librdkafka reports them only when the client is polled).
    fn look_up(
        &self,
        client: &Client<LastBrokerError>,
        topic: &str,
        serve: impl Fn(),
    ) -> Result<Option<i32>, StreamsError> {
        let attempt = METADATA_TIMEOUT.min(self.task_timeout.max(Duration::from_secs(1)));
        let metadata = within_task_timeout(
            &format!("looking up topic `{topic}`"),
            self.task_timeout,
            &serve,
            || client.fetch_metadata(Some(topic), attempt),
        )
        .map_err(|error| {
            serve();
            if is_transient(&error) {
                StreamsError::BrokerUnreachable {
                    topic: topic.to_owned(),
                    waited_ms: self.task_timeout.as_millis() as u64,
                    cause: client.context().cause_of(&error),
                }
            } else {
                StreamsError::kafka(format!("cannot read the metadata of `{topic}`"))(error)
            }
        })?;
        partitions_in(&metadata, topic)
    }

    /// Waits until `topic` exists (a metadata request also triggers auto-creation where the
    /// broker allows it); returns its partition count.
    fn wait_for_topic(&self, topic: &str) -> Result<i32, StreamsError> {
        let deadline = std::time::Instant::now() + METADATA_TIMEOUT;
        loop {
            let serve = || self.creator.poll(Duration::ZERO);
            if let Some(count) = self.look_up(self.creator.client(), topic, serve)? {
                return Ok(count);
            }
            if std::time::Instant::now() > deadline {
                return Err(StreamsError::InternalTopicMissing {
                    topic: topic.to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Plans the internal topics of `topology`, given the partition counts of its source topics
/// (`source_partitions(topic)`), checking that co-partitioned sources agree.
pub fn plan(
    topology: &Topology,
    application_id: &str,
    mut source_partitions: impl FnMut(&str) -> Result<Option<i32>, StreamsError>,
) -> Result<Vec<InternalTopic>, StreamsError> {
    let mut planned: BTreeMap<String, InternalTopic> = BTreeMap::new();
    for sub in topology.subtopologies() {
        let mut counts: Vec<(String, i32)> = Vec::new();
        for topic in &sub.source_topics {
            let name = topic.full_name(application_id);
            let count = if topic.internal {
                planned.get(&name).map(|t| t.partitions)
            } else {
                source_partitions(&name)?
            };
            let count = count.ok_or_else(|| StreamsError::SourceTopicMissing {
                topic: name.clone(),
            })?;
            if let Some((other, other_count)) = counts.iter().find(|(_, c)| *c != count) {
                return Err(StreamsError::NotCopartitioned {
                    first: other.clone(),
                    first_partitions: *other_count,
                    second: name,
                    second_partitions: count,
                });
            }
            counts.push((name, count));
        }
        let partitions = counts.iter().map(|(_, c)| *c).max().unwrap_or(1);
        for store in sub.stores.iter().filter(|s| s.logging_enabled()) {
            let name = changelog_topic(application_id, store.name());
            planned.insert(
                name.clone(),
                InternalTopic {
                    name,
                    partitions,
                    kind: InternalTopicKind::Changelog,
                    retention_ms: changelog_retention_ms(store),
                },
            );
        }
        for sink in topology.repartition_sinks_of(sub.id) {
            let name = sink.full_name(application_id);
            planned.insert(
                name.clone(),
                InternalTopic {
                    name,
                    partitions: topology
                        .repartition_partition_count(&sink.name)
                        .unwrap_or(partitions),
                    kind: InternalTopicKind::Repartition,
                    retention_ms: None,
                },
            );
        }
    }
    Ok(planned.into_values().collect())
}

/// The topics `topology` writes by name and the dead-letter topic, if one is configured: the
/// topics besides its sources that the user must create.
pub fn output_topics(topology: &Topology, config: &StreamsConfig) -> Vec<String> {
    let mut topics: Vec<String> = topology
        .sink_topics()
        .iter()
        .filter(|t| !t.internal)
        .map(|t| t.full_name(&config.application_id))
        .collect();
    topics.extend(dead_letter_topic(config).map(str::to_owned));
    topics.sort();
    topics.dedup();
    topics
}

/// The topic `deserialization.exception.handler=dead_letter_queue` sends bad records to.
fn dead_letter_topic(config: &StreamsConfig) -> Option<&str> {
    match &config.deserialization_errors {
        DeserializationErrorHandler::DeadLetterQueue { topic } => Some(topic),
        _ => None,
    }
}

/// Fails, naming the topic, when an output topic or the dead-letter topic does not exist
/// (`partitions(topic)` is `None`): reported at startup, like a missing source topic, rather
/// than as a delivery timeout at the first record.
fn check_outputs(
    topology: &Topology,
    config: &StreamsConfig,
    partitions: impl Fn(&str) -> Result<Option<i32>, StreamsError>,
) -> Result<(), StreamsError> {
    for topic in output_topics(topology, config) {
        if partitions(&topic)?.is_none() {
            return Err(if dead_letter_topic(config) == Some(topic.as_str()) {
                StreamsError::DeadLetterTopicMissing { topic }
            } else {
                StreamsError::SinkTopicMissing { topic }
            });
        }
    }
    Ok(())
}

/// Creates the internal topics of `topology` (or checks the ones that exist).
pub fn prepare(
    topology: &Topology,
    config: &StreamsConfig,
) -> Result<Vec<InternalTopic>, StreamsError> {
    let clients = KafkaClients::new(config);
    let lookup = TopicLookup::new(&clients, config.task_timeout)?;
    let topics = plan(topology, &config.application_id, |t| lookup.partitions(t))?;
    check_outputs(topology, config, |t| lookup.partitions(t))?;
    let mut missing = Vec::new();
    for topic in &topics {
        if lookup.partitions(&topic.name)?.is_none() {
            missing.push(topic);
        }
    }
    if missing.is_empty() {
        return verify(&lookup, topics);
    }
    let admin: AdminClient<DefaultClientContext> = clients
        .admin_config()
        .create()
        .map_err(StreamsError::kafka("cannot create an admin client"))?;
    // The configs outlive the requests that borrow them.
    let configs: Vec<_> = missing.iter().map(|t| (*t, t.configs())).collect();
    let new_topics: Vec<NewTopic<'_>> = configs
        .iter()
        .map(|(t, configs)| {
            configs.iter().fold(
                NewTopic::new(&t.name, t.partitions, TopicReplication::Fixed(-1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    match futures_executor::block_on(admin.create_topics(&new_topics, &admin_options())) {
        Ok(results) => {
            for result in results {
                match result {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((name, code)) => {
                        tracing::info!(topic = %name, error = %code, "cannot create an internal topic; relying on auto-creation");
                    }
                }
            }
        }
        Err(error) => {
            tracing::info!(%error, "the broker does not create topics on request; relying on auto-creation");
        }
    }
    verify(&lookup, topics)
}

/// Waits for every planned topic to exist and checks that changelogs have enough partitions.
fn verify(
    lookup: &TopicLookup,
    topics: Vec<InternalTopic>,
) -> Result<Vec<InternalTopic>, StreamsError> {
    for topic in &topics {
        let actual = lookup.wait_for_topic(&topic.name)?;
        if topic.kind == InternalTopicKind::Changelog && actual < topic.partitions {
            return Err(StreamsError::ChangelogTooSmall {
                topic: topic.name.clone(),
                actual,
                needed: topic.partitions,
            });
        }
    }
    Ok(topics)
}

/// Admin requests time out quickly: a broker without CreateTopics never answers them.
fn admin_options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(5)))
        .request_timeout(Some(Duration::from_secs(5)))
}

/// Creates each `(topic, partitions)` that does not exist yet (through the admin API, or
/// auto-creation where the broker has no CreateTopics); returns the partition counts found.
pub fn ensure_topics(
    config: &StreamsConfig,
    wanted: &[(&str, i32)],
) -> Result<Vec<i32>, StreamsError> {
    let clients = KafkaClients::new(config);
    let lookup = TopicLookup::new(&clients, config.task_timeout)?;
    let admin: AdminClient<DefaultClientContext> = clients
        .admin_config()
        .create()
        .map_err(StreamsError::kafka("cannot create an admin client"))?;
    let mut new_topics = Vec::new();
    for (name, partitions) in wanted {
        if lookup.partitions(name)?.is_none() {
            new_topics.push(NewTopic::new(
                name,
                *partitions,
                TopicReplication::Fixed(-1),
            ));
        }
    }
    if new_topics.is_empty() {
        return wanted
            .iter()
            .map(|(name, _)| lookup.wait_for_topic(name))
            .collect();
    }
    if let Err(error) =
        futures_executor::block_on(admin.create_topics(&new_topics, &admin_options()))
    {
        tracing::info!(%error, "the broker does not create topics on request; relying on auto-creation");
    }
    wanted
        .iter()
        .map(|(name, _)| lookup.wait_for_topic(name))
        .collect()
}

/// Creates the compacted topic `name` with `partitions` partitions unless it exists (through
/// the admin API, or auto-creation where the broker has no CreateTopics).
pub fn ensure_compacted_topic(
    config: &StreamsConfig,
    name: &str,
    partitions: i32,
) -> Result<i32, StreamsError> {
    let clients = KafkaClients::new(config);
    let lookup = TopicLookup::new(&clients, config.task_timeout)?;
    if lookup.partitions(name)?.is_none() {
        let admin: AdminClient<DefaultClientContext> = clients
            .admin_config()
            .create()
            .map_err(StreamsError::kafka("cannot create an admin client"))?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1))
            .set("cleanup.policy", "compact");
        if let Err(error) =
            futures_executor::block_on(admin.create_topics([&topic], &admin_options()))
        {
            tracing::info!(%error, "the broker does not create topics on request; relying on auto-creation");
        }
    }
    lookup.wait_for_topic(name)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::{KeyValueStore, SessionStore, StateStore, WindowStore};

    #[test]
    fn windowed_changelogs_are_compacted_and_deleted_a_day_after_their_stores() {
        let hour = Duration::from_secs(3600);
        let window = WindowStore::<String, u64>::spec_with("w", hour, Duration::from_secs(60));
        let session = SessionStore::<String, u64>::spec_with("s", 2 * hour);
        let key_value = <KeyValueStore<String, u64> as StateStore>::spec("kv");
        let topic = |store: &StoreSpec| InternalTopic {
            name: changelog_topic("app", store.name()),
            partitions: 1,
            kind: InternalTopicKind::Changelog,
            retention_ms: changelog_retention_ms(store),
        };
        assert_eq!(
            topic(&window).configs(),
            [
                ("cleanup.policy", "compact,delete".to_owned()),
                ("retention.ms", (3_600_000 + 86_400_000).to_string()),
            ]
        );
        assert_eq!(
            topic(&session).configs(),
            [
                ("cleanup.policy", "compact,delete".to_owned()),
                ("retention.ms", (7_200_000 + 86_400_000).to_string()),
            ]
        );
        assert_eq!(
            topic(&key_value).configs(),
            [("cleanup.policy", "compact".to_owned())]
        );
    }

    #[test]
    fn a_repartition_topic_gets_its_chosen_partition_count_and_its_readers_follow() {
        use crate::dsl::{Repartitioned, StreamsBuilder, Topic};
        let builder = StreamsBuilder::new();
        let _counts = builder
            .stream(&Topic::<String, u64>::new("in"))
            .repartition_with(Repartitioned::named("spread").with_number_of_partitions(8))
            .group_by_key()
            .count_with(crate::state::Materialized::named("counts"));
        let topology = builder.build().unwrap();
        let planned = plan(&topology, "app", |_| Ok(Some(3))).unwrap();
        let partitions: Vec<(&str, i32)> = planned
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect();
        assert_eq!(
            partitions,
            [("app-counts-changelog", 8), ("app-spread-repartition", 8)]
        );
    }
}
