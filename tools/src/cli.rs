//! The command line, as clap parses it: thin types close to the flags. [`crate::plan`] turns
//! them, once, into a validated plan; nothing past the plan sees clap.

use crate::output::OutFormat;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use ticklane_tools::{duration, gen, input};

#[derive(Parser)]
#[command(name = "ticklane", version, about = "Replay captured tick files through a ticklane pipeline into bars")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Replay capture files (ticklane CSV, Tardis CSV, Databento DBN) into OHLCV bars.
    Replay(Box<ReplayArgs>),
    /// Write a deterministic synthetic trade capture (ticklane CSV).
    Gen(gen::GenArgs),
}

/// `ticklane replay`'s flags.
#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// Capture files; several replay as one stream merged by ts_event (ties: this order).
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Bar width: 100ms, 1s, 5m, 1h …
    #[arg(long, value_parser = duration::parse, default_value = "1s")]
    pub(crate) bars: Duration,
    /// Shard threads (default: number of cores).
    #[arg(long)]
    pub(crate) shards: Option<usize>,
    /// Drop repeated trades.
    #[arg(long)]
    pub(crate) dedupe: bool,
    /// How long (event time, behind the watermark) a trade key is remembered.
    #[arg(long, value_parser = duration::parse, default_value = "10s", requires = "dedupe")]
    pub(crate) dedupe_ttl: Duration,
    /// Dedupe key. `content` can drop real trades: CME data holds distinct identical prints.
    #[arg(long, value_enum, default_value = "id", requires = "dedupe")]
    pub(crate) dedupe_key: KeyArg,
    /// Bounded out-of-orderness: watermark = max ts_event − max_delay.
    #[arg(long, value_parser = duration::parse, default_value = "0s")]
    pub(crate) max_delay: Duration,
    /// Late-trade policy.
    #[arg(long, value_enum, default_value = "drop")]
    pub(crate) late: LateArg,
    /// With --late revise: how long a fired window accepts revisions.
    #[arg(long, value_parser = duration::parse)]
    pub(crate) allowed_lateness: Option<Duration>,
    /// Where late trades are written (ticklane CSV) under --late side (or beyond the
    /// revise horizon).
    #[arg(long)]
    pub(crate) late_out: Option<PathBuf>,
    /// Empty windows: skip, or flat bars between an instrument's first and last trade.
    #[arg(long, value_enum, default_value = "skip")]
    pub(crate) empty_bars: EmptyArg,
    /// Pacing: max, or a factor of the recorded speed (1 = as recorded, 10 = ten times faster).
    #[arg(long, value_parser = parse_speed, default_value = "max")]
    pub(crate) speed: Speed,
    /// Output file, or - for stdout.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub(crate) format: OutFormat,
    /// Input format.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) input_format: input::Format,
    /// Malformed records: fail (exit 2 at the first) or skip (counted per reason).
    #[arg(long, value_enum, default_value = "fail")]
    pub(crate) on_error: OnError,
    /// Serve Prometheus text at http://IP:PORT/metrics while the run lasts.
    #[arg(long)]
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Write a JSON run summary here.
    #[arg(long)]
    pub(crate) summary: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// The PostgreSQL store sink (bars upserted by (instrument, window_start)).
#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    /// Also (or, without --out, only) write bars to PostgreSQL: postgresql://USER@HOST:PORT/DB
    /// or "host=… user=… dbname=…".
    #[arg(long, value_name = "URL")]
    pub(crate) sink_postgres: Option<String>,
    /// Table for --sink-postgres (NAME or SCHEMA.NAME; created if missing).
    #[arg(long, default_value = ticklane::operators::store::DEFAULT_TABLE, requires = "sink_postgres")]
    pub(crate) pg_table: String,
    /// What the pipeline does while the store queue is above its high watermark.
    #[arg(long, value_enum, default_value = "block", requires = "sink_postgres")]
    pub(crate) pressure: PressureArg,
    /// Rows per write batch.
    #[arg(long, default_value_t = 500, requires = "sink_postgres")]
    pub(crate) pg_batch_rows: usize,
    /// A partial batch is written once its oldest row has waited this long.
    #[arg(long, value_parser = duration::parse, default_value = "50ms", requires = "sink_postgres")]
    pub(crate) pg_batch_interval: Duration,
    /// Queue depth (bars) at which the pressure policy starts.
    #[arg(long, default_value_t = 10_000, requires = "sink_postgres")]
    pub(crate) pg_queue_high: usize,
    /// Queue depth (bars) at which it ends.
    #[arg(long, default_value_t = 2_500, requires = "sink_postgres")]
    pub(crate) pg_queue_low: usize,
    /// Writer threads (one connection each).
    #[arg(long, default_value_t = 1, requires = "sink_postgres")]
    pub(crate) pg_writers: usize,
    /// After input ends, how long to keep trying to write what was accepted before giving up
    /// (the count not written is reported and the exit code is 1).
    #[arg(long, value_parser = duration::parse, default_value = "30s", requires = "sink_postgres")]
    pub(crate) pg_flush_timeout: Duration,
}

/// Late policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LateArg {
    /// Drop late trades (counted).
    Drop,
    /// Write late trades to `--late-out`.
    Side,
    /// Re-emit revised bars within `--allowed-lateness`.
    Revise,
}

/// Dedupe key on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KeyArg {
    /// `(instrument, trade_id)`.
    Id,
    /// `(instrument, ts_event, ts_recv, price, size, side)`: can drop real trades (see docs).
    Content,
}

/// Empty-bar policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EmptyArg {
    /// Only windows with trades produce bars.
    Skip,
    /// Flat bars between an instrument's first and last trade (holds ordered output back
    /// while an instrument is quiet).
    Flat,
}

/// Malformed-record policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnError {
    /// Stop at the first malformed record (exit 2, `FILE:LINE: …`).
    Fail,
    /// Skip malformed records, counted per reason.
    Skip,
}

/// Store pressure policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PressureArg {
    /// Backpressure to the sources: nothing is lost (default).
    Block,
    /// Keep only the newest revision of each waiting bar; new bars block at capacity.
    Conflate,
    /// Drop bars while pressured (counted).
    Shed,
}

/// Replay speed: as fast as possible, or a multiple of the recorded speed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Speed {
    /// No pacing.
    Max,
    /// 1 = recorded speed, 10 = ten times faster.
    Factor(f64),
}

/// Parses `max` or a positive factor.
fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!("expected `max` or a positive factor such as 1 or 10, found {s:?}")),
    }
}
