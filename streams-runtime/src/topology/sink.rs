//! Sink nodes: a record encoded with its topic's codecs and handed to the record collector,
//! to a fixed topic or to one chosen per record, on a partition the collector picks or a
//! user's partitioner does.

use std::borrow::Cow;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::node::{BuildContext, BuiltNode, NodeFactory, internal_topic_name};
use crate::codec::{Codec, Encoded};
use crate::error::{ProcessError, RecordPart, TopologyError};
use crate::processor::{Node, NodeInfo};
use crate::record::{OutgoingRecord, Record, RecordContext};
use crate::task_env::TaskEnv;

/// Chooses a record's partition given the topic's partition count; `None` leaves it to the
/// producer's partitioner (Kafka Streams' `StreamPartitioner`).
pub(crate) type Partitioner<K, V> = Arc<dyn Fn(&K, &V, i32) -> Option<i32> + Send + Sync>;

/// Names a record's topic (Kafka Streams' `TopicNameExtractor`).
pub(crate) type TopicChooser<K, V> =
    Arc<dyn Fn(&K, &V, Option<&RecordContext>) -> Cow<'static, str> + Send + Sync>;

/// Where a sink writes.
enum Target<K, V> {
    Fixed(String),
    PerRecord(TopicChooser<K, V>),
}

/// A sink node: encodes with the topic's codecs and hands the bytes to the record collector.
struct SinkNode<K, V, KC, VC> {
    name: String,
    target: Target<K, V>,
    drop_null_keys: bool,
    partitioner: Option<Partitioner<K, V>>,
    buffers: RefCell<(Vec<u8>, Vec<u8>)>,
    codecs: PhantomData<fn(K, V, KC, VC)>,
}

impl<K, V, KC, VC> Node<K, V> for SinkNode<K, V, KC, VC>
where
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn process(&self, record: Record<K, V>, env: &mut TaskEnv) -> Result<(), ProcessError> {
        let chosen;
        let topic = match &self.target {
            Target::Fixed(topic) => topic.as_str(),
            Target::PerRecord(choose) => {
                chosen = choose(&record.key, &record.value, env.record.as_ref());
                &*chosen
            }
        };
        let partition = match &self.partitioner {
            None => None,
            Some(partitioner) => {
                let count = env.collector.borrow_mut().partition_count(topic)?;
                match partitioner(&record.key, &record.value, count) {
                    Some(p) if !(0..count).contains(&p) => {
                        return Err(ProcessError::PartitionOutOfRange {
                            node: self.name.clone(),
                            topic: topic.to_owned(),
                            partition: p,
                            partitions: count,
                        });
                    }
                    chosen => chosen,
                }
            }
        };
        let mut buffers = self.buffers.borrow_mut();
        let (key_buf, value_buf) = &mut *buffers;
        key_buf.clear();
        value_buf.clear();
        let error = |part, source| ProcessError::Serialization {
            node: self.name.clone(),
            topic: topic.to_owned(),
            part,
            source,
        };
        let key = KC::encode(&record.key, key_buf).map_err(|e| error(RecordPart::Key, e))?;
        if key == Encoded::Null && self.drop_null_keys {
            return Ok(());
        }
        let value =
            VC::encode(&record.value, value_buf).map_err(|e| error(RecordPart::Value, e))?;
        env.collector.borrow_mut().send(OutgoingRecord {
            topic,
            partition,
            key: (key == Encoded::Bytes).then_some(&key_buf[..]),
            value: (value == Encoded::Bytes).then_some(&value_buf[..]),
            timestamp: record.timestamp,
            headers: &record.headers,
        })
    }
}

/// Builds sink nodes; internal topics get the application id as prefix.
pub(crate) struct SinkFactory<K, V, KC, VC> {
    topic: SinkTopic<K, V>,
    partitioner: Option<Partitioner<K, V>>,
    codecs: PhantomData<fn() -> (KC, VC)>,
}

/// The topic a [`SinkFactory`]'s nodes write.
pub(crate) enum SinkTopic<K, V> {
    /// A topic named in the topology; internal ones get the application id as prefix.
    Fixed { name: String, internal: bool },
    /// A topic chosen per record.
    PerRecord(TopicChooser<K, V>),
}

impl<K, V, KC, VC> SinkFactory<K, V, KC, VC> {
    pub(crate) fn new(topic: SinkTopic<K, V>, partitioner: Option<Partitioner<K, V>>) -> Self {
        SinkFactory {
            topic,
            partitioner,
            codecs: PhantomData,
        }
    }
}

impl<K, V, KC, VC> NodeFactory for SinkFactory<K, V, KC, VC>
where
    K: 'static,
    V: 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn build(
        &self,
        info: NodeInfo,
        _children: &[&BuiltNode],
        ctx: &BuildContext<'_>,
    ) -> Result<BuiltNode, TopologyError> {
        let (target, internal) = match &self.topic {
            SinkTopic::Fixed {
                name,
                internal: true,
            } => (
                Target::Fixed(internal_topic_name(ctx.application_id, name)),
                true,
            ),
            SinkTopic::Fixed { name, .. } => (Target::Fixed(name.clone()), false),
            SinkTopic::PerRecord(choose) => (Target::PerRecord(Arc::clone(choose)), false),
        };
        let node: Rc<dyn Node<K, V>> = Rc::new(SinkNode::<K, V, KC, VC> {
            name: info.name,
            target,
            drop_null_keys: internal,
            partitioner: self.partitioner.clone(),
            buffers: RefCell::default(),
            codecs: PhantomData,
        });
        Ok(BuiltNode {
            input: Some(Box::new(node)),
            lifecycle: None,
            source: None,
        })
    }
}
