//! The command line, as clap parses it: thin types close to the flags. [`crate::plan`] turns
//! them, once, into a validated plan; nothing past the plan sees clap.

use crate::output::OutFormat;
use crate::select::Instruments;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use ticklane_tools::{duration, gen, input};

#[derive(Parser)]
#[command(
    name = "ticklane",
    version,
    about = "Replay captured tick files through a ticklane pipeline into bars",
    after_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Replay capture files (ticklane CSV, Tardis CSV, Databento DBN, Binance stream captures)
    /// into OHLCV bars and quote bars.
    #[command(after_help = REPLAY_HELP)]
    Replay(Box<ReplayArgs>),
    /// Read live feeds (a Binance combined stream over ws:// or wss://, a NATS subject, a
    /// JetStream stream) into bars until SIGINT/SIGTERM, then drain: replay's options, URLs as
    /// the inputs; or run a pipeline file (PIPELINE.toml).
    #[command(after_help = RUN_HELP)]
    Run(Box<RunArgs>),
    /// Check a pipeline file (ticklane run PIPELINE.toml): every error as FILE:LINE: KEY, or
    /// the graph and the command line it means.
    #[command(after_help = CHECK_HELP)]
    Check(CheckArgs),
    /// Put a capture onto NATS (a subject) or JetStream (a stream), one tick per message,
    /// JSON or MessagePack (for demos and tests of `ticklane run`).
    #[command(after_help = PUBLISH_HELP)]
    Publish(PublishArgs),
    /// Print the partition of each instrument name (scale-out, design.md §10).
    #[command(after_help = crate::ops::PARTITION_HELP)]
    Partition(crate::ops::PartitionArgs),
    /// Print the worker that owns each partition for a membership (scale-out, design.md §10).
    #[command(after_help = crate::ops::ASSIGN_HELP)]
    Assign(crate::ops::AssignArgs),
    /// Write a deterministic synthetic trade capture (ticklane CSV).
    #[command(after_help = GEN_HELP)]
    Gen(gen::GenArgs),
}

/// The exit codes (design.md §7), shown under the commands' help.
macro_rules! exit_codes {
    () => {
        "Exit codes: 0 done; 1 runtime failure (an output or the database failed: the summary says how far it \
         got); 2 bad usage or bad input (FILE:LINE: what was expected; everything before it is written); 128+N \
         stopped by signal N after flushing (130 SIGINT, 143 SIGTERM)."
    };
}
const EXIT_CODES: &str = exit_codes!();

const REPLAY_HELP: &str = concat!(
    "Examples:\n",
    "  Bars of a capture, 1-minute, repeated trades dropped:\n",
    "    ticklane replay --bars 1m --dedupe data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  Several files as one stream, to a file, with a JSON account:\n",
    "    ticklane replay --bars 1s --out bars.csv --summary run.json data/GLBX_ESH4_trades_2023-12-25.csv \\\n",
    "      data/GLBX_ESU4_trades_2024-07-01.dbn.zst\n",
    "  Disordered feed: wait 2 s for stragglers, revise bars for 10 s more, keep the rest:\n",
    "    ticklane replay --max-delay 2s --late revise --allowed-lateness 10s --late-out late.csv \\\n",
    "      data/tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv\n",
    "  Hourly bars from half past, at most 100 trades per instrument per second, the rest conflated:\n",
    "    ticklane replay --bars 1h --bar-offset 30m --throttle 100/1s:conflate \\\n",
    "      data/tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv\n",
    "  Tick bars (every 100 trades) and volume bars (every 50 contracts):\n",
    "    ticklane replay --tick-bars 100 data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "    ticklane replay --volume-bars 50 data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  Watch a capture at 50x its recorded speed:\n",
    "    ticklane replay --speed 50 data/tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv\n",
    "  Bars into PostgreSQL:\n",
    "    ticklane replay --sink-postgres postgresql://postgres@127.0.0.1:5432/postgres data/GLBX_ESU4_trades_2024-07-01.dbn.zst\n",
    "  1-second, 1-minute and 1-hour bars in one pass (the coarser resampled from the finer):\n",
    "    ticklane replay --bars 1s,1m,1h --out 'bars_{bars}.csv' data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  The same to two outputs: every width as CSV, and the 1-hour bars also as JSONL:\n",
    "    ticklane replay --bars 1s,1m,1h --out 'bars_{bars}.csv' --out 1h=hourly.jsonl --format csv --format jsonl \\\n",
    "      data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  Quote bars of a Tardis quotes file, and both kinds of a Binance stream capture:\n",
    "    ticklane replay --bars 1s data/tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv\n",
    "    ticklane replay --out 'bars_{kind}.csv' data/binance_spot_btcusdt_20240808.stream.gz\n",
    "  From standard input:\n",
    "    zcat data/binance_spot_btcusdt_20240808.stream.gz | ticklane replay --kind trades -\n\n",
    exit_codes!()
);

const RUN_HELP: &str = concat!(
    "Examples:\n",
    "  1-second trade bars of a live Binance stream, repeated trades dropped, to a file:\n",
    "    ticklane run --dedupe --kind trades --out bars.csv \\\n",
    "      'wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@bookTicker'\n",
    "  Trades and quotes, 1-second and 1-minute bars, metrics and /readyz on port 9898:\n",
    "    ticklane run --bars 1s,1m --out 'bars_{kind}_{bars}.csv' --metrics-addr 127.0.0.1:9898 \\\n",
    "      'wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@bookTicker'\n",
    "  Ticks from a JetStream stream (durable consumer `ticklane`, acknowledged as they are taken):\n",
    "    ticklane run --dedupe --kind trades --out bars.csv jetstream://127.0.0.1:4222/TICKS\n",
    "  A pipeline file (`ticklane check` shows the graph and the command line it means):\n",
    "    ticklane run examples/pipelines/flagship.toml\n\n",
    "The stream is read until SIGINT or SIGTERM; then every window fires, outputs flush, and the exit code is \
     0 (1 if an output or the database failed). A connection that fails, closes or stays silent for \
     --stall-timeout is remade with backoff (100 ms doubling up to --reconnect-max); /readyz says whether it is \
     connected. Malformed messages are counted and skipped unless --on-error fail is given.\n"
);

const PUBLISH_HELP: &str = concat!(
    "Examples:\n",
    "  A capture's trades onto a JetStream stream (created when missing, subjects TICKS.>), as MessagePack:\n",
    "    ticklane publish --to jetstream://127.0.0.1:4222/TICKS --format msgpack data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  Partitioned by instrument over 64 subjects TICKS.ticks.0 … TICKS.ticks.63 (scale-out, design.md §10):\n",
    "    ticklane publish --to jetstream://127.0.0.1:4222/TICKS --partitions 64 data/GLBX_ESH4_trades_2023-12-25.csv\n",
    "  At ten times the recorded speed onto a core NATS subject:\n",
    "    ticklane publish --to nats://127.0.0.1:4222/ticks --speed 10 data/binance_spot_btcusdt_20240808.stream.gz\n\n",
    "Each message is one tick (design.md §9): JSON or MessagePack, the same map. On JetStream every message is \
     acknowledged by the server before the command ends. Exit codes: 0 done; 1 the bus failed; 2 bad usage or \
     bad input; 128+N stopped by signal N."
);

const GEN_HELP: &str = concat!(
    "Example:\n",
    "  ticklane gen --rows 10000000 --instruments 1000 --dup-fraction 0.01 --disorder 2s --out synth.csv\n\n",
    "Exit codes: 0 done; 1 the output could not be written; 2 bad usage."
);

/// `ticklane check`'s argument.
#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// The pipeline file (TOML; see docs/pipelines.md and examples/pipelines/).
    pub(crate) pipeline: PathBuf,
}

const CHECK_HELP: &str = concat!(
    "Example:\n",
    "  ticklane check examples/pipelines/flagship.toml && ticklane run examples/pipelines/flagship.toml\n\n",
    "Exit codes: 0 the pipeline is valid; 2 it is not (every problem printed as FILE:LINE: KEY: what was expected)."
);

/// `ticklane publish`'s flags.
#[derive(clap::Args)]
pub(crate) struct PublishArgs {
    /// Capture files, merged by ts_event as replay merges them.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Where: nats://HOST:PORT/SUBJECT, or jetstream://HOST:PORT/STREAM (subject STREAM.ticks, or
    /// STREAM.ticks.PARTITION when the stream is partitioned).
    #[arg(long, value_name = "URL")]
    pub(crate) to: String,
    /// Partition the ticks by instrument over P subjects of a JetStream stream (design.md §10);
    /// fixed when the stream is created: an existing stream's own count is used, and a different
    /// --partitions is refused.
    #[arg(long, value_name = "P", value_parser = crate::ops::parse_partitions)]
    pub(crate) partitions: Option<u32>,
    /// JetStream: the copies of a stream created here (1 to 5; 3 on a 3-node cluster keeps
    /// the stream through the loss of a node).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=5), default_value = "1")]
    pub(crate) replicas: u8,
    /// The encoding of each message.
    #[arg(long, value_enum, default_value = "json")]
    pub(crate) format: ticklane_tools::wire::WireFormat,
    /// Pacing: max, or a factor of the recorded speed.
    #[arg(long, value_parser = parse_speed, default_value = "max")]
    pub(crate) speed: Speed,
    /// The record kind published: trades, or quotes (auto: what the files hold; trades when both).
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) kind: KindArg,
    /// The input format.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) input_format: input::Format,
    /// The instrument prefix where the format has none (Binance streams: binance).
    #[arg(long, value_parser = parse_venue)]
    pub(crate) venue: Option<String>,
}

/// `ticklane run`'s flags: `replay`'s, with one live URL as the input.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) replay: ReplayArgs,
    /// The longest wait between reconnection attempts (the first waits 100 ms, doubling).
    #[arg(help_heading = "Live", long, value_name = "DUR", value_parser = duration::parse, default_value = "30s")]
    pub(crate) reconnect_max: Duration,
    /// No message (data or ping) for this long: the connection is dropped and remade.
    #[arg(help_heading = "Live", long, value_name = "DUR", value_parser = duration::parse, default_value = "60s")]
    pub(crate) stall_timeout: Duration,
    /// After SIGINT/SIGTERM, how long draining (windows firing, outputs and the store flushing)
    /// may take; past it the run exits 1 saying what was not written.
    #[arg(help_heading = "Live", long, value_name = "DUR", value_parser = duration::parse, default_value = "30s")]
    pub(crate) drain_timeout: Duration,
    /// Read only partition N of a partitioned JetStream stream, through the consumer
    /// CONSUMER-pN (design.md §10); workers start such runs themselves.
    #[arg(help_heading = "Scale-out", long, value_name = "N")]
    pub(crate) partition: Option<u32>,
    /// Run as worker ID of the group reading a partitioned JetStream stream: join the
    /// membership, read the partitions this worker owns (rendezvous hashing), hand them over
    /// as members come and go. SIGTERM leaves (the others take over), SIGINT drains.
    #[arg(help_heading = "Scale-out", long, value_name = "ID")]
    pub(crate) worker: Option<String>,
    /// Workers: a member silent this long is gone, and its partitions move (set when the
    /// membership stream is created; the stream's own value holds after that).
    #[arg(help_heading = "Scale-out", long, value_name = "DUR", value_parser = duration::parse, default_value = "6s")]
    pub(crate) worker_ttl: Duration,
}

/// `ticklane replay`'s flags.
#[derive(clap::Args)]
pub(crate) struct ReplayArgs {
    /// Capture files (`-`: standard input; `.gz`/`.zst` CSV read directly); several replay as
    /// one stream merged by ts_event (ties: this order).
    #[arg(help_heading = "Input", required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Bar width: 100ms, 1s, 5m, 1h …; several (1s,1m,1h) in one pass, finest first, each a
    /// larger multiple of the one before and resampled from it (--out needs {bars}).
    #[arg(help_heading = "Bars", long, value_name = "DUR[,DUR]", value_parser = BarWidth::parse, value_delimiter = ',',
          default_value = "1s")]
    pub(crate) bars: Vec<BarWidth>,
    /// Shifts the windows: with --bars 1h --bar-offset 30m they run from half past to half past.
    #[arg(help_heading = "Bars", long, value_name = "DUR", value_parser = duration::parse, default_value = "0s")]
    pub(crate) bar_offset: Duration,
    /// Rate limit before the bars: at most N trades (or quotes) per instrument per INTERVAL of
    /// event time; the excess dropped, or with :conflate replaced by the latest, emitted when the
    /// interval ends. 0/INTERVAL:conflate keeps only the latest (BBO conflation).
    #[arg(help_heading = "Bars", long, value_name = "N/INTERVAL[:drop|conflate]", value_parser = ThrottleArg::parse)]
    pub(crate) throttle: Option<ThrottleArg>,
    /// Tick bars instead of time bars: one bar per instrument every N trades, in arrival order
    /// (the last, partial one at end of input).
    #[arg(help_heading = "Bars", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..),
          conflicts_with_all = COUNT_BAR_CONFLICTS)]
    pub(crate) tick_bars: Option<u64>,
    /// Volume bars instead of time bars: one bar per instrument every V of size (a trade that
    /// overflows a bar is split at the same price).
    #[arg(help_heading = "Bars", long, value_name = "V", value_parser = parse_volume, allow_negative_numbers = true,
          conflicts_with_all = COUNT_BAR_CONFLICTS, conflicts_with = "tick_bars")]
    pub(crate) volume_bars: Option<ticklane::Fixed>,
    /// Shard threads (default: one per core but one, the reader's; at least one; more than 4 per
    /// core needs --oversubscribe).
    #[arg(help_heading = "Running", long)]
    pub(crate) shards: Option<usize>,
    /// Allow more than 4 shards per core (each extra shard costs wake-ups and cache).
    #[arg(help_heading = "Running", long)]
    pub(crate) oversubscribe: bool,
    /// Thread pinning: auto (pin only when nothing else runs at start), always, never.
    #[arg(help_heading = "Running", long, value_enum, default_value = "auto")]
    pub(crate) pin: PinArg,
    /// Most records per batch the reader hands a shard (default 1,024); a batch never waits to
    /// fill, it takes what is there. The engine's `Config::batch_size`.
    #[arg(help_heading = "Running", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) batch_size: Option<u64>,
    /// Batches each shard's ring holds (default 64): with --batch-size, the records in flight
    /// per shard. The engine's `Config::ring_capacity`.
    #[arg(help_heading = "Running", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) ring_capacity: Option<u64>,
    /// Records each shard may leave waiting for an output's writer before it waits itself
    /// (default 65,536): bounds memory while an output falls behind. The engine's
    /// `Config::egress_records`.
    #[arg(help_heading = "Running", long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) egress_records: Option<u64>,
    /// Live runs: a source silent this long (wall clock) stops holding the other sources'
    /// watermark back. The engine's `Config::idle_timeout` (default: never, which keeps
    /// replays deterministic).
    #[arg(help_heading = "Running", long, value_name = "DUR", value_parser = duration::parse)]
    pub(crate) idle_timeout: Option<Duration>,
    /// Drop repeated trades (by trade id) and quotes (by their whole content: they carry no id).
    #[arg(help_heading = "Dedupe", long)]
    pub(crate) dedupe: bool,
    /// How long (event time, behind the watermark) a trade key is remembered.
    #[arg(help_heading = "Dedupe", long, value_parser = duration::parse, default_value = "10s", requires = "dedupe")]
    pub(crate) dedupe_ttl: Duration,
    /// Trades' dedupe key. `content` can drop real trades: CME data holds distinct identical prints.
    #[arg(help_heading = "Dedupe", long, value_enum, default_value = "id", requires = "dedupe")]
    pub(crate) dedupe_key: KeyArg,
    /// Bounded out-of-orderness: watermark = max ts_event − max_delay.
    #[arg(help_heading = "Bars", long, value_parser = duration::parse, default_value = "0s")]
    pub(crate) max_delay: Duration,
    /// Late-trade policy.
    #[arg(help_heading = "Late data", long, value_enum, default_value = "drop")]
    pub(crate) late: LateArg,
    /// With --late revise: how long a fired window accepts revisions.
    #[arg(help_heading = "Late data", long, value_parser = duration::parse)]
    pub(crate) allowed_lateness: Option<Duration>,
    /// Where late trades (ticklane CSV) or quotes (ticklane quotes CSV) are written under
    /// --late side (or beyond the revise horizon); {kind} when the input holds both; - for
    /// standard output.
    #[arg(help_heading = "Late data", long)]
    pub(crate) late_out: Option<PathBuf>,
    /// Empty windows: skip, or flat bars between an instrument's first and last trade.
    #[arg(help_heading = "Bars", long, value_enum, default_value = "skip")]
    pub(crate) empty_bars: EmptyArg,
    /// Pacing: max, or a factor of the recorded speed (1 = as recorded, 10 = ten times faster).
    #[arg(help_heading = "Running", long, value_parser = parse_speed, default_value = "max")]
    pub(crate) speed: Speed,
    /// Output: a file, - for stdout, nats://HOST:PORT/SUBJECT or jetstream://HOST:PORT/STREAM;
    /// `{kind}` becomes `trades` or `quotes` (needed when both are built). Repeat it to fan
    /// out: each output gets every bar it takes. `WIDTHS=OUT` takes only those --bars widths
    /// (`--out 1s=bars_1s.csv --out 1m,1h=nats://…/bars.{bars}`; a file named so: ./1s=x.csv).
    #[arg(help_heading = "Output", long, value_name = "[WIDTHS=]OUT")]
    pub(crate) out: Vec<String>,
    /// Output format: once for every --out, or once per --out in their order (default csv).
    #[arg(help_heading = "Output", long, value_enum)]
    pub(crate) format: Vec<OutFormat>,
    /// Start a new output file each DURATION of event time (1h, 1d, …): --out holds {period},
    /// each file's start in UTC (bars_{period}.csv → bars_20240808T130000Z.csv). A bar goes to
    /// the file of the newest window start so far, so the files in order hold what one file would.
    #[arg(help_heading = "Output", long, value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) rotate: Option<Duration>,
    /// Input format.
    #[arg(help_heading = "Input", long, value_enum, default_value = "auto")]
    pub(crate) input_format: input::Format,
    /// Bars from trades, or quote bars from quotes; auto = what the input holds (an input
    /// with both, such as a Binance stream capture, builds both: --out needs {kind}).
    #[arg(help_heading = "Input", long, value_enum, default_value = "auto")]
    pub(crate) kind: KindArg,
    /// Instrument prefix where the format has none (Binance stream captures: binance).
    #[arg(help_heading = "Input", long, value_name = "NAME", value_parser = parse_venue)]
    pub(crate) venue: Option<String>,
    /// Keep only instruments whose name matches a pattern (`*`, `?`, `[abc]`; comma-separated,
    /// e.g. 'GLBX.MDP3:ES*,*BTC*'); the others are skipped as if the capture did not hold them.
    #[arg(help_heading = "Input", long, value_name = "PATTERN[,PATTERN]", value_parser = Instruments::parse)]
    pub(crate) instruments: Option<Instruments>,
    /// Malformed records: fail (exit 2 at the first) or skip (counted per reason). Default:
    /// fail for replay, skip for run (a live service outlives a bad message).
    #[arg(help_heading = "Input", long, value_enum)]
    pub(crate) on_error: Option<OnError>,
    /// Serve Prometheus text at http://ADDR/metrics while the run lasts: IP:PORT or
    /// HOST:PORT (localhost:9898; 0.0.0.0:9898 for every interface).
    #[arg(help_heading = "Output", long, value_name = "ADDR", value_parser = parse_listen_addr)]
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// With --metrics-addr: once the run has ended (summary written), serve its final counts this
    /// long before exiting (a signal ends the wait), so a batch run's last scrape is whole.
    #[arg(help_heading = "Output", long, value_name = "DUR", value_parser = duration::parse, requires = "metrics_addr")]
    pub(crate) metrics_linger: Option<Duration>,
    /// Write a JSON run summary here (- for standard output, once the run has ended).
    #[arg(help_heading = "Output", long)]
    pub(crate) summary: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(flatten)]
    pub(crate) ticks: TicksArgs,
}

/// Forwarding: the trades the run accepted (after `--instruments`, `--dedupe`, `--throttle`)
/// onto a bus, one message each, partitioned like `ticklane publish` (design.md §9, §10).
#[derive(clap::Args)]
pub(crate) struct TicksArgs {
    /// Forward every accepted trade to nats://HOST:PORT/SUBJECT (`{instrument}` in the subject
    /// becomes the name) or jetstream://HOST:PORT/STREAM (subject STREAM.ticks, or
    /// STREAM.ticks.PARTITION when the stream is partitioned), in event-time order; a live feed
    /// → a partitioned stream for scale-out workers. Without --out or --sink-postgres no bars are made.
    #[arg(help_heading = "Ticks out", long, value_name = "URL")]
    pub(crate) ticks_out: Option<String>,
    /// The encoding of each forwarded tick.
    #[arg(help_heading = "Ticks out", long, value_enum, default_value = "json", requires = "ticks_out")]
    pub(crate) ticks_format: ticklane_tools::wire::WireFormat,
    /// A JetStream stream created by --ticks-out is partitioned over P subjects (fixed at creation:
    /// an existing stream's own count is followed, a different one refused).
    #[arg(help_heading = "Ticks out", long, value_name = "P", value_parser = crate::ops::parse_partitions, requires = "ticks_out")]
    pub(crate) ticks_partitions: Option<u32>,
    /// The copies of a JetStream stream created by --ticks-out (1 to 5).
    #[arg(help_heading = "Ticks out", long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=5),
          default_value = "1", requires = "ticks_out")]
    pub(crate) ticks_replicas: u8,
}

/// The PostgreSQL store sink (bars upserted by (instrument, window_start)).
#[derive(clap::Args)]
pub(crate) struct StoreArgs {
    /// Also (or, without --out, only) write bars to PostgreSQL: postgresql://USER@HOST:PORT/DB
    /// or "host=… user=… dbname=…". With several --bars widths, the finest is stored.
    #[arg(help_heading = "PostgreSQL store", long, value_name = "URL")]
    pub(crate) sink_postgres: Option<String>,
    /// Table for --sink-postgres (NAME or SCHEMA.NAME; created if missing).
    #[arg(help_heading = "PostgreSQL store", long, default_value = ticklane::operators::store::DEFAULT_TABLE, requires = "sink_postgres")]
    pub(crate) pg_table: String,
    /// What the pipeline does while the store queue is above its high watermark.
    #[arg(help_heading = "PostgreSQL store", long, value_enum, default_value = "block", requires = "sink_postgres")]
    pub(crate) pressure: PressureArg,
    /// Rows per write batch.
    #[arg(help_heading = "PostgreSQL store", long, default_value_t = 500, requires = "sink_postgres")]
    pub(crate) pg_batch_rows: usize,
    /// A partial batch is written once its oldest row has waited this long.
    #[arg(help_heading = "PostgreSQL store", long, value_parser = duration::parse, default_value = "50ms", requires = "sink_postgres")]
    pub(crate) pg_batch_interval: Duration,
    /// Queue depth (bars) at which the pressure policy starts.
    #[arg(help_heading = "PostgreSQL store", long, default_value_t = 10_000, requires = "sink_postgres")]
    pub(crate) pg_queue_high: usize,
    /// Queue depth (bars) at which it ends.
    #[arg(help_heading = "PostgreSQL store", long, default_value_t = 2_500, requires = "sink_postgres")]
    pub(crate) pg_queue_low: usize,
    /// Writer threads (one connection each).
    #[arg(help_heading = "PostgreSQL store", long, default_value_t = 1, requires = "sink_postgres")]
    pub(crate) pg_writers: usize,
    /// After input ends, how long to keep trying to write what was accepted before giving up
    /// (the count not written is reported and the exit code is 1).
    #[arg(help_heading = "PostgreSQL store", long, value_parser = duration::parse, default_value = "30s", requires = "sink_postgres")]
    pub(crate) pg_flush_timeout: Duration,
}

/// One bar width as given (`1m`: the text goes into `{bars}`) and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BarWidth {
    pub(crate) text: String,
    pub(crate) width: Duration,
}

impl BarWidth {
    fn parse(s: &str) -> Result<BarWidth, String> {
        Ok(BarWidth { text: s.trim().to_string(), width: duration::parse(s)? })
    }
}

/// Which records to make bars of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KindArg {
    /// What the input holds.
    Auto,
    /// Trades: OHLCV bars.
    Trades,
    /// Quotes: quote bars.
    Quotes,
}

/// A venue name: not empty, no `:` (it becomes the `VENUE:` prefix) and no space.
fn parse_venue(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(':') || s.contains(char::is_whitespace) {
        return Err(format!("expected a venue name without `:` or spaces (e.g. binance-us), found {s:?}"));
    }
    Ok(s.to_string())
}

/// Thread pinning on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PinArg {
    /// Pin the reader and the shards only when nothing else is runnable at start and the input
    /// is parsed on parse threads (text captures; DBN and live feeds run unpinned).
    Auto,
    /// Always pin (the reader to the first core, shards and writer to the others).
    Always,
    /// Never pin: the kernel moves threads off busy cores.
    Never,
}

/// Late policy on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LateArg {
    /// Drop late trades (counted).
    Drop,
    /// Write late trades (or quotes) to `--late-out`.
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

/// Options of time bars, refused beside --tick-bars / --volume-bars (bars that close on a
/// count have no windows to be late for or to leave empty).
const COUNT_BAR_CONFLICTS: [&str; 6] = ["bars", "bar_offset", "late", "allowed_lateness", "late_out", "empty_bars"];

/// `--throttle N/INTERVAL[:drop|conflate]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ThrottleArg {
    pub(crate) limit: u32,
    pub(crate) interval: Duration,
    pub(crate) conflate: bool,
}

impl ThrottleArg {
    fn parse(s: &str) -> Result<ThrottleArg, String> {
        let expected =
            || format!("expected N/INTERVAL[:drop|conflate] such as 100/1s or 5/100ms:conflate, found {s:?}");
        let (rate, policy) = s.split_once(':').unwrap_or((s, "drop"));
        let conflate = match policy {
            "drop" => false,
            "conflate" => true,
            _ => return Err(expected()),
        };
        let (n, interval) = rate.split_once('/').ok_or_else(expected)?;
        // 0 only with :conflate: nothing passes at once, the latest per interval is emitted
        // when it ends (BBO conflation, for quotes).
        let limit = n.parse::<u32>().ok().filter(|&n| n > 0 || conflate).ok_or_else(expected)?;
        let interval = duration::parse(interval).map_err(|e| format!("{}: {e}", expected()))?;
        Ok(ThrottleArg { limit, interval, conflate })
    }
}

/// Parses a positive decimal size.
fn parse_volume(s: &str) -> Result<ticklane::Fixed, String> {
    match ticklane::Fixed::parse(s) {
        Ok(v) if v.raw() > 0 => Ok(v),
        _ => Err(format!("expected a positive decimal size such as 100 or 0.5, found {s:?}")),
    }
}

/// Parses `max` or a positive factor.
/// Where to listen: `IP:PORT` or `HOST:PORT` (the first address the host resolves to, e.g.
/// `localhost:9898`). Every interface only when asked by address (design.md §7): `:PORT`, which
/// some exporters read so, is refused.
fn parse_listen_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    let expected = "expected IP:PORT or HOST:PORT, e.g. 127.0.0.1:9898 (0.0.0.0:PORT for every interface)";
    if s.starts_with(':') {
        return Err(format!("no host: {expected}"));
    }
    match s.to_socket_addrs() {
        Ok(mut all) => all.next().ok_or_else(|| format!("{s}: no address ({expected})")),
        Err(e) => Err(format!("{e} ({expected})")),
    }
}

fn parse_speed(s: &str) -> Result<Speed, String> {
    if s == "max" {
        return Ok(Speed::Max);
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(Speed::Factor(f)),
        _ => Err(format!("expected `max` or a positive factor such as 1 or 10, found {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_listen_address_may_name_a_host_or_only_a_port() {
        let p = |t: &str| super::parse_listen_addr(t);
        assert_eq!(p("127.0.0.1:9898").map(|a| a.to_string()), Ok("127.0.0.1:9898".into()));
        assert!(p("localhost:9898").is_ok_and(|a| a.ip().is_loopback() && a.port() == 9898));
        for bad in ["localhost", ":9898", "9898", ""] {
            assert!(p(bad).is_err_and(|e| e.contains("expected IP:PORT or HOST:PORT")), "{bad}: {:?}", p(bad));
        }
    }
}
