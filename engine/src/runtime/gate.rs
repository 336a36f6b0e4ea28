//! The stop handshake between [`crate::Engine::stop`] and one source's ingress: a stopping
//! engine waits for sends in flight, and sends that start after the stop are refused, so a
//! stop never races a half-delivered batch.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Release, Ordering::SeqCst};
use std::time::Duration;

/// One source's gate. One ingress per source, so one writer of `in_send`.
#[derive(Default)]
pub(crate) struct Gate {
    /// Set by `stop`: sends that start after it are refused.
    stopped: AtomicBool,
    /// 1 while the source's (single) ingress is inside a send, else 0.
    in_send: AtomicUsize,
}

impl Gate {
    /// Runs `send` inside the gate, or returns `None` if the engine is stopping. Entering is
    /// a SeqCst swap (ordered before the `stopped` load, against [`Gate::close`]'s
    /// store-then-load), leaving a plain release store: one locked instruction per send.
    #[inline]
    pub(crate) fn pass<R>(&self, send: impl FnOnce() -> R) -> Option<R> {
        self.in_send.swap(1, SeqCst);
        if self.stopped.load(SeqCst) {
            self.in_send.store(0, Release);
            return None;
        }
        let r = send();
        self.in_send.store(0, Release);
        Some(r)
    }

    /// Refuses sends from now on.
    pub(crate) fn close(&self) {
        self.stopped.store(true, SeqCst);
    }

    /// Waits until no send is in flight (a blocked send completes: shards keep draining), or
    /// until `give_up()` says to stop waiting.
    pub(crate) fn wait_idle(&self, give_up: impl Fn() -> bool) {
        while self.in_send.load(SeqCst) != 0 && !give_up() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
