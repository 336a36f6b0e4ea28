//! SIGTERM / SIGINT. The first: reading stops (a read blocked on a pipe or FIFO gives up too),
//! every window fires, everything accepted is written (to the store within
//! `--pg-flush-timeout` from then), and the exit code is 128 + N. A second, while that
//! drain runs: exit at once, saying exactly how many bars the output (and the store) holds. A
//! live run's drain has a deadline (`--drain-timeout`): past it, the run exits 1 the same way,
//! whatever the store's own flush deadline. Once the run has finished (lingering with
//! `--metrics-linger`), a signal only ends the wait.

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use ticklane::operators::store::StoreHandle;
use ticklane_tools::input::StopFlag;

/// How far a run got, for whoever reports it before the end (the second signal).
#[derive(Default)]
pub(super) struct Tally {
    /// Trades accepted by the engine.
    pub(super) accepted: AtomicU64,
    /// Bars in the output (whole lines).
    pub(super) bars: Arc<AtomicU64>,
}

/// The first signal received, if any (watched by a thread of its own).
pub(super) struct Signals {
    received: Arc<AtomicI32>,
    /// Signals received so far.
    count: Arc<AtomicU32>,
    /// The run has finished: a signal no longer stops or exits anything.
    finished: Arc<AtomicBool>,
    /// A reader stopped the run on a malformed record (`--on-error fail`): the other reader
    /// (trades and quotes read at once) stops too.
    halted: AtomicBool,
    stop: StopFlag,
    store: Arc<OnceLock<(StoreHandle, Duration)>>,
    pub(super) tally: Arc<Tally>,
}

impl Signals {
    /// Installs the handlers (before anything is opened, so that even a blocked open or read
    /// is interrupted).
    pub(super) fn install(drain_timeout: Option<Duration>) -> anyhow::Result<Signals> {
        let s = Signals {
            received: Arc::new(AtomicI32::new(0)),
            count: Arc::new(AtomicU32::new(0)),
            finished: Arc::new(AtomicBool::new(false)),
            halted: AtomicBool::new(false),
            stop: Arc::new(AtomicBool::new(false)),
            store: Arc::new(OnceLock::new()),
            tally: Arc::new(Tally::default()),
        };
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
        let (received, stop, store, tally) = (s.received.clone(), s.stop.clone(), s.store.clone(), s.tally.clone());
        let (count, finished) = (s.count.clone(), s.finished.clone());
        std::thread::Builder::new().name("ticklane-signals".into()).spawn(move || {
            for sig in signals.forever() {
                count.fetch_add(1, Ordering::SeqCst);
                if finished.load(Ordering::SeqCst) {
                    continue;
                }
                if received.swap(sig, Ordering::SeqCst) != 0 {
                    second_signal(sig, &tally, store.get().map(|(h, _)| h));
                }
                stop.store(true, Ordering::SeqCst);
                ticklane::health::set_draining(true);
                log::warn!("signal {sig}: stopping the input and flushing what was accepted");
                if let Some((h, t)) = store.get() {
                    h.set_deadline(Instant::now() + *t);
                }
                if let Some(d) = drain_timeout {
                    let (tally, store, finished) = (tally.clone(), store.clone(), finished.clone());
                    let _ = std::thread::Builder::new().name("ticklane-drain".into()).spawn(move || {
                        std::thread::sleep(d);
                        if finished.load(Ordering::SeqCst) {
                            return;
                        }
                        let why = format!("the drain took longer than --drain-timeout {d:?}");
                        exit_unfinished(&why, 1, &tally, store.get().map(|(h, _)| h))
                    });
                }
            }
        })?;
        Ok(s)
    }

    /// Raised by the first signal: blocked reads give up.
    pub(super) fn stop_flag(&self) -> StopFlag {
        self.stop.clone()
    }

    /// From the first signal on, the store's final flush may take at most `timeout`.
    pub(super) fn bound_store_flush(&self, store: StoreHandle, timeout: Duration) {
        let _ = self.store.set((store, timeout));
    }

    /// Whether a signal arrived or a reader halted the run (cheap: checked once per record).
    #[inline]
    pub(super) fn stopping(&self) -> bool {
        self.received.load(Ordering::Relaxed) != 0 || self.halted.load(Ordering::Relaxed)
    }

    /// Stops every reader: a malformed record ended the run under `--on-error fail`.
    pub(super) fn halt(&self) {
        self.halted.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::SeqCst); // a live link stops reading too
    }

    /// The run has finished: from now on a signal is only counted ([`Signals::count`]).
    pub(super) fn finish(&self) {
        self.finished.store(true, Ordering::SeqCst);
    }

    /// Signals received so far.
    pub(super) fn count(&self) -> u32 {
        self.count.load(Ordering::SeqCst)
    }

    /// The first signal received.
    pub(crate) fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

/// Exits 128 + `sig` at once, saying how far the output got.
fn second_signal(sig: i32, tally: &Tally, store: Option<&StoreHandle>) -> ! {
    exit_unfinished("second signal: exiting without waiting for the drain", 128 + sig, tally, store)
}

/// Exits with `code` at once, saying why and how far the output and the store got.
fn exit_unfinished(why: &str, code: i32, tally: &Tally, store: Option<&StoreHandle>) -> ! {
    let (bars, accepted) = (tally.bars.load(Ordering::SeqCst), tally.accepted.load(Ordering::SeqCst));
    let store = store.map(StoreHandle::stats).map_or(String::new(), |s| {
        let settled = s.written + s.depth as u64 + s.conflated + s.shed + s.unwritten;
        format!(
            "; PostgreSQL holds {} of the {} bars handed to it, {} were in a write that may still land (the \
             upsert makes a rerun harmless), {} waiting are not written",
            s.written,
            s.accepted,
            s.accepted.saturating_sub(settled),
            s.depth
        )
    });
    eprintln!(
        "ticklane: {why}; the output holds {bars} complete bars (bars of the {accepted} trades accepted that \
         were not yet released are not written){store}"
    );
    std::process::exit(code);
}
