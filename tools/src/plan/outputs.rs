//! Where a replay's results go: bars (a file or stdout, unless only to the store), late
//! trades, the JSON summary.

use super::Pipeline;
use crate::cli::{ReplayArgs, Speed};
use crate::output::{OutFormat, Rotation};
use std::path::PathBuf;
use ticklane_tools::live::{LiveUrl, NatsTarget};

/// A place to write.
#[derive(Clone)]
pub(crate) enum Destination {
    Stdout,
    File(PathBuf),
    /// `--out nats://…` or `jetstream://…`: one message per bar.
    Bus(String, NatsTarget),
    /// `--out …{period}… --rotate DURATION`: a file per period of event time.
    Rotated(Rotation),
}

/// The outputs of a run.
pub(crate) struct OutputPlan {
    /// Bars, unless they go only to the store (or no trades are read).
    pub(crate) bars: Option<(Destination, OutFormat)>,
    /// Quote bars, when quotes are read.
    pub(crate) quote_bars: Option<(Destination, OutFormat)>,
    /// The coarser widths' bars: `(width as given, destination)`, in the format of `bars`.
    pub(crate) coarser: Vec<(String, Destination)>,
    /// Late trades (ticklane CSV), under a side-output late policy.
    pub(crate) late: Option<PathBuf>,
    /// The JSON run summary.
    pub(crate) summary: Option<PathBuf>,
    /// Write each bar as soon as it is released (paced runs, and stdout that is a terminal
    /// or a pipe: someone is watching), rather than in blocks.
    pub(crate) eager: bool,
}

impl OutputPlan {
    /// From `replay`'s flags (`--out`, `--format`, `--late-out`, `--summary`).
    pub(crate) fn from_replay(a: &ReplayArgs, p: &Pipeline) -> OutputPlan {
        let fine = &a.bars[0].text;
        let place = |kind: &str, bars: &str| match &a.out {
            Some(path) if path.as_os_str() != "-" => {
                let text = path.to_string_lossy().replace("{kind}", kind).replace("{bars}", bars);
                match (LiveUrl::parse(&text), a.rotate.and_then(|every| Rotation::new(&text, every, "--out").ok())) {
                    (Ok(Some(LiveUrl::Nats(t))), _) => Destination::Bus(text, t),
                    (_, Some(r)) => Destination::Rotated(r),
                    _ => Destination::File(text.into()),
                }
            }
            _ => Destination::Stdout,
        };
        let watched = matches!(place("trades", fine), Destination::Stdout) && !stdout_is_a_file();
        OutputPlan {
            bars: (p.trades && p.to_out).then(|| (place("trades", fine), a.format)),
            quote_bars: p.quotes.map(|_| (place("quotes", fine), a.format)),
            coarser: p.coarser.iter().map(|(text, _)| (text.clone(), place("trades", text))).collect(),
            late: a.late_out.clone().filter(|_| p.late_side),
            summary: a.summary.clone(),
            eager: a.speed != Speed::Max || watched,
        }
    }
}

/// Whether stdout is a regular file (a redirect), not a terminal or a pipe.
fn stdout_is_a_file() -> bool {
    use std::os::fd::AsFd;
    let fd = std::io::stdout().as_fd().try_clone_to_owned();
    fd.ok().and_then(|fd| std::fs::File::from(fd).metadata().ok()).is_some_and(|m| m.is_file())
}
