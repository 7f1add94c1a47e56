//! Punctuations: callbacks on stream time or wall-clock time, as Kafka Streams schedules them.

use std::time::Duration;

/// Which clock drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// Stream time: advanced only by records' timestamps, so replays give the same punctuations.
    /// The first punctuation fires with the first record; then every `interval` of stream time.
    StreamTime,
    /// Wall-clock time: fires every `interval` of real (or, in the test driver, simulated) time.
    WallClockTime,
}

/// Identifies one scheduled punctuation, to tell several apart in `punctuate` or to cancel one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PunctuatorId(pub(crate) u64);

#[derive(Debug)]
struct Scheduled {
    id: PunctuatorId,
    node: usize,
    kind: PunctuationType,
    interval: i64,
    next: i64,
}

/// The punctuations of one task.
#[derive(Debug, Default)]
pub(crate) struct PunctuationSchedule {
    entries: Vec<Scheduled>,
    next_id: u64,
}

impl PunctuationSchedule {
    /// Schedules a punctuation for `node`; `now` is the wall-clock time (stream time punctuations
    /// are aligned to 0 so they fire as soon as there is data, as in Kafka Streams).
    pub(crate) fn schedule(
        &mut self,
        node: usize,
        interval: Duration,
        kind: PunctuationType,
        now: i64,
    ) -> PunctuatorId {
        let interval = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let id = PunctuatorId(self.next_id);
        self.next_id += 1;
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => now.saturating_add(interval),
        };
        self.entries.push(Scheduled {
            id,
            node,
            kind,
            interval,
            next,
        });
        id
    }

    pub(crate) fn cancel(&mut self, id: PunctuatorId) {
        self.entries.retain(|e| e.id != id);
    }

    /// The earliest punctuation of `kind` due at `now`, moved to its next time (skipping missed
    /// intervals so a gap fires once, not once per missed interval).
    pub(crate) fn take_due(
        &mut self,
        kind: PunctuationType,
        now: i64,
    ) -> Option<(usize, PunctuatorId)> {
        let entry = self
            .entries
            .iter_mut()
            .filter(|e| e.kind == kind && e.next <= now)
            .min_by_key(|e| (e.next, e.id))?;
        let missed = (now - entry.next) / entry.interval;
        entry.next = entry
            .next
            .saturating_add((missed + 1).saturating_mul(entry.interval));
        Some((entry.node, entry.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(s: &mut PunctuationSchedule, kind: PunctuationType, now: i64) -> usize {
        std::iter::from_fn(|| s.take_due(kind, now)).count()
    }

    #[test]
    fn stream_time_fires_on_first_data_then_each_interval_once() {
        let mut s = PunctuationSchedule::default();
        s.schedule(
            0,
            Duration::from_millis(10),
            PunctuationType::StreamTime,
            1_000,
        );
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, -1), 0);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 3), 1);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 9), 0);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 10), 1);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 55), 1);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 59), 0);
        assert_eq!(fire(&mut s, PunctuationType::StreamTime, 60), 1);
        assert_eq!(fire(&mut s, PunctuationType::WallClockTime, 5_000), 0);
    }

    #[test]
    fn wall_clock_fires_after_interval_and_can_be_cancelled() {
        let mut s = PunctuationSchedule::default();
        let id = s.schedule(
            0,
            Duration::from_millis(100),
            PunctuationType::WallClockTime,
            1_000,
        );
        assert_eq!(fire(&mut s, PunctuationType::WallClockTime, 1_099), 0);
        assert_eq!(fire(&mut s, PunctuationType::WallClockTime, 1_100), 1);
        s.cancel(id);
        assert_eq!(fire(&mut s, PunctuationType::WallClockTime, 9_999), 0);
    }
}
