//! `ticklane replay`: capture files → [dedupe] → time bars → CSV/JSONL, with pacing, a progress
//! bar, a summary, and exit codes per design.md §7.

use crate::output::{trade_csv, BarWriter, OutFormat, TRADES_HEADER};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane::operators::store::{PgStore, PressurePolicy, StoreConfig, StoreCoordinator, StoreReport};
use ticklane::operators::{Beyond, DedupeConfig, DedupeKey, LatePolicy, OperatorsExt, TimeBarsConfig};
use ticklane::{Bar, Config, DagBuilder, Engine, InstrumentId, Kind, Trade};
use ticklane_tools::input::{self, Format, InputError, Merge};

/// Late policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LateArg {
    /// Drop late trades (counted).
    Drop,
    /// Write late trades to `--late-out`.
    Side,
    /// Re-emit revised bars within `--allowed-lateness`.
    Revise,
}

/// Dedupe key on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyArg {
    /// `(instrument, trade_id)`.
    Id,
    /// `(instrument, ts_event, ts_recv, price, size, side)`: can drop real trades (see docs).
    Content,
}

/// Empty-bar policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EmptyArg {
    /// Only windows with trades produce bars.
    Skip,
    /// Flat bars between an instrument's first and last trade (holds ordered output back
    /// while an instrument is quiet).
    Flat,
}

/// Malformed-record policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnError {
    /// Stop at the first malformed record (exit 2, `FILE:LINE: …`).
    Fail,
    /// Skip malformed records, counted per reason.
    Skip,
}

/// Store pressure policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PressureArg {
    /// Backpressure to the sources: nothing is lost (default).
    Block,
    /// Keep only the newest revision of each waiting bar; new bars block at capacity.
    Conflate,
    /// Drop bars while pressured (counted).
    Shed,
}

/// `--sink-postgres` and its settings.
#[derive(Debug, Clone)]
pub struct StoreArgs {
    /// Connection string.
    pub url: String,
    /// Table name.
    pub table: String,
    /// Pressure policy.
    pub pressure: PressureArg,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Partial-batch age limit.
    pub batch_interval: Duration,
    /// High watermark (bars).
    pub queue_high: usize,
    /// Low watermark (bars).
    pub queue_low: usize,
    /// Writer threads.
    pub writers: usize,
    /// Final flush bound.
    pub flush_timeout: Duration,
}

impl StoreArgs {
    fn config(&self) -> Result<StoreConfig, String> {
        let policy = match self.pressure {
            PressureArg::Block => PressurePolicy::Block,
            PressureArg::Conflate => PressurePolicy::Conflate,
            PressureArg::Shed => PressurePolicy::Shed,
        };
        StoreConfig::default()
            .with_policy(policy)
            .with_batch(self.batch_rows, self.batch_interval)
            .map_err(|e| format!("--pg-batch-rows: {e}"))?
            .with_watermarks(self.queue_low, self.queue_high)
            .and_then(|c| c.with_capacity(self.queue_high.saturating_mul(2)))
            .map_err(|e| format!("--pg-queue-low/--pg-queue-high: {e}"))
    }
}

/// Replay speed: as fast as possible, or a multiple of the recorded speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// No pacing.
    Max,
    /// 1 = recorded speed, 10 = ten times faster.
    Factor(f64),
}

/// Parses `max` or a positive factor.
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!("expected `max` or a positive factor such as 1 or 10, found {s:?}")),
    }
}

/// Everything `replay` needs (the parsed flags).
#[derive(Debug, Clone)]
pub struct ReplayArgs {
    /// Input files.
    pub files: Vec<PathBuf>,
    /// Bar width.
    pub bars: Duration,
    /// Shard count.
    pub shards: usize,
    /// Dedupe on.
    pub dedupe: bool,
    /// Dedupe horizon.
    pub dedupe_ttl: Duration,
    /// Dedupe key.
    pub dedupe_key: KeyArg,
    /// Bounded out-of-orderness.
    pub max_delay: Duration,
    /// Late policy.
    pub late: LateArg,
    /// Horizon for `revise`.
    pub allowed_lateness: Option<Duration>,
    /// Where late trades go.
    pub late_out: Option<PathBuf>,
    /// Empty bars.
    pub empty_bars: EmptyArg,
    /// Pacing.
    pub speed: Speed,
    /// Output file (`None` or `-`: stdout).
    pub out: Option<PathBuf>,
    /// Output format.
    pub format: OutFormat,
    /// Input format.
    pub input_format: Format,
    /// Malformed-record policy.
    pub on_error: OnError,
    /// Prometheus address.
    pub metrics_addr: Option<SocketAddr>,
    /// JSON summary file.
    pub summary: Option<PathBuf>,
    /// The PostgreSQL store sink, if any.
    pub store: Option<StoreArgs>,
}

/// How a replay ended.
pub enum Outcome {
    /// Done; exit 0.
    Done,
    /// Stopped gracefully by this signal (everything accepted was flushed); exit 128 + signal.
    Interrupted(i32),
    /// Bad input or usage; exit 2 with this message (after flushing what was accepted).
    BadInput(String),
}

fn bad(msg: impl Into<String>) -> anyhow::Result<Outcome> {
    Ok(Outcome::BadInput(msg.into()))
}

/// Runs a replay.
pub fn run(a: &ReplayArgs) -> anyhow::Result<Outcome> {
    if a.late == LateArg::Side && a.late_out.is_none() {
        return bad("--late side needs --late-out FILE");
    }
    if a.late == LateArg::Revise && a.allowed_lateness.is_none() {
        return bad("--late revise needs --allowed-lateness DUR");
    }
    if a.late != LateArg::Revise && a.allowed_lateness.is_some() {
        return bad("--allowed-lateness applies only to --late revise");
    }
    let mut sources = Vec::new();
    let mut total_bytes = 0;
    for f in &a.files {
        match input::open(f, a.input_format) {
            Ok(s) => sources.push(s),
            Err(e) => return bad(e.to_string()),
        }
        total_bytes += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    }

    let mut bars_cfg = match TimeBarsConfig::new(a.bars) {
        Ok(c) => c,
        Err(e) => return bad(format!("--bars: {e}")),
    };
    let side = a.late == LateArg::Side || (a.late == LateArg::Revise && a.late_out.is_some());
    bars_cfg = bars_cfg.with_late(match (a.late, a.allowed_lateness) {
        (LateArg::Drop, _) => LatePolicy::Drop,
        (LateArg::Side, _) => LatePolicy::Side,
        (LateArg::Revise, lateness) => {
            let beyond = if side { Beyond::Side } else { Beyond::Drop };
            match LatePolicy::revise(lateness.unwrap_or_default(), beyond) {
                Ok(p) => p,
                Err(e) => return bad(format!("--allowed-lateness: {e}")),
            }
        }
    });
    if a.empty_bars == EmptyArg::Flat {
        bars_cfg = match bars_cfg.with_empty_bars(ticklane::operators::EmptyBars::Flat) {
            Ok(c) => c,
            Err(e) => return bad(format!("--empty-bars flat: {e}")),
        };
    }
    // The store: settings checked and every writer connected (table created) before any
    // input is read, so a wrong URL or an unreachable database fails fast.
    let store = match &a.store {
        None => None,
        Some(s) => {
            let cfg = match s.config() {
                Ok(c) => c,
                Err(e) => return bad(e),
            };
            if s.writers == 0 {
                return bad("--pg-writers must be at least 1");
            }
            let first = match PgStore::connect(&s.url, &s.table) {
                Ok(c) => c,
                Err(
                    e
                    @ (ticklane::operators::store::PgError::Url(_) | ticklane::operators::store::PgError::BadTable(_)),
                ) => return bad(format!("--sink-postgres: {e}")),
                Err(e) => return Err(anyhow::Error::new(e).context("--sink-postgres")),
            };
            let mut stores = Vec::with_capacity(s.writers);
            for _ in 1..s.writers {
                stores.push(first.try_clone().context("--sink-postgres")?);
            }
            stores.push(first);
            Some(StoreCoordinator::start(cfg, stores)?)
        }
    };
    // Bars go to --out, and to stdout unless the store replaces it.
    let to_out = a.out.is_some() || store.is_none();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade).time_bars("bars", bars_cfg);
    if to_out {
        g.sink_egress("out", Kind::Bar).connect("bars", "out");
    }
    if let Some(st) = &store {
        g.store_sink("store", &st.handle()).connect("bars", "store");
    }
    if a.dedupe {
        let key = if a.dedupe_key == KeyArg::Content { DedupeKey::Content } else { DedupeKey::Id };
        let cfg = match DedupeConfig::default().with_key(key).with_ttl(a.dedupe_ttl) {
            Ok(c) => c,
            Err(e) => return bad(format!("--dedupe-ttl: {e}")),
        };
        g.dedupe("dedupe", cfg).connect("feed", "dedupe").connect("dedupe", "bars");
    } else {
        g.connect("feed", "bars");
    }
    if side {
        g.sink_egress("late", Kind::Trade).connect_ports("bars", 1, "late", 0);
    }
    let mut cfg = match Config::new().with_shards(a.shards).and_then(|c| c.with_max_delay(a.max_delay)) {
        Ok(c) => c,
        Err(e) => return bad(e.to_string()),
    };
    if let Some(addr) = a.metrics_addr {
        cfg = cfg.with_prometheus(addr);
    }
    // Replay is a throughput job: batches of 1,024 (the engine default is 256, for latency)
    // amortize the per-batch hand-off and the wake-ups it costs when threads outnumber cores.
    // Measured on 10M trades: 1 shard 2.9 s -> 2.4 s, 2 shards 3.1 s -> 2.85 s. Output does
    // not depend on batch size.
    cfg = cfg.with_batch_size(1024)?;
    // The reader is the thread the whole run waits for (parsing or decoding every record,
    // stamping and routing it): give it a core of its own and place the shards and the bar
    // writer on the others (several per core when they outnumber them). Measured on 10M
    // trades at 2 shards on 2 cores: CSV 2.8 s -> 2.1 s, DBN 1.04 s -> 0.91 s.
    // (Cores are read before anything is pinned.)
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let split = core_ids.len() >= 2;
    if split {
        cfg = cfg.with_placement(ticklane::Placement::Cores(core_ids[1..].iter().map(|c| c.id).collect()));
    }
    // The reader thread needs a core too: when shards + reader outnumber the cores, an idle
    // shard that spins steals time from the thread that feeds it, so park almost at once.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if a.shards + 1 > cores {
        cfg = cfg.with_wait(ticklane::WaitStrategy::Park { spins: 16, timeout: Duration::from_millis(10) });
    }
    // Create the output files before starting anything: a bad path is bad usage (exit 2).
    let out: Box<dyn Write + Send> = match &a.out {
        Some(p) if p.as_os_str() != "-" => match File::create(p) {
            Ok(f) => Box::new(BufWriter::new(f)),
            Err(e) => return bad(format!("--out {}: {e}", p.display())),
        },
        _ => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
    };
    let late_file = match (&a.late_out, side) {
        (Some(p), true) => match File::create(p) {
            Ok(f) => Some(BufWriter::new(f)),
            Err(e) => return bad(format!("--late-out {}: {e}", p.display())),
        },
        _ => None,
    };
    let started = Instant::now();
    let mut engine = Engine::start(g.build()?, cfg)?;
    if split && !core_affinity::set_for_current(core_ids[0]) {
        log::info!("could not pin the reader to core {}: running unpinned", core_ids[0].id);
    }
    let mut feed = engine.ingress::<Trade>("feed")?;

    // Writers run on their own threads: a full egress blocks its shard, never the reader.
    let bar_writer = if to_out {
        let mut egress = engine.egress::<Bar>("out")?;
        let format = a.format;
        let wcore = if split { core_ids.last().copied() } else { None };
        Some(std::thread::spawn(move || -> anyhow::Result<u64> {
            if let Some(c) = wcore {
                core_affinity::set_for_current(c);
            }
            let mut w = BarWriter::new(out, format)?;
            while let Some(b) = egress.recv() {
                w.bar(egress.name(b.rec.instrument).unwrap_or_default(), &b.rec)?;
            }
            let n = w.written;
            w.finish()?;
            Ok(n)
        }))
    } else {
        None
    };
    let late_writer = if let Some(mut f) = late_file {
        let mut late = engine.egress::<Trade>("late")?;
        Some(std::thread::spawn(move || -> anyhow::Result<u64> {
            writeln!(f, "{TRADES_HEADER}")?;
            let mut n = 0;
            while let Some(t) = late.recv() {
                trade_csv(&mut f, late.name(t.rec.instrument).unwrap_or_default(), &t.rec)?;
                n += 1;
            }
            f.flush()?;
            Ok(n)
        }))
    } else {
        None
    };

    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(total_bytes);
        pb.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(pb)
    } else {
        None
    };

    // SIGTERM / SIGINT: stop reading, flush everything accepted (bars, store), exit 128 + N.
    // The flush to the store is bounded by --pg-flush-timeout from the signal on, so a dead
    // database cannot hold the stop forever; a second signal exits at once.
    let interrupted = Arc::new(AtomicI32::new(0));
    {
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("installing signal handlers")?;
        let flag = interrupted.clone();
        let deadline = store.as_ref().map(|s| s.handle()).zip(a.store.as_ref().map(|s| s.flush_timeout));
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
    }

    // The feed loop.
    let mut merge = Merge::new(sources);
    let mut ids: Vec<Vec<Option<InstrumentId>>> = vec![Vec::new(); a.files.len()];
    let mut malformed: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut read, mut accepted) = (0u64, 0u64);
    let mut failure: Option<InputError> = None;
    let mut pace: Option<(Instant, i64)> = None;
    let mut max_ts = i64::MIN;
    let mut max_lag = Duration::ZERO;
    let mut lag = Duration::ZERO;
    while let Some(item) = merge.next() {
        if interrupted.load(Ordering::Relaxed) != 0 {
            break;
        }
        let (src, (sym, mut trade)) = match item {
            Ok(r) => r,
            Err(e) => {
                *malformed.entry(e.reason).or_default() += 1;
                match a.on_error {
                    OnError::Fail => {
                        failure = Some(e);
                        break;
                    }
                    OnError::Skip => {
                        log::debug!("skipped: {e}");
                        continue;
                    }
                }
            }
        };
        read += 1;
        let table = &mut ids[src];
        let s = sym as usize;
        if table.len() <= s {
            table.resize(s + 1, None);
        }
        trade.instrument = match table[s] {
            Some(id) => id,
            None => {
                let id = feed.intern(merge.sources()[src].symbol(sym))?;
                table[s] = Some(id);
                id
            }
        };
        if let Speed::Factor(f) = a.speed {
            max_ts = max_ts.max(trade.ts_event);
            let (t0, ts0) = *pace.get_or_insert((Instant::now(), trade.ts_event));
            let due = t0 + Duration::from_nanos(((max_ts - ts0) as f64 / f).max(0.0) as u64);
            let now = Instant::now();
            if due > now {
                feed.flush()?; // let the shards see what is due before we sleep
                std::thread::sleep(due - now);
                lag = Duration::ZERO;
            } else {
                lag = now - due;
                max_lag = max_lag.max(lag);
            }
        }
        feed.push(trade)?;
        accepted += 1;
        if accepted % 65_536 == 0 {
            if a.speed != Speed::Max {
                // How far behind the recorded schedule (published every 65,536 trades, not per trade).
                metrics::gauge!("ticklane_pacing_lag_seconds").set(lag.as_secs_f64());
            }
            if let Some(pb) = &progress {
                pb.set_position(merge.position());
                pb.set_message(format!("{accepted} trades"));
            }
        }
    }
    feed.finish()?;
    // Input ended: the final flush to the store may take at most --pg-flush-timeout.
    if let (Some(st), Some(sa)) = (&store, &a.store) {
        st.handle().set_deadline(Instant::now() + sa.flush_timeout);
    }
    let report = engine.join()?;
    let store_report: Option<StoreReport> = store.map(StoreCoordinator::finish);
    let bars = match bar_writer {
        Some(w) => w.join().map_err(|_| anyhow::anyhow!("bar writer panicked"))??,
        None => store_report.as_ref().map_or(0, |r| r.accepted),
    };
    let late_written = match late_writer {
        Some(h) => Some(h.join().map_err(|_| anyhow::anyhow!("late writer panicked"))??),
        None => None,
    };
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let elapsed = started.elapsed();

    let stat = |node: &str, c: &str| report.stats.nodes.iter().find(|n| n.name == node).map_or(0, |n| n.counter(c));
    let duplicates = stat("dedupe", "ticklane_duplicates_total");
    let late = stat("bars", "ticklane_late_events_total");
    let rate = accepted as f64 / elapsed.as_secs_f64().max(1e-9);
    let bad_total: u64 = malformed.values().sum();
    eprintln!(
        "ticklane: {accepted} trades from {} file(s) in {:.3} s ({:.0} trades/s) on {} shard(s): {bars} bars, \
         {duplicates} duplicates dropped, {late} late ({} dropped, {} revised, {} to side output), {bad_total} malformed{}.",
        a.files.len(),
        elapsed.as_secs_f64(),
        rate,
        a.shards,
        stat("bars", "ticklane_late_dropped_total"),
        stat("bars", "ticklane_late_revised_total"),
        stat("bars", "ticklane_late_side_total"),
        if a.speed == Speed::Max { String::new() } else { format!("; pacing fell behind by up to {:.3} s", max_lag.as_secs_f64()) },
    );
    if let Some(r) = &store_report {
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
    if let Some(path) = &a.summary {
        let shards: Vec<_> = report
            .stats
            .shards
            .iter()
            .map(|s| {
                serde_json::json!({
                    "shard": s.shard,
                    "events_in": report.stats.nodes.iter().find(|n| n.name == "feed").map_or(0, |n| n.events_in.get(s.shard).copied().unwrap_or(0)),
                    "messages": s.messages,
                    "busy_ratio": s.busy_ratio(),
                    "backpressure_wait_seconds": s.backpressure_wait_ns as f64 / 1e9,
                })
            })
            .collect();
        let summary = serde_json::json!({
            "files": a.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
            "records_read": read,
            "trades_accepted": accepted,
            "malformed": malformed,
            "malformed_total": bad_total,
            "duplicates": duplicates,
            "late": {
                "total": late,
                "dropped": stat("bars", "ticklane_late_dropped_total"),
                "revised": stat("bars", "ticklane_late_revised_total"),
                "side": stat("bars", "ticklane_late_side_total"),
                "written_to_side_output": late_written,
            },
            "bars": bars,
            "shards": shards,
            "elapsed_seconds": elapsed.as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
            "trades_per_second": rate,
            "pacing": match a.speed {
                Speed::Max => serde_json::json!({"speed": "max"}),
                Speed::Factor(f) => serde_json::json!({"speed": f, "max_lag_seconds": max_lag.as_secs_f64()}),
            },
            "error": failure.as_ref().map(|e| e.to_string()),
            "interrupted_by_signal": match interrupted.load(Ordering::SeqCst) { 0 => None, s => Some(s) },
            "store": store_report.as_ref().map(|r| serde_json::json!({
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
            })),
        });
        std::fs::write(path, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(r) = &store_report {
        if r.unwritten > 0 || r.writer_panics > 0 {
            anyhow::bail!(
                "{} of {} bars could not be written to PostgreSQL within --pg-flush-timeout (last error: {})",
                r.unwritten,
                r.accepted,
                r.last_error.as_deref().unwrap_or("none")
            );
        }
    }
    let sig = interrupted.load(Ordering::SeqCst);
    if sig != 0 && failure.is_none() {
        eprintln!("ticklane: stopped by signal {sig} after {accepted} trades; everything accepted was flushed.");
        return Ok(Outcome::Interrupted(sig));
    }
    match failure {
        Some(e) => bad(format!(
            "{e}\n(stopped there: the {accepted} trades before it were accepted and their {bars} bars written; \
             use --on-error skip to skip malformed records)"
        )),
        None => Ok(Outcome::Done),
    }
}

/// The process's peak resident set size (Linux `VmHWM`), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
