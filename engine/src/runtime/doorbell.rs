//! How a parked shard is woken (used only under [`super::WaitStrategy::Park`]).

use std::sync::atomic::{fence, AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread::Thread;

/// A shard raises `sleeping`, looks at its rings once more, and parks; a producer that sends
/// while it is raised (or the engine, to stop or abort) unparks it. A missed wake-up costs at
/// most the park timeout.
#[derive(Default)]
pub(crate) struct Doorbell {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Doorbell {
    /// Registers the calling thread as the shard to wake (once, at the start of its loop).
    pub(crate) fn register_current(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// Unparks the shard (a no-op before its thread registered).
    pub(crate) fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// After a send: wakes the shard if it is (about to be) parked. The fence orders the
    /// slot's stamp before the `sleeping` load; the shard fences between raising `sleeping`
    /// and its last look at the rings ([`Doorbell::park_unless`]), so one of the two sees the
    /// other's store.
    #[inline]
    pub(crate) fn ring_after_send(&self) {
        fence(SeqCst);
        if self.sleeping.load(Relaxed) {
            self.wake();
        }
    }

    /// On the shard: raises the flag, fences, and parks for up to `timeout` unless `ready()`
    /// (its last look at the rings and stop flags) says there is something to do.
    pub(crate) fn park_unless(&self, timeout: std::time::Duration, ready: impl FnOnce() -> bool) {
        self.sleeping.store(true, Relaxed);
        fence(SeqCst);
        if !ready() {
            std::thread::park_timeout(timeout);
        }
        self.sleeping.store(false, Relaxed);
    }
}
