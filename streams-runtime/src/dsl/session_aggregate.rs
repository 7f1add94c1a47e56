//! Session aggregation as a processor (Kafka Streams' `KStreamSessionWindowAggregate`); the
//! rules it shares with the other windowed aggregations are in `window_aggregate`.

use std::sync::Arc;

use serde::Serialize;

use super::aggregate::{Change, Fold, opened, skip_null};
use super::window_aggregate::{NullValues, skip_expired};
use super::windows::{EmitStrategy, SessionWindows};
use crate::codec::{Codec, is_null};
use crate::error::ProcessError;
use crate::processor::{Data, InitContext, Processor, ProcessorContext};
use crate::record::{Headers, Record, Window, Windowed};
use crate::state::{CacheHandle, FlushedEntry, SessionEntryDecoder, SessionStore};

/// Session aggregation: merges each record with the sessions of its key within the inactivity
/// gap (Kafka Streams' `KStreamSessionWindowAggregate`).
pub(crate) struct SessionWindowAggregate<K, VA, KC, VC, F, M> {
    pub(crate) windows: SessionWindows,
    pub(crate) emit: EmitStrategy,
    pub(crate) nulls: NullValues,
    pub(crate) store_name: String,
    pub(crate) store: Option<SessionStore<K, VA, KC, VC>>,
    /// The store's place in the record cache, when cached: the cache then forwards updates.
    cache: Option<CacheHandle>,
    pub(crate) fold: Arc<F>,
    pub(crate) merger: Arc<M>,
    pub(crate) observed_stream_time: i64,
    /// Emit-on-close: the close time up to which sessions were emitted (-1: none yet).
    last_emit_close: i64,
}

impl<K, VA, KC, VC, F, M> SessionWindowAggregate<K, VA, KC, VC, F, M> {
    pub(crate) fn new(
        windows: SessionWindows,
        emit: EmitStrategy,
        nulls: NullValues,
        store_name: &str,
        fold: Arc<F>,
        merger: Arc<M>,
    ) -> Self {
        SessionWindowAggregate {
            windows,
            emit,
            nulls,
            store_name: store_name.to_owned(),
            store: None,
            cache: None,
            fold,
            merger,
            observed_stream_time: -1,
            last_emit_close: -1,
        }
    }
}

/// Turns a flushed entry of a session aggregation's cached store into the change it forwards,
/// stamped with the session's end, as Kafka Streams' `SessionCacheFlushListener` does.
fn session_change_decoder<K, VA, KC, VC>(
    store: SessionEntryDecoder<K, VA, KC, VC>,
) -> impl FnMut(FlushedEntry) -> Result<Record<Windowed<K>, Change<VA>>, ProcessError> + 'static
where
    K: 'static,
    VA: 'static,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    move |entry| {
        let session = store.session(&entry.key)?;
        let new = entry.new.as_deref().map(|b| store.value(b)).transpose()?;
        let old = entry.old.as_deref().map(|b| store.value(b)).transpose()?;
        let end = session.window.end;
        Ok(Record {
            key: session,
            value: Change { new, old },
            timestamp: end,
            headers: entry.meta.headers,
        })
    }
}

impl<K, V, VA, KC, VC, F, M> Processor<K, V> for SessionWindowAggregate<K, VA, KC, VC, F, M>
where
    K: Data + Serialize,
    V: Data + Serialize,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
    F: Fold<K, V, VA>,
    M: Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
{
    type KeyOut = Windowed<K>;
    type ValueOut = Change<VA>;

    fn init(&mut self, ctx: &mut InitContext<'_>) -> Result<(), ProcessError> {
        let store: SessionStore<K, VA, KC, VC> = ctx.store(&self.store_name)?;
        // A restarted aggregation takes the sessions its store's clock had closed as emitted
        // (Kafka Streams commits its last close time with the offsets).
        let closed = store.observed_stream_time()
            - self.windows.grace_ms()
            - self.windows.inactivity_gap_ms();
        self.last_emit_close = if closed >= 0 { closed } else { -1 };
        if self.emit == EmitStrategy::OnWindowUpdate {
            self.cache = ctx.forward_cache_flushes(
                &self.store_name,
                session_change_decoder(store.entry_decoder()),
            )?;
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError> {
        if is_null(&r.key) || (self.nulls == NullValues::Skip && is_null(&r.value)) {
            skip_null(ctx);
            return Ok(());
        }
        let timestamp = r.timestamp;
        let gap = self.windows.inactivity_gap_ms();
        let store = opened(&mut self.store, &self.store_name)?;
        // A restored store remembers its latest session end, a record's timestamp: resuming
        // from it, a replayed record that was late is mostly late again (Kafka Streams resumes
        // from nothing).
        let restored = store.observed_stream_time();
        self.observed_stream_time = self.observed_stream_time.max(restored).max(timestamp);
        // A session can still grow until stream time is its gap and grace past its end.
        let close = self.observed_stream_time - self.windows.grace_ms() - gap;
        let store = opened(&mut self.store, &self.store_name)?;
        let merging = store.find_sessions(
            &r.key,
            timestamp.saturating_sub(gap),
            timestamp.saturating_add(gap),
        )?;
        let mut window = Window::new(timestamp, timestamp);
        // As Kafka Streams: the initial aggregate, merged with each session in turn (a
        // `reduce` has no initial aggregate: its first session's is the start).
        let mut aggregate: Option<VA> = self.fold.initial();
        for (session, value) in &merging {
            window.start = window.start.min(session.window.start);
            window.end = window.end.max(session.window.end);
            aggregate = Some(match aggregate {
                None => value.clone(),
                Some(merged) => (self.merger)(&r.key, merged, value.clone()),
            });
        }
        if window.end < close {
            skip_expired(ctx, window, close);
            if self.emit == EmitStrategy::OnWindowClose {
                self.emit_closed(close, &r.headers, ctx)?;
            }
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let merged = Windowed { key: r.key, window };
        // As Kafka Streams: unless the record made a session of its own, every session it
        // merged with is removed and forwarded as a tombstone (the one the merged session
        // replaces under the same window too), then the merged session is put anew.
        // Cached, the removals and the put stay in the cache, which forwards what is left of
        // them when it flushes (a session merged away before a flush is never forwarded).
        let cache = self.cache.clone();
        let cache = cache.as_ref();
        if window != Window::new(timestamp, timestamp) {
            for (session, old) in merging {
                if let Some(cache) = cache {
                    cache.stage(ctx.record_context().cloned(), r.headers.clone());
                }
                store.remove(&session)?;
                if self.emit == EmitStrategy::OnWindowUpdate && cache.is_none() {
                    let end = session.window.end;
                    ctx.forward(Record {
                        key: session,
                        value: Change {
                            new: None,
                            old: Some(old),
                        },
                        timestamp: end,
                        headers: r.headers.clone(),
                    })?;
                }
            }
        }
        if self.emit == EmitStrategy::OnWindowClose {
            // After the removals (a session this record merges is not final: the merged one
            // will be) and before the put, which moves the store's retention clock and could
            // hide sessions that closed with this record.
            self.emit_closed(close, &r.headers, ctx)?;
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let new = self.fold.fold(&merged.key, r.value, aggregate);
        if let Some(cache) = cache {
            cache.stage(ctx.record_context().cloned(), r.headers.clone());
            store.put(&merged, &new)?;
            // What the cache evicted of this store is forwarded now.
            cache.drain(ctx.env)?;
            return Ok(());
        }
        store.put(&merged, &new)?;
        if self.emit == EmitStrategy::OnWindowUpdate {
            ctx.forward(Record {
                key: merged,
                value: Change {
                    new: Some(new),
                    old: None,
                },
                timestamp: window.end,
                headers: r.headers,
            })?;
        }
        Ok(())
    }
}

impl<K, VA, KC, VC, F, M> SessionWindowAggregate<K, VA, KC, VC, F, M>
where
    K: Data,
    VA: Data,
    KC: Codec<K>,
    VC: Codec<VA>,
{
    /// Emit-on-close: forwards every session that ended before `close` since the last emission
    /// (ends in `[last close, close - 1]`), in end, then start order, each at its end, as
    /// Kafka Streams' `maybeForwardFinalResult` for sessions.
    fn emit_closed(
        &mut self,
        close: i64,
        headers: &Headers,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessError> {
        if self.last_emit_close != -1 && self.last_emit_close >= close {
            return Ok(());
        }
        let upper = close - 1;
        let lower = self.last_emit_close.max(0);
        if upper < 0 || upper < lower {
            return Ok(());
        }
        let store = opened(&mut self.store, &self.store_name)?;
        let mut closed: Vec<(Windowed<K>, VA)> = store
            .find_sessions_in_range(None, None, lower, upper)?
            .into_iter()
            .filter(|(session, _)| session.window.end <= upper)
            .collect();
        closed.sort_by_key(|(session, _)| (session.window.end, session.window.start));
        for (session, value) in closed {
            let end = session.window.end;
            ctx.forward(Record {
                key: session,
                value: Change {
                    new: Some(value),
                    old: None,
                },
                timestamp: end,
                headers: headers.clone(),
            })?;
        }
        self.last_emit_close = close;
        Ok(())
    }
}
