//! `ticklane`: replay captured tick files into bars, and generate synthetic captures.
//!
//! Exit codes: 0 done, 1 runtime failure, 2 bad usage or bad input (design.md §7); 128 + N
//! after a graceful stop on signal N (SIGINT 130, SIGTERM 143), everything accepted flushed.

mod output;
mod replay;

use ticklane_tools::{duration, gen, input};

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "ticklane", version, about = "Replay captured tick files through a ticklane pipeline into bars")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay capture files (ticklane CSV, Tardis CSV, Databento DBN) into OHLCV bars.
    Replay(Box<ReplayCli>),
    /// Write a deterministic synthetic trade capture (ticklane CSV).
    Gen(gen::GenArgs),
}

#[derive(clap::Args)]
struct ReplayCli {
    /// Capture files; several replay as one stream merged by ts_event (ties: this order).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Bar width: 100ms, 1s, 5m, 1h …
    #[arg(long, value_parser = duration::parse, default_value = "1s")]
    bars: Duration,
    /// Shard threads (default: number of cores).
    #[arg(long)]
    shards: Option<usize>,
    /// Drop repeated trades.
    #[arg(long)]
    dedupe: bool,
    /// How long (event time, behind the watermark) a trade key is remembered.
    #[arg(long, value_parser = duration::parse, default_value = "10s", requires = "dedupe")]
    dedupe_ttl: Duration,
    /// Dedupe key. `content` can drop real trades: CME data holds distinct identical prints.
    #[arg(long, value_enum, default_value = "id", requires = "dedupe")]
    dedupe_key: replay::KeyArg,
    /// Bounded out-of-orderness: watermark = max ts_event − max_delay.
    #[arg(long, value_parser = duration::parse, default_value = "0s")]
    max_delay: Duration,
    /// Late-trade policy.
    #[arg(long, value_enum, default_value = "drop")]
    late: replay::LateArg,
    /// With --late revise: how long a fired window accepts revisions.
    #[arg(long, value_parser = duration::parse)]
    allowed_lateness: Option<Duration>,
    /// Where late trades are written (ticklane CSV) under --late side (or beyond the
    /// revise horizon).
    #[arg(long)]
    late_out: Option<PathBuf>,
    /// Empty windows: skip, or flat bars between an instrument's first and last trade.
    #[arg(long, value_enum, default_value = "skip")]
    empty_bars: replay::EmptyArg,
    /// Pacing: max, or a factor of the recorded speed (1 = as recorded, 10 = ten times faster).
    #[arg(long, value_parser = replay::parse_speed, default_value = "max")]
    speed: replay::Speed,
    /// Output file, or - for stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: output::OutFormat,
    /// Input format.
    #[arg(long, value_enum, default_value = "auto")]
    input_format: input::Format,
    /// Malformed records: fail (exit 2 at the first) or skip (counted per reason).
    #[arg(long, value_enum, default_value = "fail")]
    on_error: replay::OnError,
    /// Serve Prometheus text at http://IP:PORT/metrics while the run lasts.
    #[arg(long)]
    metrics_addr: Option<SocketAddr>,
    /// Write a JSON run summary here.
    #[arg(long)]
    summary: Option<PathBuf>,
    #[command(flatten)]
    store: StoreCli,
}

/// The PostgreSQL store sink (bars upserted by (instrument, window_start)).
#[derive(clap::Args)]
struct StoreCli {
    /// Also (or, without --out, only) write bars to PostgreSQL: postgresql://USER@HOST:PORT/DB
    /// or "host=… user=… dbname=…".
    #[arg(long, value_name = "URL")]
    sink_postgres: Option<String>,
    /// Table for --sink-postgres (NAME or SCHEMA.NAME; created if missing).
    #[arg(long, default_value = ticklane::operators::store::DEFAULT_TABLE, requires = "sink_postgres")]
    pg_table: String,
    /// What the pipeline does while the store queue is above its high watermark.
    #[arg(long, value_enum, default_value = "block", requires = "sink_postgres")]
    pressure: replay::PressureArg,
    /// Rows per write batch.
    #[arg(long, default_value_t = 500, requires = "sink_postgres")]
    pg_batch_rows: usize,
    /// A partial batch is written once its oldest row has waited this long.
    #[arg(long, value_parser = duration::parse, default_value = "50ms", requires = "sink_postgres")]
    pg_batch_interval: Duration,
    /// Queue depth (bars) at which the pressure policy starts.
    #[arg(long, default_value_t = 10_000, requires = "sink_postgres")]
    pg_queue_high: usize,
    /// Queue depth (bars) at which it ends.
    #[arg(long, default_value_t = 2_500, requires = "sink_postgres")]
    pg_queue_low: usize,
    /// Writer threads (one connection each).
    #[arg(long, default_value_t = 1, requires = "sink_postgres")]
    pg_writers: usize,
    /// After input ends, how long to keep trying to write what was accepted before giving up
    /// (the count not written is reported and the exit code is 1).
    #[arg(long, value_parser = duration::parse, default_value = "30s", requires = "sink_postgres")]
    pg_flush_timeout: Duration,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Replay(r) => {
            let r = *r;
            let shards = match r.shards {
                Some(0) => {
                    eprintln!("ticklane: --shards must be at least 1");
                    return ExitCode::from(2);
                }
                Some(n) => n,
                None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            };
            let args = replay::ReplayArgs {
                files: r.files,
                bars: r.bars,
                shards,
                dedupe: r.dedupe,
                dedupe_ttl: r.dedupe_ttl,
                dedupe_key: r.dedupe_key,
                max_delay: r.max_delay,
                late: r.late,
                allowed_lateness: r.allowed_lateness,
                late_out: r.late_out,
                empty_bars: r.empty_bars,
                speed: r.speed,
                out: r.out,
                format: r.format,
                input_format: r.input_format,
                on_error: r.on_error,
                metrics_addr: r.metrics_addr,
                summary: r.summary,
                store: r.store.sink_postgres.map(|url| replay::StoreArgs {
                    url,
                    table: r.store.pg_table,
                    pressure: r.store.pressure,
                    batch_rows: r.store.pg_batch_rows,
                    batch_interval: r.store.pg_batch_interval,
                    queue_high: r.store.pg_queue_high,
                    queue_low: r.store.pg_queue_low,
                    writers: r.store.pg_writers,
                    flush_timeout: r.store.pg_flush_timeout,
                }),
            };
            replay::run(&args)
        }
        Command::Gen(g) => gen::run(&g).map(|()| replay::Outcome::Done),
    };
    match result {
        Ok(replay::Outcome::Done) => ExitCode::SUCCESS,
        Ok(replay::Outcome::Interrupted(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
        Ok(replay::Outcome::BadInput(msg)) => {
            eprintln!("ticklane: {msg}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("ticklane: {e:#}");
            ExitCode::from(1)
        }
    }
}
