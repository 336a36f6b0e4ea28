//! The progress bar on stderr, when it is a terminal: bytes read of the total, the rate, the
//! time left, and the trades accepted, redrawn ten times a second.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often the bar changes.
const EVERY: Duration = Duration::from_millis(100);

/// A progress bar, or nothing when stderr is not a terminal.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last: Instant,
}

impl Progress {
    /// A bar over `total_bytes` (a spinner when the total is unknown, e.g. standard input).
    pub(super) fn new(total_bytes: u64) -> Progress {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let template = if total_bytes > 0 {
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec}, {eta} left, {msg}"
            } else {
                "{spinner} [{elapsed_precise}] {bytes} read, {binary_bytes_per_sec}, {msg}"
            };
            let pb = ProgressBar::new(total_bytes);
            pb.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            pb
        });
        Progress { bar, started: now, last: now }
    }

    /// Called often (every 1,024 trades, or every trade when paced): moves the bar to
    /// `position` bytes and `accepted` trades at most every [`EVERY`].
    pub(super) fn tick(&mut self, position: u64, accepted: u64) -> bool {
        let now = Instant::now();
        if now.duration_since(self.last) < EVERY {
            return false;
        }
        self.last = now;
        if let Some(pb) = &self.bar {
            let rate = accepted as f64 / now.duration_since(self.started).as_secs_f64().max(1e-9);
            pb.set_position(position);
            pb.set_message(format!("{accepted} trades ({rate:.0}/s)"));
        }
        true
    }

    /// Clears the bar.
    pub(super) fn finish(self) {
        if let Some(pb) = self.bar {
            pb.finish_and_clear();
        }
    }
}
