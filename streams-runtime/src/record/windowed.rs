//! [`Window`] and [`Windowed`]: a time window and a key in one, the keys of windowed
//! aggregates and of window and session stores.

/// A time window: `[start, end)` for time windows, `[start, end]` (both inclusive) for sessions,
/// in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// The window's start.
    pub start: i64,
    /// The window's end.
    pub end: i64,
}

impl Window {
    /// The window from `start` to `end`.
    pub fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }
}

/// A key and the window it belongs to: the key of windowed aggregates and session stores.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// `key` in the window from `start` to `end` (`[start, end)` for time windows, `[start,
    /// end]` for sliding windows and sessions).
    pub fn new(key: K, start: i64, end: i64) -> Self {
        Windowed {
            key,
            window: Window::new(start, end),
        }
    }
}

/// As Kafka Streams prints a windowed key: `[key@start/end]`.
impl<K: std::fmt::Display> std::fmt::Display for Windowed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}@{}/{}]",
            self.key, self.window.start, self.window.end
        )
    }
}
