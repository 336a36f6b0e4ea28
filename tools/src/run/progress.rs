//! The progress bar on stderr, when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Bytes read of the inputs' total, and the trades accepted.
pub(super) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar over `total_bytes` if stderr is a terminal, else nothing.
    pub(super) fn new(total_bytes: u64) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let pb = ProgressBar::new(total_bytes);
        pb.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Progress(Some(pb))
    }

    /// Moves the bar to `position` bytes, `accepted` trades.
    pub(super) fn update(&self, position: u64, accepted: u64) {
        if let Some(pb) = &self.0 {
            pb.set_position(position);
            pb.set_message(format!("{accepted} trades"));
        }
    }

    /// Clears the bar.
    pub(super) fn finish(self) {
        if let Some(pb) = self.0 {
            pb.finish_and_clear();
        }
    }
}
