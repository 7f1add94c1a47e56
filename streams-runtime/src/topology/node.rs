//! Runtime nodes: the instantiated processors, sources and sinks of one task, and the factories
//! that build them from the topology.
//!
//! Edges are typed: a node holds its children as `Rc<dyn Node<K, V>>` for exactly the key and value
//! types it forwards, so passing a record along costs one dynamic call and no conversion. The
//! topology stores nodes type-erased; a task builds them children-first and each factory recovers
//! its children's typed handles once, at build time, never per record.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use crate::codec::Codec;
use crate::error::{ProcessError, RecordPart, TopologyError};
use crate::processor::{
    InitContext, Node, NodeInfo, Processor, ProcessorContext, PunctuatorId, forward_all,
};
#[cfg(feature = "kafka")]
use crate::record::BorrowedInput;
use crate::record::RawRecord;
use crate::record::Record;
use crate::state::TaskStores;
use crate::task_env::TaskEnv;

/// The task-level hooks of a processor node.
pub(crate) trait NodeLifecycle {
    fn init(&self, env: &mut TaskEnv, stores: &TaskStores) -> Result<(), ProcessError>;
    fn punctuate(
        &self,
        id: PunctuatorId,
        timestamp: i64,
        env: &mut TaskEnv,
    ) -> Result<(), ProcessError>;
    fn close(&self);
}

/// A source node: turns raw input records into typed ones.
pub(crate) trait RawSource {
    /// Decodes and processes `raw`; the record is left intact when decoding fails (for a
    /// dead-letter queue), its headers are taken when it succeeds.
    fn process_raw(&self, raw: &mut RawRecord, env: &mut TaskEnv) -> Result<(), ProcessError>;
    /// Decodes and processes a record still in the consumer's buffer: only what its key and
    /// value decode into is allocated. Its headers are taken when decoding succeeds.
    #[cfg(feature = "kafka")]
    fn process_borrowed(
        &self,
        input: &mut BorrowedInput<'_>,
        env: &mut TaskEnv,
    ) -> Result<(), ProcessError>;
}

/// One node built for a task.
#[derive(Default)]
pub(crate) struct BuiltNode {
    /// `Rc<dyn Node<K, V>>` for the node's input types; parents downcast it.
    pub(crate) input: Option<Box<dyn Any>>,
    pub(crate) lifecycle: Option<Rc<dyn NodeLifecycle>>,
    pub(crate) source: Option<Rc<dyn RawSource>>,
}

/// What a factory may need while building.
pub(crate) struct BuildContext<'a> {
    pub(crate) application_id: &'a str,
}

/// Builds one node of a topology for a task.
pub(crate) trait NodeFactory: Send + Sync {
    fn build(
        &self,
        info: NodeInfo,
        children: &[&BuiltNode],
        ctx: &BuildContext<'_>,
    ) -> Result<BuiltNode, TopologyError>;
}

fn typed_children<K: 'static, V: 'static>(
    info: &NodeInfo,
    children: &[&BuiltNode],
) -> Result<Vec<Rc<dyn Node<K, V>>>, TopologyError> {
    children
        .iter()
        .zip(&info.child_names)
        .map(|(child, child_name)| {
            child
                .input
                .as_ref()
                .and_then(|input| input.downcast_ref::<Rc<dyn Node<K, V>>>())
                .cloned()
                .ok_or_else(|| TopologyError::EdgeType {
                    from: info.name.clone(),
                    to: child_name.clone(),
                })
        })
        .collect()
}

/// A [`Processor`] instance with its children.
struct ProcessorNode<P: Processor<KIn, VIn>, KIn, VIn> {
    info: NodeInfo,
    processor: RefCell<P>,
    children: Vec<Rc<dyn Node<P::KeyOut, P::ValueOut>>>,
    input: PhantomData<fn(KIn, VIn)>,
}

impl<P: Processor<KIn, VIn>, KIn, VIn> Node<KIn, VIn> for ProcessorNode<P, KIn, VIn> {
    fn process(&self, record: Record<KIn, VIn>, env: &mut TaskEnv) -> Result<(), ProcessError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            env,
        };
        self.processor.borrow_mut().process(record, &mut ctx)
    }
}

impl<P: Processor<KIn, VIn>, KIn, VIn> NodeLifecycle for ProcessorNode<P, KIn, VIn> {
    fn init(&self, env: &mut TaskEnv, stores: &TaskStores) -> Result<(), ProcessError> {
        let mut ctx = InitContext {
            node: &self.info,
            env,
            stores,
            children: &self.children,
        };
        self.processor.borrow_mut().init(&mut ctx)
    }

    fn punctuate(
        &self,
        id: PunctuatorId,
        timestamp: i64,
        env: &mut TaskEnv,
    ) -> Result<(), ProcessError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            env,
        };
        self.processor
            .borrow_mut()
            .punctuate(id, timestamp, &mut ctx)
    }

    fn close(&self) {
        self.processor.borrow_mut().close();
    }
}

/// Builds [`ProcessorNode`]s from a supplier of processor instances.
pub(crate) struct ProcessorFactory<KIn, VIn, S> {
    supplier: S,
    input: PhantomData<fn(KIn, VIn)>,
}

impl<KIn, VIn, S> ProcessorFactory<KIn, VIn, S> {
    pub(crate) fn new(supplier: S) -> Self {
        ProcessorFactory {
            supplier,
            input: PhantomData,
        }
    }
}

impl<KIn, VIn, P, S> NodeFactory for ProcessorFactory<KIn, VIn, S>
where
    KIn: 'static,
    VIn: 'static,
    P: Processor<KIn, VIn>,
    S: Fn() -> P + Send + Sync,
{
    fn build(
        &self,
        info: NodeInfo,
        children: &[&BuiltNode],
        _ctx: &BuildContext<'_>,
    ) -> Result<BuiltNode, TopologyError> {
        let children = typed_children::<P::KeyOut, P::ValueOut>(&info, children)?;
        let node = Rc::new(ProcessorNode {
            info,
            processor: RefCell::new((self.supplier)()),
            children,
            input: PhantomData::<fn(KIn, VIn)>,
        });
        let input: Rc<dyn Node<KIn, VIn>> = node.clone();
        Ok(BuiltNode {
            input: Some(Box::new(input)),
            lifecycle: Some(node),
            source: None,
        })
    }
}

/// A source node: decodes with the topic's codecs and forwards.
struct SourceNode<K, V, KC, VC> {
    children: Vec<Rc<dyn Node<K, V>>>,
    codecs: PhantomData<fn() -> (KC, VC)>,
}

impl<K, V, KC, VC> RawSource for SourceNode<K, V, KC, VC>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn process_raw(&self, raw: &mut RawRecord, env: &mut TaskEnv) -> Result<(), ProcessError> {
        let error = |part, source| {
            deserialization_error(&raw.topic, raw.partition, raw.offset, part, source)
        };
        let key = KC::decode(raw.key.as_deref()).map_err(|e| error(RecordPart::Key, e))?;
        // The value's buffer moves into the record when the codec can keep it; it stays in
        // `raw` on an error, for the dead-letter queue.
        let value = VC::decode_owned(&mut raw.value).map_err(|e| error(RecordPart::Value, e))?;
        let headers = std::mem::take(&mut raw.headers);
        forward_input(
            &self.children,
            Record {
                key,
                value,
                timestamp: raw.timestamp,
                headers,
            },
            env,
        )
    }

    #[cfg(feature = "kafka")]
    fn process_borrowed(
        &self,
        input: &mut BorrowedInput<'_>,
        env: &mut TaskEnv,
    ) -> Result<(), ProcessError> {
        let error = |part, source| {
            deserialization_error(input.topic, input.partition, input.offset, part, source)
        };
        let key = KC::decode(input.key).map_err(|e| error(RecordPart::Key, e))?;
        let value = VC::decode(input.value).map_err(|e| error(RecordPart::Value, e))?;
        let headers = std::mem::take(&mut input.headers);
        forward_input(
            &self.children,
            Record {
                key,
                value,
                timestamp: input.timestamp,
                headers,
            },
            env,
        )
    }
}

/// Sends a decoded input record to a source's children. Only a record that decodes moves
/// stream time (Kafka Streams skips corrupted records before they reach the task's clock).
fn forward_input<K: Clone, V: Clone>(
    children: &[Rc<dyn Node<K, V>>],
    record: Record<K, V>,
    env: &mut TaskEnv,
) -> Result<(), ProcessError> {
    env.stream_time = env.stream_time.max(record.timestamp);
    env.current_timestamp.set(record.timestamp);
    forward_all(children, record, env)
}

fn deserialization_error(
    topic: &str,
    partition: i32,
    offset: i64,
    part: RecordPart,
    source: crate::codec::CodecError,
) -> ProcessError {
    ProcessError::Deserialization {
        topic: topic.to_owned(),
        partition,
        offset,
        part,
        source,
    }
}

/// Builds source nodes.
pub(crate) struct SourceFactory<K, V, KC, VC>(PhantomData<fn() -> (K, V, KC, VC)>);

impl<K, V, KC, VC> SourceFactory<K, V, KC, VC> {
    pub(crate) fn new() -> Self {
        SourceFactory(PhantomData)
    }
}

impl<K, V, KC, VC> NodeFactory for SourceFactory<K, V, KC, VC>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KC: Codec<K>,
    VC: Codec<V>,
{
    fn build(
        &self,
        info: NodeInfo,
        children: &[&BuiltNode],
        _ctx: &BuildContext<'_>,
    ) -> Result<BuiltNode, TopologyError> {
        let node = SourceNode::<K, V, KC, VC> {
            children: typed_children(&info, children)?,
            codecs: PhantomData,
        };
        Ok(BuiltNode {
            input: None,
            lifecycle: None,
            source: Some(Rc::new(node)),
        })
    }
}

/// The full name of an internal topic: `<application.id>-<name>`.
pub(crate) fn internal_topic_name(application_id: &str, name: &str) -> String {
    format!("{application_id}-{name}")
}
