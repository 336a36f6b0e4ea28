//! How a parked shard is woken (used only under [`super::WaitStrategy::Park`]).

use super::sync::{current, fence, park_timeout, AtomicBool, Thread};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::OnceLock;

/// A shard raises `sleeping`, looks at its rings once more, and parks; a producer that sends
/// while it is raised (or the engine, to stop or abort) unparks it. No wake-up is lost (the
/// loom model below checks it; the park timeout is a second line of defence).
pub(crate) struct Doorbell {
    sleeping: AtomicBool,
    thread: OnceLock<Thread>,
}

impl Default for Doorbell {
    fn default() -> Doorbell {
        Doorbell { sleeping: AtomicBool::new(false), thread: OnceLock::new() }
    }
}

impl Doorbell {
    /// Registers the calling thread as the shard to wake (once, at the start of its loop).
    pub(crate) fn register_current(&self) {
        let _ = self.thread.set(current());
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
            park_timeout(timeout);
        }
        self.sleeping.store(false, Relaxed);
    }
}

/// Loom model: a send and a parking shard at every interleaving; with a lost wake-up the
/// shard would park for ever, which loom reports as a deadlock.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::time::Duration;

    #[test]
    fn loom_a_send_always_wakes_a_parking_shard() {
        loom::model(|| {
            let bell = Arc::new(Doorbell::default());
            let slot = Arc::new(AtomicBool::new(false)); // a ring slot's "written" stamp
            let (b, s) = (bell.clone(), slot.clone());
            let shard = thread::spawn(move || {
                b.register_current();
                while !s.load(Acquire) {
                    b.park_unless(Duration::from_millis(10), || s.load(Acquire));
                }
            });
            slot.store(true, Release); // the producer's send
            bell.ring_after_send();
            shard.join().expect("shard");
        });
    }
}
