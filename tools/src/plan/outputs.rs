//! Where a replay's results go: bars (a file or stdout, unless only to the store), late
//! trades, the JSON summary.

use super::Pipeline;
use crate::cli::ReplayArgs;
use crate::output::OutFormat;
use std::path::PathBuf;

/// A place to write.
pub(crate) enum Target {
    Stdout,
    File(PathBuf),
}

/// The outputs of a run.
pub(crate) struct OutputPlan {
    /// Bars, unless they go only to the store.
    pub(crate) bars: Option<(Target, OutFormat)>,
    /// Late trades (ticklane CSV), under a side-output late policy.
    pub(crate) late: Option<PathBuf>,
    /// The JSON run summary.
    pub(crate) summary: Option<PathBuf>,
}

impl OutputPlan {
    /// From `replay`'s flags (`--out`, `--format`, `--late-out`, `--summary`).
    pub(crate) fn from_replay(a: &ReplayArgs, p: &Pipeline) -> OutputPlan {
        let target = match &a.out {
            Some(path) if path.as_os_str() != "-" => Target::File(path.clone()),
            _ => Target::Stdout,
        };
        OutputPlan {
            bars: p.to_out.then_some((target, a.format)),
            late: a.late_out.clone().filter(|_| p.late_side),
            summary: a.summary.clone(),
        }
    }
}
