//! Where a replay's results go: bars (a file or stdout, unless only to the store), late
//! trades and quotes, the JSON summary.

use super::{Pipeline, PlanError};
use crate::cli::{ReplayArgs, Speed, TicksArgs};
use crate::output::{OutFormat, Rotation};
use std::path::PathBuf;
use ticklane_tools::live::{LiveUrl, NatsTarget};
use ticklane_tools::wire::WireFormat;

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
    /// The coarser widths' quote bars, when quotes are read.
    pub(crate) quote_coarser: Vec<(String, Destination)>,
    /// Late trades (ticklane CSV), under a side-output late policy.
    pub(crate) late: Option<PathBuf>,
    /// Late quotes (ticklane quotes CSV), under a side-output late policy.
    pub(crate) quote_late: Option<PathBuf>,
    /// The JSON run summary.
    pub(crate) summary: Option<PathBuf>,
    /// `--ticks-out`: the accepted trades onto a bus.
    pub(crate) ticks: Option<TicksOut>,
    /// `--metrics-linger`: how long the final counts stay served after the run.
    pub(crate) linger: Option<std::time::Duration>,
    /// Write each bar as soon as it is released (paced runs, and stdout that is a terminal
    /// or a pipe: someone is watching), rather than in blocks.
    pub(crate) eager: bool,
}

impl OutputPlan {
    /// From `replay`'s flags (`--out`, `--format`, `--late-out`, `--summary`).
    pub(crate) fn from_replay(a: &ReplayArgs, p: &Pipeline) -> OutputPlan {
        let fine = &a.bars[0].text;
        let late_file =
            |kind: &str| a.late_out.as_ref().map(|f| PathBuf::from(f.to_string_lossy().replace("{kind}", kind)));
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
            coarser: p
                .coarser
                .iter()
                .filter(|_| p.trades)
                .map(|(text, _)| (text.clone(), place("trades", text)))
                .collect(),
            quote_coarser: p
                .coarser
                .iter()
                .filter(|_| p.quotes.is_some())
                .map(|(t, _)| (t.clone(), place("quotes", t)))
                .collect(),
            late: late_file("trades").filter(|_| p.late_side && p.trades),
            quote_late: late_file("quotes").filter(|_| p.late_side && p.quotes.is_some()),
            summary: a.summary.clone(),
            ticks: None,
            linger: a.metrics_linger,
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

/// `--ticks-out`: where the accepted trades are forwarded, and how.
#[derive(Clone)]
pub(crate) struct TicksOut {
    /// The URL as given (for messages).
    pub(crate) url: String,
    pub(crate) target: NatsTarget,
    pub(crate) format: WireFormat,
    /// The partition count of a JetStream stream created here (`--ticks-partitions`).
    pub(crate) partitions: Option<u32>,
    /// The copies of a JetStream stream created here (`--ticks-replicas`).
    pub(crate) replicas: u8,
}

/// Why `--ticks-partitions` needs a stream.
const PARTITIONS_NEED: &str =
    "partitions are subjects of a JetStream stream: needs --ticks-out jetstream://HOST:PORT/STREAM";
/// What `--ticks-out` takes.
const TICKS_EXPECTED: &str = "expected nats://HOST:PORT/SUBJECT or jetstream://HOST:PORT/STREAM";

impl TicksOut {
    /// From the `--ticks-*` flags (none without `--ticks-out`); a URL that is no bus, or a
    /// partition count for core NATS, is a problem.
    pub(crate) fn from_args(t: &TicksArgs, problems: &mut PlanError) -> Option<TicksOut> {
        let url = t.ticks_out.as_ref()?;
        let target = match LiveUrl::parse(url) {
            Ok(Some(LiveUrl::Nats(target))) => target,
            Ok(_) => {
                problems.push(format!("--ticks-out {url}: {TICKS_EXPECTED}"));
                return None;
            }
            Err(e) => {
                problems.push(format!("--ticks-out {e}"));
                return None;
            }
        };
        if let (Some(p), NatsTarget::Core { .. }) = (t.ticks_partitions, &target) {
            problems.push(format!("--ticks-partitions {p}: {PARTITIONS_NEED}, found {url}"));
            return None;
        }
        let (format, partitions, replicas) = (t.ticks_format, t.ticks_partitions, t.ticks_replicas);
        Some(TicksOut { url: url.clone(), target, format, partitions, replicas })
    }
}
