//! SIGTERM / SIGINT: stop reading, flush everything accepted (bars, store), exit 128 + N. The
//! flush to the store is bounded by `--pg-flush-timeout` from the signal on, so a dead
//! database cannot hold the stop forever; a second signal exits at once.

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane::operators::store::StoreHandle;

/// The first signal received, if any (watched by a thread of its own).
pub(super) struct Signals {
    received: Arc<AtomicI32>,
}

impl Signals {
    /// Installs the handlers; on the first signal, the store's final flush (if any) gets
    /// `deadline.1` from then on.
    pub(super) fn install(deadline: Option<(StoreHandle, Duration)>) -> anyhow::Result<Signals> {
        let received = Arc::new(AtomicI32::new(0));
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
        let flag = received.clone();
        std::thread::Builder::new().name("ticklane-signals".into()).spawn(move || {
            for sig in signals.forever() {
                if flag.swap(sig, Ordering::SeqCst) != 0 {
                    eprintln!("ticklane: second signal: exiting without flushing");
                    std::process::exit(128 + sig);
                }
                log::warn!("signal {sig}: stopping the replay and flushing what was accepted");
                if let Some((h, t)) = &deadline {
                    h.set_deadline(Instant::now() + *t);
                }
            }
        })?;
        Ok(Signals { received })
    }

    /// Whether a signal arrived (cheap: checked once per record).
    #[inline]
    pub(super) fn stopping(&self) -> bool {
        self.received.load(Ordering::Relaxed) != 0
    }

    /// The first signal received.
    pub(crate) fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}
