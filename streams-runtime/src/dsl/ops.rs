//! The stateless DSL operators as processors. Each keeps its user function in an `Arc`, shared by
//! every task's instance.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::ProcessError;
use crate::processor::{
    Data, InitContext, Processor, ProcessorContext, ProcessorFunction, PunctuatorId,
};
use crate::record::Record;

/// A predicate over key and value, shareable across threads.
pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

pub(crate) struct Filter<F> {
    pub(crate) predicate: Arc<F>,
    pub(crate) keep: bool,
}

impl<K: Data, V: Data, F: Fn(&K, &V) -> bool + 'static> Processor<K, V> for Filter<F> {
    type KeyOut = K;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        if (self.predicate)(&r.key, &r.value) == self.keep {
            ctx.forward(r)
        } else {
            Ok(())
        }
    }
}

/// The filter in front of a repartition topic: a record with a null key has no partition to
/// go to, so it is dropped (and counted) here rather than written.
pub(crate) struct NullKeyFilter;

impl<K: Data + serde::Serialize, V: Data> Processor<K, V> for NullKeyFilter {
    type KeyOut = K;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        if crate::codec::is_null(&r.key) {
            super::aggregate::skip_null(ctx);
            return Ok(());
        }
        ctx.forward(r)
    }
}

pub(crate) struct Map<F, K2, V2> {
    pub(crate) mapper: Arc<F>,
    pub(crate) output: PhantomData<fn() -> (K2, V2)>,
}

impl<K, V, K2: Data, V2: Data, F: Fn(K, V) -> (K2, V2) + 'static> Processor<K, V>
    for Map<F, K2, V2>
{
    type KeyOut = K2;
    type ValueOut = V2;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V2>,
    ) -> Result<(), ProcessError> {
        let (key, value) = (self.mapper)(r.key, r.value);
        ctx.forward(Record {
            key,
            value,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

pub(crate) struct MapValues<F, V2> {
    pub(crate) mapper: Arc<F>,
    pub(crate) output: PhantomData<fn() -> V2>,
}

impl<K: Data, V, V2: Data, F: Fn(V) -> V2 + 'static> Processor<K, V> for MapValues<F, V2> {
    type KeyOut = K;
    type ValueOut = V2;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V2>,
    ) -> Result<(), ProcessError> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        ctx.forward(Record {
            key,
            value: (self.mapper)(value),
            timestamp,
            headers,
        })
    }
}

pub(crate) struct FlatMap<F, K2, V2> {
    pub(crate) mapper: Arc<F>,
    pub(crate) output: PhantomData<fn() -> (K2, V2)>,
}

impl<K, V, K2, V2, I, F> Processor<K, V> for FlatMap<F, K2, V2>
where
    K2: Data,
    V2: Data,
    I: IntoIterator<Item = (K2, V2)>,
    F: Fn(K, V) -> I + 'static,
{
    type KeyOut = K2;
    type ValueOut = V2;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V2>,
    ) -> Result<(), ProcessError> {
        for (key, value) in (self.mapper)(r.key, r.value) {
            ctx.forward(Record {
                key,
                value,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

pub(crate) struct FlatMapValues<F, V2> {
    pub(crate) mapper: Arc<F>,
    pub(crate) output: PhantomData<fn() -> V2>,
}

impl<K, V, V2, I, F> Processor<K, V> for FlatMapValues<F, V2>
where
    K: Data,
    V2: Data,
    I: IntoIterator<Item = V2>,
    F: Fn(V) -> I + 'static,
{
    type KeyOut = K;
    type ValueOut = V2;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V2>,
    ) -> Result<(), ProcessError> {
        for value in (self.mapper)(r.value) {
            ctx.forward(Record {
                key: r.key.clone(),
                value,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

pub(crate) struct SelectKey<F, K2> {
    pub(crate) selector: Arc<F>,
    pub(crate) output: PhantomData<fn() -> K2>,
}

impl<K, V: Data, K2: Data, F: Fn(&K, &V) -> K2 + 'static> Processor<K, V> for SelectKey<F, K2> {
    type KeyOut = K2;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V>,
    ) -> Result<(), ProcessError> {
        let key = (self.selector)(&r.key, &r.value);
        ctx.forward(r.with_key(key))
    }
}

/// `peek` (forwards) and `foreach` (terminal): call the action, then forward or not.
pub(crate) struct Peek<F> {
    pub(crate) action: Arc<F>,
}

impl<K: Data, V: Data, F: Fn(&K, &V) + 'static> Processor<K, V> for Peek<F> {
    type KeyOut = K;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        (self.action)(&r.key, &r.value);
        ctx.forward(r)
    }
}

/// Forwards unchanged: merge points and branch outputs.
pub(crate) struct PassThrough;

impl<K: Data, V: Data> Processor<K, V> for PassThrough {
    type KeyOut = K;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        ctx.forward(r)
    }
}

/// Sends each record to the first branch whose predicate holds, else to the default branch (the
/// child after the last predicate's) if there is one.
pub(crate) struct Branch<K, V> {
    pub(crate) predicates: Arc<Vec<Predicate<K, V>>>,
}

impl<K: Data, V: Data> Processor<K, V> for Branch<K, V> {
    type KeyOut = K;
    type ValueOut = V;
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessError> {
        let index = self
            .predicates
            .iter()
            .position(|p| p(&r.key, &r.value))
            .unwrap_or(self.predicates.len());
        ctx.forward_to(index, r)
    }
}

/// Runs a [`ProcessorFunction`] with its per-task state.
pub(crate) struct FunctionProcessor<P: ProcessorFunction<K, V>, K, V> {
    pub(crate) function: Arc<P>,
    pub(crate) state: Option<P::State>,
    /// The scheduled timers, in the order of `P::timers()`.
    pub(crate) timers: Vec<PunctuatorId>,
}

impl<K: Data, V: 'static, P: ProcessorFunction<K, V>> Processor<K, V>
    for FunctionProcessor<P, K, V>
{
    type KeyOut = P::KeyOut;
    type ValueOut = P::Output;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        self.state = Some(self.function.open(ctx)?);
        self.timers = self
            .function
            .timers()
            .into_iter()
            .map(|timer| ctx.schedule(timer.every, timer.on))
            .collect();
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, P::KeyOut, P::Output>,
    ) -> Result<(), ProcessError> {
        match &mut self.state {
            Some(state) => self.function.call(state, record, ctx),
            None => Err(ProcessError::processor(
                self.function.name(),
                "processed a record before init",
            )),
        }
    }

    fn punctuate(
        &mut self,
        id: PunctuatorId,
        now: i64,
        ctx: &mut ProcessorContext<'_, P::KeyOut, P::Output>,
    ) -> Result<(), ProcessError> {
        let (Some(state), Some(index)) = (
            &mut self.state,
            self.timers.iter().position(|timer| *timer == id),
        ) else {
            return Ok(());
        };
        self.function.on_timer(state, index, now, ctx)
    }
}
