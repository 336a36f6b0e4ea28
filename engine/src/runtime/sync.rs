//! The atomics, `Arc`, cell and thread parking that the lock-free code uses (the ring, the
//! doorbell, the stop gate): std's, or loom's under `cfg(loom)`, so that their models
//! (`RUSTFLAGS="--cfg loom" cargo test -p ticklane-engine --lib --release loom`) explore every
//! interleaving the memory model allows. Cross-thread handshakes use `fence(SeqCst)` rather
//! than `SeqCst` accesses: loom models the fences exactly (it treats `SeqCst` accesses as
//! `AcqRel`), and on x86 a store plus a fence costs what a locked swap does.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::thread::{current, yield_now, Thread};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::thread::{current, park_timeout, yield_now, Thread};

/// Under loom, parking has no timeout: a wake-up that is lost shows up as a deadlock, which
/// the model reports.
#[cfg(loom)]
pub(crate) fn park_timeout(_: std::time::Duration) {
    loom::thread::park();
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's closure API (so the same code is checked under loom).
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }

    /// Runs `f` with a pointer for writing; the caller must have exclusive access.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
