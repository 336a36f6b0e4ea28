//! The run state shared by the engine and every shard: abort, graceful stop, and the first
//! failure.

use super::error::EngineError;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Acquire, Ordering::Relaxed, Ordering::SeqCst};

/// Set by the engine (stop, abort) or by a failing shard (abort); polled by shards once per
/// loop iteration.
#[derive(Default)]
pub(crate) struct Control {
    abort: AtomicBool,
    /// Graceful stop requested: set only after every accepted batch is in the rings.
    stop: AtomicBool,
    failure: Mutex<Option<EngineError>>,
}

impl Control {
    /// Whether shards must exit at once.
    #[inline]
    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Relaxed)
    }

    /// Whether shards must exit at once (ordered: for a shard's last look before parking).
    pub(crate) fn aborted_acquire(&self) -> bool {
        self.abort.load(Acquire)
    }

    /// Whether a graceful stop was requested.
    #[inline]
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Acquire)
    }

    /// Tells shards to exit at once.
    pub(crate) fn abort(&self) {
        self.abort.store(true, SeqCst);
    }

    /// Tells shards to drain what is in their rings, fire everything and exit.
    pub(crate) fn stop(&self) {
        self.stop.store(true, SeqCst);
    }

    /// Records `e` unless an earlier failure was recorded, then aborts.
    pub(crate) fn fail(&self, e: EngineError) {
        self.failure.lock().get_or_insert(e);
        self.abort();
    }

    /// Whether the run was aborted (for the report).
    pub(crate) fn was_aborted(&self) -> bool {
        self.abort.load(SeqCst)
    }

    /// The first failure, once.
    pub(crate) fn take_failure(&self) -> Option<EngineError> {
        self.failure.lock().take()
    }
}
