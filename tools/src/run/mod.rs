//! Executes a [`Plan`]: opens the inputs and every output, connects the store, starts the
//! engine and the writer threads, feeds every record, then drains and reports. Each step is a
//! function of its own file; this one reads as the list of steps.

mod feed;
mod progress;
mod signals;
mod store;
mod writers;

pub(crate) use feed::Fed;
pub(crate) use writers::Account;

use crate::outcome::{BadInput, Outcome};
use crate::plan::{Plan, BACKFILL, FEED, QUOTES};
use crate::report::Report;
use feed::Feeds;
use progress::Progress;
use signals::Signals;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane::operators::store::{Fence, StoreCoordinator, StoreHandle, StoreReport};
use ticklane::{Engine, Quote, Trade};
use ticklane_tools::input::{self, Event, InputError, ReadOptions, Source};
use ticklane_tools::live::{Durability, LinkStats, LiveUrl, NatsTarget};
use writers::{Files, Writers};

/// Runs `plan` to the end (input exhausted, a malformed record under `fail`, or a signal).
pub(crate) fn execute(plan: &Plan) -> anyhow::Result<Outcome> {
    let signals = Signals::install(plan.live.as_ref().map(|l| l.drain_timeout))?;
    // Files first: a missing one is bad usage, reported before anything connects.
    let files = plan.live.is_none().then(|| open_files(plan, &signals)).transpose()?;
    let backfill =
        (!plan.backfill.is_empty()).then(|| open_inputs(plan, &plan.backfill, &signals, input::open)).transpose()?;
    // Every writer connected (table created) before any input is read or a live link pulls
    // anything: a wrong URL or an unreachable database fails fast, and a durable consumer is
    // not left with messages taken by a run that never started.
    let fence = durable(plan).then(Fence::default);
    let store = plan.store.as_ref().map(|p| store::connect(p, fence.clone())).transpose()?;
    let (trades, quotes, link) = match files {
        Some(opened) => opened,
        None => open_live(plan, &signals, store.as_ref(), fence)?,
    };
    let total_bytes = trades.as_ref().map(|t| t.1).or(quotes.as_ref().map(|q| q.1)).unwrap_or(0);
    if let (Some(st), Some(sp)) = (&store, &plan.store) {
        signals.bound_store_flush(st.handle(), sp.flush_timeout);
    }
    let mut files = Files::create(&plan.outputs, &plan.inputs)?;
    let started = Instant::now();
    let graph = plan.pipeline.graph(store.as_ref().map(StoreCoordinator::handle).as_ref());
    // Feeding threads: a reader per kind of input (and one for a capture beside a live feed),
    // and the live link's own thread.
    let feeders = [trades.is_some(), quotes.is_some(), backfill.is_some(), link.is_some()].into_iter().filter(|&b| b);
    let parse = parse_threads(&trades) + parse_threads(&quotes) + parse_threads(&backfill);
    let placed = plan.engine.for_inputs(parse, feeders.count(), link.is_some());
    let mut engine = Engine::start(graph.build()?, placed.config.clone())?;
    placed.place_reader();
    let feeds = Feeds {
        trades: trades.map(|(t, _)| engine.ingress::<Trade>(FEED).map(|i| (t, i))).transpose()?,
        backfill: backfill.map(|(b, _)| engine.ingress::<Trade>(BACKFILL).map(|i| (b, i))).transpose()?,
        quotes: quotes.map(|(q, _)| engine.ingress::<Quote>(QUOTES).map(|i| (q, i))).transpose()?,
    };
    let writers = Writers::spawn(&mut engine, &mut files, placed.writer_core, plan.outputs.eager, &signals.tally)?;
    let mut progress = Progress::new(total_bytes);
    let (fed, quote_fed) = feed::feed_all(plan, &signals, &mut progress, feeds)?;
    let (engine, store) = wind_down(plan, engine, store, link.as_ref())?;
    let joined = writers.join();
    progress.finish();
    let report = Report {
        files: plan.inputs.clone(),
        shards: plan.engine.config.shards(),
        speed: plan.speed,
        bars: joined.bars,
        late: joined.late,
        quote_late: joined.quote_late,
        quote_bars: joined.quote_bars,
        coarser: joined.coarser,
        quote_coarser: joined.quote_coarser,
        ticks: joined.ticks,
        outputs: joined.outputs,
        quotes: quote_fed,
        elapsed: started.elapsed(),
        signal: signals.received(),
        trades: fed.is_some(),
        fed: fed.unwrap_or_default(),
        engine,
        store,
        link: link.map(|l| l.stats),
    };
    report.print();
    if let Some(file) = files.summary {
        report.write_summary(file, plan.outputs.summary.as_deref().unwrap_or(std::path::Path::new("")));
    }
    if let Some(d) = plan.outputs.linger {
        linger(d, &signals);
    }
    report.outcome()
}

/// Keeps the process (and its metrics endpoint, now showing the final counts) for `d`, or until
/// the next signal; `/readyz` says it is draining meanwhile.
fn linger(d: Duration, signals: &Signals) {
    let (until, seen) = (Instant::now() + d, signals.count());
    signals.finish();
    ticklane::health::set_draining(true);
    while Instant::now() < until && signals.count() == seen {
        std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
}

/// Input ended: the engine drains, the store flushes (within --pg-flush-timeout), then the link
/// acknowledges what became durable and ends.
fn wind_down(
    plan: &Plan,
    engine: Engine,
    store: Option<StoreCoordinator>,
    link: Option<&LinkEnd>,
) -> anyhow::Result<(ticklane::RunReport, Option<StoreReport>)> {
    if let (Some(st), Some(sp)) = (&store, &plan.store) {
        st.handle().set_deadline(Instant::now() + sp.flush_timeout);
    }
    let engine = engine.join()?;
    let store = store.map(StoreCoordinator::finish);
    if let Some(l) = link {
        l.finish();
    }
    Ok((engine, store))
}

/// Whether the run reads a JetStream consumer into a store: it then acknowledges a tick only
/// once its bars are durably written, and its writes are fenced by its claim on the consumer
/// (design.md §10).
fn durable(plan: &Plan) -> bool {
    plan.store.is_some()
        && matches!(plan.live.as_ref().map(|l| &l.url), Some(LiveUrl::Nats(NatsTarget::JetStream { .. })))
}

/// Starts the live link (it connects, and reconnects, on its own thread) and hands out its
/// sources as the run's inputs. With a store, a JetStream link acknowledges a tick only once its
/// bars are durably written, and records its claim on the consumer in `fence`.
fn open_live(
    plan: &Plan,
    signals: &Signals,
    store: Option<&StoreCoordinator>,
    fence: Option<Fence>,
) -> anyhow::Result<Inputs> {
    let Some(live) = &plan.live else { return Ok((None, None, None)) };
    let mut link = live.link.clone();
    if let (Some(st), Some(fence)) = (store, fence) {
        let handle = st.handle();
        link.durability =
            Some(Durability::new(move || handle.durable_progress(), plan.pipeline.finality()).fenced(fence));
    }
    let l = ticklane_tools::live::open(&live.url, plan.kinds, &read_options(plan, signals), &link)?;
    let trades = l.trades.map(|s| (vec![Box::new(s) as Box<dyn Source<Trade>>], 0));
    let quotes = l.quotes.map(|s| (vec![Box::new(s) as Box<dyn Source<Quote>>], 0));
    if let (Some(st), true) = (store, link.durability.is_some()) {
        exit_when_superseded(l.stats.clone(), st.handle())?;
    }
    let end = LinkEnd { stats: l.stats, done: l.done, durability: link.durability };
    Ok((trades, quotes, Some(end)))
}

/// Exits the process, without draining, once another run has taken the link's consumer over
/// (the link saw it, or the store refused a write fenced by this run's claim): the windows
/// open here would be written partly, over what the other run writes whole.
fn exit_when_superseded(stats: Arc<LinkStats>, store: StoreHandle) -> std::io::Result<()> {
    let watch = move || loop {
        if stats.superseded.load(std::sync::atomic::Ordering::Relaxed) || store.superseded() {
            log::error!("another run took this run's consumer over: exiting without draining");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::Builder::new().name("ticklane-superseded".into()).spawn(watch).map(|_| ())
}

/// How long the run waits, once its store has finished, for the link's last acknowledgements.
const LINK_FINISH: Duration = Duration::from_secs(10);

/// A live link's counters, and how to let it finish.
struct LinkEnd {
    stats: Arc<LinkStats>,
    done: crossbeam_channel::Receiver<()>,
    durability: Option<Durability>,
}

impl LinkEnd {
    /// The store has finished: the link acknowledges what is durable now and ends; waits for
    /// that (bounded).
    fn finish(&self) {
        if let Some(d) = &self.durability {
            d.settle();
        }
        if self.done.recv_timeout(LINK_FINISH) == Err(crossbeam_channel::RecvTimeoutError::Timeout) {
            log::warn!("the live link did not finish within {LINK_FINISH:?}: its last acknowledgements may be missing");
        }
    }
}

/// The files of a replay (or of `run` without a live URL), opened per kind read.
fn open_files(plan: &Plan, signals: &Signals) -> anyhow::Result<Inputs> {
    let (trade_files, quote_files) = files_per_kind(plan, &read_options(plan, signals));
    let trades = plan.kinds.trades.then(|| open_inputs(plan, &trade_files, signals, input::open)).transpose()?;
    let quotes = plan.kinds.quotes.then(|| open_inputs(plan, &quote_files, signals, input::open_quotes)).transpose()?;
    Ok((trades, quotes, None))
}

/// The inputs read for trades and those read for quotes. Reading one kind, every input; reading
/// both (`--kind auto` over inputs that hold both), each input for the kinds it holds: a Tardis
/// trades file beside a Tardis quotes file gives the trade bars of the one and the quote bars
/// of the other, and a Binance stream capture both. An input whose kinds cannot be told is
/// opened for both (and the open says what is wrong).
fn files_per_kind(plan: &Plan, opt: &ReadOptions) -> (Vec<std::path::PathBuf>, Vec<std::path::PathBuf>) {
    let both = plan.kinds.trades && plan.kinds.quotes;
    let (mut trades, mut quotes) = (Vec::new(), Vec::new());
    for f in &plan.inputs {
        let holds = match both {
            true => input::kinds(f, opt).unwrap_or(input::Kinds { trades: true, quotes: true }),
            false => plan.kinds,
        };
        if holds.trades {
            trades.push(f.clone());
        }
        if holds.quotes {
            quotes.push(f.clone());
        }
    }
    (trades, quotes)
}

/// The inputs of a run: trades and quotes (when read), and a live link.
type Inputs = (Option<Opened<Trade>>, Option<Opened<Quote>>, Option<LinkEnd>);

/// How the inputs are read.
fn read_options(plan: &Plan, signals: &Signals) -> ReadOptions {
    ReadOptions {
        ts_range: plan.pipeline.ts_range(),
        stop: Some(signals.stop_flag()),
        threads: plan.engine.parse_threads,
        venue: plan.venue.clone(),
        ..ReadOptions::new(plan.input_format)
    }
}

/// Opens one input for records of kind `R`.
type Opener<R> = fn(&std::path::Path, &ReadOptions) -> Result<Box<dyn Source<R>>, InputError>;

/// Every input, opened, and their total size.
type Opened<R> = (Vec<Box<dyn Source<R>>>, u64);

/// The parse threads of every input in `opened`.
fn parse_threads<R: Event>(opened: &Option<Opened<R>>) -> usize {
    opened.iter().flat_map(|(sources, _)| sources).map(|s| s.parse_threads()).sum()
}

/// Opens every one of `paths` with `open` (a missing file or an unknown format is bad input)
/// and sums their sizes (for progress).
fn open_inputs<R: Event>(
    plan: &Plan,
    paths: &[std::path::PathBuf],
    signals: &Signals,
    open: Opener<R>,
) -> anyhow::Result<Opened<R>> {
    let opt = read_options(plan, signals);
    let mut sources = Vec::with_capacity(paths.len());
    let mut total_bytes = 0;
    for f in paths {
        sources.push(open(f, &opt).map_err(|e| BadInput(e.to_string()))?);
        total_bytes += std::fs::metadata(f).ok().filter(|m| m.is_file()).map_or(0, |m| m.len());
    }
    Ok((sources, total_bytes))
}
