//! The account of a finished replay: the paragraph on stderr, the `--summary` JSON, and the
//! outcome it implies.

use crate::cli::Speed;
use crate::outcome::Outcome;
use crate::output::Written;
use crate::plan::{BACKFILL, BARS, DEDUPE, FEED, QUOTES, QUOTE_BARS, QUOTE_DEDUPE, QUOTE_THROTTLE, THROTTLE};
use crate::run::{Account, Fed};
use serde_json::{json, Value};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use ticklane::operators::counters::{DUPLICATES, LATE_DROPPED, LATE_EVENTS, LATE_REVISED, LATE_SIDE, THROTTLED};
use ticklane::operators::store::StoreReport;
use ticklane::{Counter, RunReport};
use ticklane_tools::live::LinkStats;

/// Everything measured in one replay.
pub(crate) struct Report {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) shards: usize,
    pub(crate) speed: Speed,
    /// Trades were read.
    pub(crate) trades: bool,
    /// What the trade reader did (empty when no trades were read).
    pub(crate) fed: Fed,
    /// What the quote reader did, when quotes were read.
    pub(crate) quotes: Option<Fed>,
    /// What the quote-bar output holds, when quotes were read.
    pub(crate) quote_bars: Option<Written>,
    /// What each coarser width's output holds (`--bars 1s,1m`: the 1m one).
    pub(crate) coarser: Vec<(String, Written)>,
    /// The same for the coarser widths' quote bars.
    pub(crate) quote_coarser: Vec<(String, Written)>,
    /// The engine's final counters.
    pub(crate) engine: RunReport,
    /// What the bar output holds, if bars go to one.
    pub(crate) bars: Option<Written>,
    /// What the late-trade file holds, if there is one.
    pub(crate) late: Option<Written>,
    /// What the late-quote file holds, if there is one.
    pub(crate) quote_late: Option<Written>,
    /// What `--ticks-out` took, if trades are forwarded.
    pub(crate) ticks: Option<Written>,
    /// Every bar output on its own (several when `--out` fans out).
    pub(crate) outputs: Vec<Account>,
    pub(crate) store: Option<StoreReport>,
    pub(crate) elapsed: Duration,
    /// The signal that stopped the run, if any.
    pub(crate) signal: Option<i32>,
    /// `ticklane run`: the live link's counters (a signal is then the normal end).
    pub(crate) link: Option<Arc<LinkStats>>,
}

impl Report {
    fn stat(&self, node: &str, c: Counter) -> u64 {
        self.engine.stats.counter(node, c)
    }

    /// Bars written: to the output, else (only to the store) accepted by the store.
    fn bars(&self) -> u64 {
        match &self.bars {
            Some(w) => w.lines,
            None => self.store.as_ref().map_or(0, |r| r.accepted),
        }
    }

    /// Every output that failed, with how far it got.
    fn output_errors(&self) -> Vec<String> {
        self.written().filter_map(|w| w.error.clone()).collect()
    }

    /// Every output file's account.
    fn written(&self) -> impl Iterator<Item = &Written> {
        let outputs = [&self.bars, &self.late, &self.quote_late, &self.quote_bars, &self.ticks].into_iter().flatten();
        outputs.chain(self.coarser.iter().chain(&self.quote_coarser).map(|(_, w)| w))
    }

    fn rate(&self) -> f64 {
        self.fed.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The one-paragraph summary on stderr (and the store's, if any).
    pub(crate) fn print(&self) {
        if self.trades {
            self.print_trades();
        }
        if let Some(q) = &self.quotes {
            self.print_quotes(q);
        }
        if let Some(l) = &self.link {
            eprintln!(
                "ticklane: link {}: {} messages ({} bytes), {} connection(s), {} reconnect(s), {} failed attempt(s), \
                 {} stall(s), {} not understood, {} of other streams.",
                self.files.first().map_or(String::new(), |f| f.display().to_string()),
                l.messages.load(Relaxed),
                l.bytes.load(Relaxed),
                l.connects.load(Relaxed),
                l.reconnects(),
                l.failed_connects.load(Relaxed),
                l.stalls.load(Relaxed),
                l.garbage.load(Relaxed),
                l.skipped.load(Relaxed),
            );
        }
    }

    fn print_quotes(&self, q: &Fed) {
        if !self.quote_coarser.is_empty() {
            let each: Vec<String> =
                self.quote_coarser.iter().map(|(t, w)| format!("{} {t} quote bars", w.lines)).collect();
            eprintln!("ticklane: resampled: {}.", each.join(", "));
        }
        let bars = match &self.quote_bars {
            None if !self.quote_coarser.is_empty() => {
                "the finest width's quote bars not written (no --out takes them)".to_string()
            }
            w => format!("{} quote bars", w.as_ref().map_or(0, |w| w.lines)),
        };
        eprintln!(
            "ticklane: {} quotes from {} file(s) in {:.3} s on {} shard(s): {bars}, {}{}{} late ({} dropped, \
             {} revised, {} to side output), {} malformed, {} records of other kinds skipped.",
            q.accepted,
            self.files.len(),
            self.elapsed.as_secs_f64(),
            self.shards,
            match self.stat(QUOTE_DEDUPE, DUPLICATES) {
                0 => String::new(),
                n => format!("{n} duplicates dropped, "),
            },
            match self.stat(QUOTE_THROTTLE, THROTTLED) {
                0 => String::new(),
                n => format!("{n} throttled, "),
            },
            self.stat(QUOTE_BARS, LATE_EVENTS),
            self.stat(QUOTE_BARS, LATE_DROPPED),
            self.stat(QUOTE_BARS, LATE_REVISED),
            self.stat(QUOTE_BARS, LATE_SIDE),
            q.malformed.values().sum::<u64>(),
            q.skipped,
        );
        selection(q, "quotes");
    }

    fn print_trades(&self) {
        let f = &self.fed;
        if !self.coarser.is_empty() {
            let each: Vec<String> = self.coarser.iter().map(|(t, w)| format!("{} {t} bars", w.lines)).collect();
            eprintln!("ticklane: resampled: {}.", each.join(", "));
        }
        let bad_total: u64 = f.malformed.values().sum();
        let bars = match (&self.bars, &self.store) {
            (None, None) if !self.coarser.is_empty() => {
                "the finest width's bars not written (no --out takes them)".into()
            }
            _ => format!("{} bars", self.bars()),
        };
        eprintln!(
            "ticklane: {} trades from {} file(s) in {:.3} s ({:.0} trades/s) on {} shard(s): {bars}, \
             {} duplicates dropped, {}{} late ({} dropped, {} revised, {} to side output), {bad_total} malformed{}.",
            f.accepted,
            self.files.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.shards,
            self.stat(DEDUPE, DUPLICATES),
            match self.stat(THROTTLE, THROTTLED) {
                0 => String::new(),
                n => format!("{n} throttled, "),
            },
            self.stat(BARS, LATE_EVENTS),
            self.stat(BARS, LATE_DROPPED),
            self.stat(BARS, LATE_REVISED),
            self.stat(BARS, LATE_SIDE),
            if self.speed == Speed::Max {
                String::new()
            } else {
                format!("; pacing fell behind by up to {:.3} s", f.max_lag.as_secs_f64())
            },
        );
        selection(f, "trades");
        if let Some(w) = &self.ticks {
            let lost = if w.lost > 0 { format!(", {} could not be", w.lost) } else { String::new() };
            eprintln!("ticklane: ticks out: {} trades forwarded{lost}.", w.lines);
        }
        if let Some(r) = &self.store {
            eprintln!(
                "ticklane: store: {} bars in, {} rows written in {} batches ({} retries, {} failed attempts), \
                 {} conflated, {} shed, {} not written; pressure entered {} time(s) (deepest queue {}), \
                 circuit opened {} time(s).",
                r.accepted,
                r.written,
                r.batches,
                r.retries,
                r.failures,
                r.conflated,
                r.shed,
                r.unwritten,
                r.pressure_on,
                r.max_depth,
                r.breaker_opens
            );
        }
    }

    /// Writes the `--summary` JSON into `file` (opened at `path` before the run); if that
    /// fails, onto stderr, so the account is never lost.
    pub(crate) fn write_summary(&self, mut file: File, path: &Path) {
        let text = serde_json::to_string_pretty(&self.summary()).unwrap_or_default() + "\n";
        if let Err(e) = file.write_all(text.as_bytes()) {
            eprintln!("ticklane: --summary {}: {e}; the summary follows here instead:\n{text}", path.display());
        }
    }

    fn summary(&self) -> Value {
        let mut v = self.trade_summary();
        if let (Some(q), Value::Object(m)) = (&self.quotes, &mut v) {
            m.insert("quotes".into(), self.quote_summary(q));
        }
        if let Value::Object(m) = &mut v {
            let each = |a: &Account| {
                let w = &a.written;
                json!({"out": a.out, "kind": a.kind, "bars": a.width, "lines": w.lines,
                       "not_written": w.lost, "error": w.error})
            };
            m.insert("outputs".into(), self.outputs.iter().map(each).collect());
        }
        if let (Some(l), Value::Object(m)) = (&self.link, &mut v) {
            m.insert(
                "link".into(),
                json!({
                    "messages": l.messages.load(Relaxed),
                    "bytes": l.bytes.load(Relaxed),
                    "connects": l.connects.load(Relaxed),
                    "reconnects": l.reconnects(),
                    "failed_connects": l.failed_connects.load(Relaxed),
                    "stalls": l.stalls.load(Relaxed),
                    "not_understood": l.garbage.load(Relaxed),
                    "other_streams": l.skipped.load(Relaxed),
                    "acked": l.acked.load(Relaxed),
                    "redelivered": l.redelivered.load(Relaxed),
                    "lost_deliveries": l.lost_deliveries.load(Relaxed),
                }),
            );
        }
        v
    }

    fn quote_summary(&self, q: &Fed) -> Value {
        let source = self.engine.stats.sources.iter().find(|s| s.name == QUOTES);
        json!({
            "records_read": q.read,
            "quotes_accepted": q.accepted,
            "quotes_filtered": q.filtered,
            "records_skipped": q.skipped,
            "throttled": self.stat(QUOTE_THROTTLE, THROTTLED),
            "duplicates": self.stat(QUOTE_DEDUPE, DUPLICATES),
            "malformed": q.malformed,
            "malformed_total": q.malformed.values().sum::<u64>(),
            "late": {
                "total": self.stat(QUOTE_BARS, LATE_EVENTS),
                "dropped": self.stat(QUOTE_BARS, LATE_DROPPED),
                "revised": self.stat(QUOTE_BARS, LATE_REVISED),
                "side": self.stat(QUOTE_BARS, LATE_SIDE),
                "written_to_side_output": self.quote_late.as_ref().map(|w| w.lines),
            },
            "quote_bars": self.quote_bars.as_ref().map_or(0, |w| w.lines),
            "quote_bars_not_written": self.quote_bars.as_ref().map_or(0, |w| w.lost),
            "resampled": self.quote_coarser.iter().map(|(t, w)| (t.clone(), json!({"quote_bars": w.lines, "not_written": w.lost})))
                .collect::<serde_json::Map<_, _>>(),
            "quotes_not_delivered": source.map_or(0, |s| s.not_delivered),
            "error": q.failure.as_ref().map(|e| e.to_string()),
        })
    }

    fn trade_summary(&self) -> Value {
        let f = &self.fed;
        json!({
            "files": self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "records_read": f.read,
            "trades_accepted": f.accepted,
            "trades_filtered": f.filtered,
            "records_skipped": f.skipped,
            "malformed": f.malformed,
            "malformed_total": f.malformed.values().sum::<u64>(),
            "duplicates": self.stat(DEDUPE, DUPLICATES),
            "throttled": self.stat(THROTTLE, THROTTLED),
            "late": {
                "total": self.stat(BARS, LATE_EVENTS),
                "dropped": self.stat(BARS, LATE_DROPPED),
                "revised": self.stat(BARS, LATE_REVISED),
                "side": self.stat(BARS, LATE_SIDE),
                "written_to_side_output": self.late.as_ref().map(|w| w.lines),
            },
            "bars": self.bars(),
            "bars_not_written": self.bars.as_ref().map_or(0, |w| w.lost),
            "ticks_forwarded": self.ticks.as_ref().map(|w| w.lines),
            "ticks_not_forwarded": self.ticks.as_ref().map(|w| w.lost),
            "resampled": self.coarser.iter().map(|(t, w)| (t.clone(), json!({"bars": w.lines, "not_written": w.lost})))
                .collect::<serde_json::Map<_, _>>(),
            "trades_not_delivered": self.engine.stats.sources.iter().filter(|s| [FEED, BACKFILL].contains(&s.name.as_str())).map(|s| s.not_delivered).sum::<u64>(),
            "output_errors": self.output_errors(),
            "shards": self.shard_summaries(),
            "elapsed_seconds": self.elapsed.as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
            "trades_per_second": self.rate(),
            "pacing": match self.speed {
                Speed::Max => json!({"speed": "max"}),
                Speed::Factor(x) => json!({"speed": x, "max_lag_seconds": f.max_lag.as_secs_f64()}),
            },
            "error": f.failure.as_ref().map(|e| e.to_string()),
            "interrupted_by_signal": self.signal,
            "store": self.store.as_ref().map(store_summary),
        })
    }

    fn shard_summaries(&self) -> Vec<Value> {
        let feed = self.engine.stats.node(FEED);
        let shards = &self.engine.stats.shards;
        shards
            .iter()
            .map(|s| {
                json!({
                    "shard": s.shard,
                    "events_in": feed.map_or(0, |n| n.events_in.get(s.shard).copied().unwrap_or(0)),
                    "messages": s.messages,
                    "busy_ratio": s.busy_ratio(),
                    "backpressure_wait_seconds": s.backpressure_wait_ns as f64 / 1e9,
                })
            })
            .collect()
    }

    /// How the run ended: an output or a store that could not take everything is a failure
    /// (exit 1); then a signal (128 + N); then a malformed record under `fail` (exit 2).
    pub(crate) fn outcome(self) -> anyhow::Result<Outcome> {
        let errors = self.output_errors();
        if !errors.is_empty() {
            let lost = self.written().map(|w| w.lost).sum::<u64>();
            anyhow::bail!("{}; {lost} lines not written (everything accepted was processed)", errors.join("; "));
        }
        if let Some(r) = &self.store {
            if r.unwritten > 0 || r.writer_panics > 0 {
                anyhow::bail!(
                    "{} of {} bars could not be written to PostgreSQL within --pg-flush-timeout (last error: {})",
                    r.unwritten,
                    r.accepted,
                    r.last_error.as_deref().unwrap_or("none")
                );
            }
        }
        let (accepted, bars) = (self.fed.accepted, self.bars());
        let quotes = self.quotes.map(|q| (q.accepted, q.failure));
        let (accepted, bars, failure, what) = match (self.fed.failure, quotes) {
            (None, Some((n, Some(e)))) => (n, self.quote_bars.map_or(0, |w| w.lines), Some(e), "quotes"),
            (failure, _) => (accepted, bars, failure, "trades"),
        };
        match (self.signal, failure) {
            (Some(sig), None) if self.link.is_some() => {
                eprintln!(
                    "ticklane: signal {sig}: the stream was drained after {accepted} {what}; every window fired."
                );
                Ok(Outcome::Done)
            }
            (Some(sig), None) => {
                eprintln!(
                    "ticklane: stopped by signal {sig} after {accepted} {what}; everything accepted was flushed."
                );
                Ok(Outcome::Interrupted(sig))
            }
            (_, Some(e)) => Ok(Outcome::BadInput(format!(
                "{e}\n(stopped there: the {accepted} {what} before it were accepted and their {bars} bars written; \
                 use --on-error skip to skip malformed records)"
            ))),
            (None, None) => Ok(Outcome::Done),
        }
    }
}

fn store_summary(r: &StoreReport) -> Value {
    json!({
        "bars_in": r.accepted,
        "rows_written": r.written,
        "batches": r.batches,
        "retries": r.retries,
        "failed_attempts": r.failures,
        "conflated": r.conflated,
        "shed": r.shed,
        "not_written": r.unwritten,
        "pressure_entered": r.pressure_on,
        "pressure_left": r.pressure_off,
        "max_queue_depth": r.max_depth,
        "breaker_openings": r.breaker_opens,
        "last_error": r.last_error,
    })
}

/// The process's peak resident set size (Linux `VmHWM`), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `--instruments` matched nothing: what the names it passed over look like.
/// What `--instruments` kept of the `what` read, when it passed any over (or kept nothing).
fn selection(f: &Fed, what: &str) {
    if f.filtered > 0 || (f.read > 0 && f.accepted == 0) {
        eprintln!(
            "ticklane: --instruments kept {} of {} {what} read ({} skipped){}.",
            f.accepted,
            f.read,
            f.filtered,
            if f.accepted == 0 { no_match(&f.unselected) } else { String::new() }
        );
    }
}

fn no_match(unselected: &[String]) -> String {
    match unselected.first() {
        Some(one) => format!(
            ": no instrument matched; the input's names look like {} (a pattern matches a whole name, e.g. '*{}')",
            unselected.join(", "),
            one.rsplit(':').next().unwrap_or(one)
        ),
        None => ": no instrument matched".to_string(),
    }
}
