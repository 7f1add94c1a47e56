//! Window definitions: [`TimeWindows`] (tumbling and hopping), [`SlidingWindows`] and
//! [`SessionWindows`], and when a windowed aggregation emits ([`EmitStrategy`]).
//!
//! Each is validated when it is made, as Kafka Streams' constructors are: a definition that
//! cannot describe windows (a zero size, an advance larger than the size, a length that does not
//! fit in milliseconds as an `i64`) is an [`InvalidWindows`] error, never a panic later. Negative
//! durations cannot be expressed: the lengths are [`Duration`]s.
//!
//! All times are milliseconds since the epoch, as record timestamps are.

use std::time::Duration;

pub use crate::error::InvalidWindows;
use crate::state::Window;

/// A duration in milliseconds, if it fits in an `i64` (room is left for adding a second one).
fn millis(what: &'static str, duration: Duration) -> Result<i64, InvalidWindows> {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    i64::try_from(ms)
        .ok()
        .filter(|ms| *ms <= i64::MAX / 4)
        .ok_or(InvalidWindows::TooLong { what, ms })
}

fn positive_millis(what: &'static str, duration: Duration) -> Result<i64, InvalidWindows> {
    match millis(what, duration)? {
        0 => Err(InvalidWindows::Zero { what }),
        ms => Ok(ms),
    }
}

/// Fixed-size windows aligned to the epoch: tumbling (the advance is the size, each record in
/// one window) or hopping (a smaller advance, each record in `size / advance` windows).
///
/// A window is `[start, start + size)`, with `start` a multiple of the advance, and accepts
/// records until stream time reaches its end plus the grace period.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let minutes = TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10))?;
/// assert_eq!(minutes.windows_for(61_000), vec![Window::new(60_000, 120_000)]);
/// let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))?
///     .advance_by(Duration::from_millis(5))?;
/// assert_eq!(hopping.windows_for(12), vec![Window::new(5, 15), Window::new(10, 20)]);
/// assert!(TimeWindows::of_size_with_no_grace(Duration::ZERO).is_err());
/// # Ok::<(), streams::InvalidWindows>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    size_ms: i64,
    advance_ms: i64,
    grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time reaches their end.
    pub fn of_size_with_no_grace(size: Duration) -> Result<Self, InvalidWindows> {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that accept out-of-order records for `grace` after their end.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Result<Self, InvalidWindows> {
        let size_ms = positive_millis("the window size", size)?;
        let grace_ms = millis("the grace period", grace)?;
        Ok(TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms,
        })
    }

    /// Hopping windows: a new window starts every `advance` (more than zero, at most the size).
    pub fn advance_by(self, advance: Duration) -> Result<Self, InvalidWindows> {
        let ms = u64::try_from(advance.as_millis()).unwrap_or(u64::MAX);
        match i64::try_from(ms) {
            Ok(advance_ms) if advance_ms > 0 && advance_ms <= self.size_ms => {
                Ok(TimeWindows { advance_ms, ..self })
            }
            _ => Err(InvalidWindows::Advance {
                advance_ms: ms,
                size_ms: self.size_ms,
            }),
        }
    }

    /// The window size in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// The advance in milliseconds (the size, for tumbling windows).
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The windows a record at `timestamp` falls in, by start: each `[start, start + size)`
    /// with `start <= timestamp < start + size`, `start >= 0` and `start % advance == 0`. A
    /// negative timestamp is in none.
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        self.windows_of(timestamp).collect()
    }

    /// [`windows_for`](Self::windows_for) without collecting them (an aggregation's per-record
    /// path).
    pub(crate) fn windows_of(&self, timestamp: i64) -> impl Iterator<Item = Window> + use<> {
        let (size, advance) = (self.size_ms, self.advance_ms);
        let earliest = timestamp
            .saturating_sub(size)
            .saturating_add(advance)
            .max(0);
        // A negative timestamp starts past itself: no windows.
        let first = if timestamp < 0 {
            timestamp.saturating_add(1)
        } else {
            earliest - earliest % advance
        };
        // Checked: near the end of time the next start does not exist.
        (0..)
            .map_while(move |i: i64| first.checked_add(i.checked_mul(advance)?))
            .take_while(move |start| *start <= timestamp)
            .map(move |start| Window::new(start, start.saturating_add(size)))
    }
}

/// Windows of a fixed time difference `d` defined by the records themselves: each record at `t`
/// makes the window `[t - d, t]` (both bounds inclusive) and the window just after it, and a
/// window exists only while it holds a record, as Kafka Streams' sliding windows.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let windows = SlidingWindows::of_time_difference_and_grace(
///     Duration::from_secs(5),
///     Duration::from_secs(30),
/// )?;
/// assert_eq!((windows.time_difference_ms(), windows.grace_ms()), (5_000, 30_000));
/// # Ok::<(), streams::InvalidWindows>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    time_difference_ms: i64,
    grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows of time difference `time_difference` with no grace period.
    pub fn of_time_difference_with_no_grace(
        time_difference: Duration,
    ) -> Result<Self, InvalidWindows> {
        Self::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }

    /// Sliding windows of time difference `time_difference` that accept out-of-order records
    /// for `grace` after their end.
    pub fn of_time_difference_and_grace(
        time_difference: Duration,
        grace: Duration,
    ) -> Result<Self, InvalidWindows> {
        Ok(SlidingWindows {
            time_difference_ms: positive_millis("the time difference", time_difference)?,
            grace_ms: millis("the grace period", grace)?,
        })
    }

    /// The time difference (the windows' length) in milliseconds.
    pub fn time_difference_ms(&self) -> i64 {
        self.time_difference_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

/// Sessions of activity per key: records of a key closer together than the inactivity gap
/// belong to one session `[first, last]` (both inclusive), and a record that bridges two
/// sessions merges them.
///
/// ```
/// # extern crate streams_runtime as streams;
/// use std::time::Duration;
/// use streams::prelude::*;
///
/// let sessions = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(300))?;
/// assert_eq!(sessions.inactivity_gap_ms(), 300_000);
/// assert!(SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO).is_err());
/// # Ok::<(), streams::InvalidWindows>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    gap_ms: i64,
    grace_ms: i64,
}

impl SessionWindows {
    /// Sessions that end after `gap` without records of their key, closed as soon as stream
    /// time passes their end plus the gap.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Result<Self, InvalidWindows> {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions that end after `gap` without records of their key and accept out-of-order
    /// records for `grace` after that.
    pub fn of_inactivity_gap_and_grace(
        gap: Duration,
        grace: Duration,
    ) -> Result<Self, InvalidWindows> {
        Ok(SessionWindows {
            gap_ms: positive_millis("the inactivity gap", gap)?,
            grace_ms: millis("the grace period", grace)?,
        })
    }

    /// The inactivity gap in milliseconds.
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// The grace period in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

/// When a windowed aggregation forwards its results (Kafka Streams' `EmitStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window's aggregate (the default).
    #[default]
    OnWindowUpdate,
    /// One final result per window, once stream time closes it (its end plus the grace
    /// period), with no suppression buffer: the aggregation emits from its own store. Kafka
    /// Streams commits the close time it emitted up to with its offsets; here a restarted
    /// aggregation takes it from its restored store, so windows that closed after the store's
    /// last write and before the restart can be emitted again (`suppress` has no such gap).
    OnWindowClose,
}

impl EmitStrategy {
    /// Every update of a window's aggregate is forwarded (the default).
    pub fn on_window_update() -> Self {
        EmitStrategy::OnWindowUpdate
    }

    /// Each window's final aggregate is forwarded once, when the window closes.
    pub fn on_window_close() -> Self {
        EmitStrategy::OnWindowClose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn tumbling_windows_hold_each_timestamp_once() {
        let windows = TimeWindows::of_size_with_no_grace(ms(2)).unwrap();
        assert_eq!(windows.windows_for(0), [Window::new(0, 2)]);
        assert_eq!(windows.windows_for(1), [Window::new(0, 2)]);
        assert_eq!(windows.windows_for(2), [Window::new(2, 4)]);
        assert!(windows.windows_for(-1).is_empty());
    }

    #[test]
    fn hopping_windows_start_at_zero_or_later() {
        let windows = TimeWindows::of_size_with_no_grace(ms(10))
            .unwrap()
            .advance_by(ms(5))
            .unwrap();
        assert_eq!(windows.windows_for(3), [Window::new(0, 10)]);
        assert_eq!(
            windows.windows_for(10),
            [Window::new(5, 15), Window::new(10, 20)]
        );
        let thirds = TimeWindows::of_size_with_no_grace(ms(9))
            .unwrap()
            .advance_by(ms(3))
            .unwrap();
        assert_eq!(
            thirds.windows_for(7),
            [Window::new(0, 9), Window::new(3, 12), Window::new(6, 15)]
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_time_do_not_overflow() {
        let windows = TimeWindows::of_size_with_no_grace(ms(10))
            .unwrap()
            .advance_by(ms(3))
            .unwrap();
        assert!(windows.windows_for(i64::MIN).is_empty());
        let last = windows.windows_for(i64::MAX);
        assert_eq!(last.len(), 3);
        assert!(
            last.iter()
                .all(|w| w.start > i64::MAX - 10 && w.start % 3 == 0 && w.end == i64::MAX)
        );
    }

    #[test]
    fn definitions_that_describe_no_windows_are_errors() {
        assert_eq!(
            TimeWindows::of_size_with_no_grace(Duration::ZERO),
            Err(InvalidWindows::Zero {
                what: "the window size"
            })
        );
        let size = TimeWindows::of_size_with_no_grace(ms(10)).unwrap();
        assert!(matches!(
            size.advance_by(ms(11)),
            Err(InvalidWindows::Advance { .. })
        ));
        assert!(matches!(
            size.advance_by(Duration::ZERO),
            Err(InvalidWindows::Advance { .. })
        ));
        assert!(matches!(
            TimeWindows::of_size_and_grace(ms(10), Duration::MAX),
            Err(InvalidWindows::TooLong { .. })
        ));
        assert!(SlidingWindows::of_time_difference_with_no_grace(Duration::ZERO).is_err());
        assert!(SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO).is_err());
        assert_eq!(
            TimeWindows::of_size_and_grace(ms(10), Duration::MAX)
                .unwrap_err()
                .to_string(),
            format!(
                "the grace period of {} ms does not fit: windows count time in i64 milliseconds",
                u64::MAX
            )
        );
    }
}
