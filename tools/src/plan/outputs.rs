//! Where a replay's results go: bars (a file or stdout, unless only to the store), late
//! trades and quotes, the JSON summary.

use super::{OutSpec, Pipeline, PlanError};
use crate::cli::{ReplayArgs, Speed, TicksArgs};
use crate::output::{OutFormat, Rotation};
use std::path::PathBuf;
use ticklane_tools::live::{LiveUrl, NatsTarget};
use ticklane_tools::wire::WireFormat;

/// The name of standard output, wherever a file is named (`--out`, `--late-out`, `--summary`).
pub(crate) const STDOUT: &str = "-";

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

/// Where one kind and width of bars go: each output with its format, an egress each (the
/// `j`th reads [`super::fanned`]`(egress, j)`).
pub(crate) type Outs = Vec<(Destination, OutFormat)>;

impl Destination {
    /// How the summary names it: the path, template or URL as given (`-`: stdout).
    pub(crate) fn name(&self) -> String {
        match self {
            Destination::Stdout => STDOUT.into(),
            Destination::File(p) => p.display().to_string(),
            Destination::Bus(url, _) => url.clone(),
            Destination::Rotated(r) => r.template().to_string(),
        }
    }
}

/// The outputs of a run.
pub(crate) struct OutputPlan {
    /// The finest width as given (`--bars`' first).
    pub(crate) fine: String,
    /// The finest width's bars (none when they go only to the store, or no trades are read).
    pub(crate) bars: Outs,
    /// The finest width's quote bars, when quotes are read.
    pub(crate) quote_bars: Outs,
    /// The coarser widths' bars: `(width as given, outputs)`.
    pub(crate) coarser: Vec<(String, Outs)>,
    /// The coarser widths' quote bars, when quotes are read.
    pub(crate) quote_coarser: Vec<(String, Outs)>,
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
    /// From `replay`'s flags (`--out`, `--format`, `--late-out`, `--summary`) and the outputs
    /// they ask for.
    pub(crate) fn from_replay(a: &ReplayArgs, outs: &[OutSpec], p: &Pipeline) -> OutputPlan {
        let late_file =
            |kind: &str| a.late_out.as_ref().map(|f| PathBuf::from(f.to_string_lossy().replace("{kind}", kind)));
        // The outputs taking width `i` (index into --bars) of `kind`'s bars.
        let width = |kind: &str, i: usize| -> Outs {
            let taking = outs.iter().filter(|o| o.takes[i]);
            taking.map(|o| (place(o, a.rotate, kind, &a.bars[i].text), o.format)).collect()
        };
        let coarser = |kind: &str| -> Vec<(String, Outs)> {
            p.coarser.iter().enumerate().map(|(i, (text, _))| (text.clone(), width(kind, i + 1))).collect()
        };
        let watched = outs.iter().any(|o| o.is_stdout()) && !stdout_is_a_file();
        OutputPlan {
            fine: a.bars[0].text.clone(),
            bars: if p.trades { width("trades", 0) } else { Vec::new() },
            quote_bars: if p.quotes.is_some() { width("quotes", 0) } else { Vec::new() },
            coarser: if p.trades { coarser("trades") } else { Vec::new() },
            quote_coarser: if p.quotes.is_some() { coarser("quotes") } else { Vec::new() },
            late: late_file("trades").filter(|_| p.late_side && p.trades),
            quote_late: late_file("quotes").filter(|_| p.late_side && p.quotes.is_some()),
            summary: a.summary.clone(),
            ticks: None,
            linger: a.metrics_linger,
            eager: a.speed != Speed::Max || watched,
        }
    }
}

impl OutputPlan {
    /// Every file the run writes, with the flag that names it (a rotated output by its
    /// template).
    fn files(&self) -> Vec<(&'static str, PathBuf)> {
        let widths = [&self.bars, &self.quote_bars].into_iter();
        let coarser = self.coarser.iter().chain(&self.quote_coarser).map(|(_, outs)| outs);
        let outs = widths.chain(coarser).flatten().filter_map(|(d, _)| match d {
            Destination::File(p) => Some(("--out", p.clone())),
            Destination::Rotated(r) => Some(("--out", PathBuf::from(r.template()))),
            Destination::Stdout => Some(("--out", PathBuf::from(STDOUT))),
            Destination::Bus(..) => None,
        });
        let late = [&self.late, &self.quote_late].into_iter().flatten().map(|p| ("--late-out", p.clone()));
        let summary = self.summary.iter().map(|p| ("--summary", p.clone()));
        outs.chain(late).chain(summary).collect()
    }

    /// A file two outputs would both write (each truncating what the other wrote: bars lost
    /// to a summary, say), however its paths are spelled. Two `--out` spelled alike are left
    /// to [`super::outs`] to report.
    pub(crate) fn files_written_twice(&self, problems: &mut PlanError) {
        let files = self.files();
        let same: Vec<Option<PathBuf>> = files.iter().map(|(_, p)| same_file(p)).collect();
        for (j, (flag, path)) in files.iter().enumerate() {
            let earlier = (0..j).find(|&i| same[i].is_some() && same[i] == same[j]);
            let Some(i) = earlier else { continue };
            let (other, other_path) = &files[i];
            if (*flag, *other) == ("--out", "--out") && path == other_path {
                continue;
            }
            let (p, o) = (path.display(), other_path.display());
            problems.push(if same[j].as_deref() == Some(std::path::Path::new(STDOUT)) {
                format!("{flag} -: {other} - writes to standard output too: give one of them a file")
            } else {
                format!("{flag} {p}: the same file as {other} {o}; each would overwrite the other (give each its own)")
            });
            return;
        }
    }
}

/// What `p` names, spelled one way (`-`: standard output): its directory resolved (`./x.csv`,
/// `x.csv` and `d/../x.csv` alike; a symbolic link to a file followed); `None` when its
/// directory does not exist (opening it will say so).
fn same_file(p: &std::path::Path) -> Option<PathBuf> {
    if p == std::path::Path::new(STDOUT) {
        return Some(p.to_path_buf());
    }
    if let Ok(c) = p.canonicalize() {
        return Some(c);
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(p.file_name()?))
}

/// Where output `o` puts `kind`'s bars of width `bars`: its placeholders filled.
fn place(o: &OutSpec, rotate: Option<std::time::Duration>, kind: &str, bars: &str) -> Destination {
    if o.is_stdout() {
        return Destination::Stdout;
    }
    let text = o.text.replace("{kind}", kind).replace("{bars}", bars);
    match (LiveUrl::parse(&text), rotate.and_then(|every| Rotation::new(&text, every, "--out").ok())) {
        (Ok(Some(LiveUrl::Nats(t))), _) => Destination::Bus(text, t),
        (_, Some(r)) => Destination::Rotated(r),
        _ => Destination::File(text.into()),
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
