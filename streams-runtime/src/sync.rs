//! Locks that survive a panicking thread.
//!
//! The runtime's mutexes guard small values that every write replaces or updates in one step (a
//! counter, an offset map, the list of threads, a producer handle), so a thread that panicked
//! while holding one cannot have left the value half-written. A poisoned lock therefore still
//! holds a whole value; skipping the work behind it (as `if let Ok(..) = lock()` would) silently
//! loses a commit offset or a shutdown request instead. The panic itself is reported where it
//! happened: the application marks the thread failed.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the value over from a thread that panicked while holding it.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_value() {
        let mutex = std::sync::Arc::new(Mutex::new(vec![1]));
        let held = std::sync::Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let mut guard = held.lock().unwrap_or_else(PoisonError::into_inner);
            guard.push(2);
            panic!("a thread dies holding the lock");
        })
        .join();
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), vec![1, 2]);
    }
}
