//! The reader's loop: every record of the merged inputs, named and interned, paced if asked,
//! pushed into the engine; malformed records failed on or counted.

use super::progress::Progress;
use super::signals::Signals;
use crate::cli::{OnError, Speed};
use crate::plan::Plan;
use crate::select::Instruments;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use ticklane::{Ingress, InstrumentId, PushError, Quote, Trade};
use ticklane_tools::input::{Chunk, Event, InputError, Merge, Source};

/// Reading files, a parked shard is woken once this many batches wait for it (or at a flush,
/// or the end): [`Ingress::defer_wakeups`]. On the 10M-trade DBN replay at `--shards 2` on 2
/// cores (four threads), context switches 13,600 → 1,000 and CPU 0.69 → 0.61 s, wall 0.36 →
/// 0.32 s (medians of 9 interleaved runs; 16 and 64 about the same; CSV and 1 shard
/// unchanged). A live feed's records, or a pipe's, are never held back so (latency first).
const FILE_WAKEUPS: std::num::NonZeroU32 = std::num::NonZeroU32::new(32).expect("nonzero");

/// How far behind the recorded schedule a paced replay is (published with the progress).
const PACING_LAG: &str = "ticklane_pacing_lag_seconds";
/// Malformed records, by reason (design.md §8; counted once per bad record, off the hot path).
const MALFORMED: &str = "ticklane_malformed_total";

/// What the reader did.
#[derive(Default)]
pub(crate) struct Fed {
    /// Records read, malformed ones excluded.
    pub(crate) read: u64,
    /// Trades accepted by the engine.
    pub(crate) accepted: u64,
    /// Trades of instruments `--instruments` does not select (read, not pushed).
    pub(crate) filtered: u64,
    /// The first few names `--instruments` did not select (to show what names look like).
    pub(crate) unselected: Vec<String>,
    /// Records of another kind passed over (a Binance stream's depth updates, say).
    pub(crate) skipped: u64,
    /// Malformed records per reason.
    pub(crate) malformed: BTreeMap<&'static str, u64>,
    /// The malformed record that stopped the run under `--on-error fail`.
    pub(crate) failure: Option<InputError>,
    /// How far pacing fell behind the recorded schedule at worst.
    pub(crate) max_lag: Duration,
}

impl Fed {
    /// Both readers' account: this one's, with `other`'s counts added (its failure kept if
    /// this one has none).
    pub(super) fn with(mut self, other: Fed) -> Fed {
        self.read += other.read;
        self.accepted += other.accepted;
        self.filtered += other.filtered;
        self.unselected.extend(other.unselected);
        self.unselected.truncate(UNSELECTED_SHOWN);
        self.skipped += other.skipped;
        for (reason, n) in other.malformed {
            *self.malformed.entry(reason).or_default() += n;
        }
        self.failure = self.failure.or(other.failure);
        self.max_lag = self.max_lag.max(other.max_lag);
        self
    }
}

/// Feeds the merged inputs into the engine.
pub(super) struct Feeder<R: Event> {
    merge: Merge<R>,
    /// Per merged symbol index: the engine's instrument id once interned, or [`SKIPPED`].
    ids: Vec<Option<InstrumentId>>,
    /// `--instruments`: the names kept.
    instruments: Option<Instruments>,
    on_error: OnError,
    pacer: Option<Pacer>,
    fed: Fed,
    /// This feeder's count is the one the signal handler reports (the trade feeder's, when
    /// trades and quotes are fed at once).
    tally: bool,
    /// A live input: on a signal it stops reading by itself, and what it already received
    /// is still pushed (the source then ends); files are simply not read further.
    live: bool,
    /// Every input is a regular file (no pipe, no standard input): records are read as fast
    /// as they can be, so the shards' wake-ups may be deferred ([`FILE_WAKEUPS`]).
    regular: bool,
}

impl<R: Event> Feeder<R> {
    pub(super) fn new(merge: Merge<R>, plan: &Plan, tally: bool) -> Feeder<R> {
        let pacer = match plan.speed {
            Speed::Max => None,
            Speed::Factor(f) => Some(Pacer { factor: f, start: None, max_ts: i64::MIN, lag: Duration::ZERO }),
        };
        let fed = Fed {
            read: 0,
            accepted: 0,
            filtered: 0,
            unselected: Vec::new(),
            skipped: 0,
            malformed: BTreeMap::new(),
            failure: None,
            max_lag: Duration::ZERO,
        };
        Feeder {
            ids: Vec::new(),
            instruments: plan.instruments.clone(),
            merge,
            on_error: plan.on_error,
            pacer,
            fed,
            tally,
            live: plan.live.is_some(),
            regular: plan.inputs.iter().all(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file())),
        }
    }

    /// Reads files (a capture beside a live stream): on a signal, simply not read further.
    pub(super) fn reading_files(mut self) -> Feeder<R> {
        self.live = false;
        self
    }

    /// Feeds until the inputs end, a malformed record stops the run, or a signal arrives;
    /// then ends the source (everything accepted is flushed into the engine).
    pub(super) fn run(
        mut self,
        mut feed: Ingress<R>,
        progress: &mut Progress,
        signals: &Signals,
    ) -> Result<Fed, PushError> {
        if !self.live && self.regular {
            feed.defer_wakeups(FILE_WAKEUPS);
        }
        let mut chunk = Chunk::<R>::default();
        let mut go = Go { feed: &mut feed, progress, signals };
        'read: while (self.live || !signals.stopping()) && self.merge.next_chunk(&mut chunk) {
            if let Some(floor) = self.merge.take_floor() {
                go.feed.advance_watermark(floor)?;
            }
            let mut from = 0;
            for (at, e) in std::mem::take(&mut chunk.errors) {
                if !self.feed(&mut go, &mut chunk.records[from..at])? {
                    break 'read;
                }
                from = at;
                if self.malformed(e) == OnError::Fail {
                    signals.halt();
                    break 'read;
                }
            }
            if !self.feed(&mut go, &mut chunk.records[from..])? {
                break;
            }
            self.tick(&mut go);
        }
        feed.finish()?;
        self.fed.skipped = self.merge.sources().iter().map(|s| s.skipped()).sum();
        Ok(self.fed)
    }

    /// Pushes good records in order, instrument names interned; paced if asked (then
    /// record by record, watching for signals). Whether to go on.
    fn feed(&mut self, go: &mut Go<'_, R>, trades: &mut [R]) -> Result<bool, PushError> {
        let mut skipped = 0;
        for t in trades.iter_mut() {
            let id = self.instrument(go.feed, t.instrument().0)?;
            t.set_instrument(id);
            skipped += usize::from(id == SKIPPED);
        }
        self.fed.read += trades.len() as u64;
        self.fed.filtered += skipped as u64;
        let trades = if skipped == 0 { trades } else { keep_selected(trades) };
        if self.pacer.is_none() {
            go.feed.push_all(trades)?;
            self.fed.accepted += trades.len() as u64;
            return Ok(true);
        }
        for &t in trades.iter() {
            if go.signals.stopping() {
                return Ok(false);
            }
            if let Some(p) = &mut self.pacer {
                p.wait_for(t.ts_event(), go.feed, &mut self.fed.max_lag)?;
            }
            go.feed.push(t)?;
            self.fed.accepted += 1;
            self.tick(go);
        }
        Ok(true)
    }

    /// Publishes the count for the signal handler, and the progress (the bar and the lag gauge
    /// change ten times a second).
    fn tick(&self, go: &mut Go<'_, R>) {
        if self.tally {
            go.signals.tally.accepted.store(self.fed.accepted, Relaxed);
        }
        if go.progress.tick(self.merge.position(), self.fed.accepted) {
            if let Some(p) = &self.pacer {
                metrics::gauge!(PACING_LAG).set(p.lag.as_secs_f64());
            }
        }
    }

    /// Counts `e`; under `fail` keeps it as the run's failure.
    fn malformed(&mut self, e: InputError) -> OnError {
        *self.fed.malformed.entry(e.reason).or_default() += 1;
        metrics::counter!(MALFORMED, "reason" => e.reason).increment(1);
        match self.on_error {
            OnError::Fail => self.fed.failure = Some(e),
            OnError::Skip => log::debug!("skipped: {e}"),
        }
        self.on_error
    }

    /// The engine's id for the merge's symbol `sym`, interned on first sight.
    #[inline]
    fn instrument(&mut self, feed: &mut Ingress<R>, sym: u32) -> Result<InstrumentId, PushError> {
        let s = sym as usize;
        if self.ids.len() <= s {
            self.ids.resize(s + 1, None);
        }
        match self.ids[s] {
            Some(id) => Ok(id),
            None => {
                let name = self.merge.symbol(sym);
                let id = match &self.instruments {
                    Some(keep) if !keep.matches(name) => {
                        if self.fed.unselected.len() < UNSELECTED_SHOWN {
                            self.fed.unselected.push(name.to_string());
                        }
                        SKIPPED
                    }
                    _ => feed.intern(name)?,
                };
                self.ids[s] = Some(id);
                Ok(id)
            }
        }
    }
}

/// How many of the names `--instruments` did not select the summary shows.
const UNSELECTED_SHOWN: usize = 3;

/// The id a trade of an instrument `--instruments` does not select gets in the reader (never
/// one the engine hands out: its table is far smaller); such trades are not pushed.
const SKIPPED: InstrumentId = InstrumentId(u32::MAX);

/// Moves the records not [`SKIPPED`] to the front, in order; returns them.
fn keep_selected<R: Event>(trades: &mut [R]) -> &[R] {
    let mut n = 0;
    for i in 0..trades.len() {
        if trades[i].instrument() != SKIPPED {
            trades[n] = trades[i];
            n += 1;
        }
    }
    &trades[..n]
}

/// Where the feed goes and what it reports to.
struct Go<'a, R: Event> {
    feed: &'a mut Ingress<R>,
    progress: &'a mut Progress,
    signals: &'a Signals,
}

/// Replays at `factor` times the recorded speed: each trade waits until its `ts_event` (the
/// latest so far) is due, counted from the first trade.
struct Pacer {
    factor: f64,
    /// Wall time and `ts_event` of the first trade.
    start: Option<(Instant, i64)>,
    max_ts: i64,
    /// How far behind the schedule the last trade was.
    lag: Duration,
}

impl Pacer {
    fn wait_for<R: Event>(&mut self, ts: i64, feed: &mut Ingress<R>, max_lag: &mut Duration) -> Result<(), PushError> {
        self.max_ts = self.max_ts.max(ts);
        let (t0, ts0) = *self.start.get_or_insert((Instant::now(), ts));
        let due = t0 + Duration::from_nanos(((self.max_ts - ts0) as f64 / self.factor).max(0.0) as u64);
        let now = Instant::now();
        if due > now {
            feed.flush()?; // let the shards see what is due before we sleep
            std::thread::sleep(due - now);
            self.lag = Duration::ZERO;
        } else {
            self.lag = now - due;
            *max_lag = (*max_lag).max(self.lag);
        }
        Ok(())
    }
}

/// One reader's inputs and the ingress it feeds.
pub(super) type Feed<R> = (Vec<Box<dyn Source<R>>>, Ingress<R>);

/// Every input of a run with the ingress it feeds.
pub(super) struct Feeds {
    pub(super) trades: Option<Feed<Trade>>,
    /// A capture read beside a live stream.
    pub(super) backfill: Option<Feed<Trade>>,
    pub(super) quotes: Option<Feed<Quote>>,
}

/// Feeds every input: trades on this thread; quotes too when they are all there is, else on a
/// thread of their own; a capture beside a live stream on another. What the trade readers (one
/// account for both) and the quote reader did.
pub(super) fn feed_all(
    plan: &Plan,
    signals: &Signals,
    progress: &mut Progress,
    feeds: Feeds,
) -> anyhow::Result<(Option<Fed>, Option<Fed>)> {
    std::thread::scope(|s| {
        let quoter = match (feeds.quotes, feeds.trades.is_some()) {
            (Some((q, i)), true) => Some(s.spawn(move || beside(plan, signals, q, i, false))),
            (Some((q, i)), false) => {
                return Ok((None, Some(Feeder::new(Merge::new(q), plan, true).run(i, progress, signals)?)))
            }
            (None, _) => None,
        };
        let filler = feeds.backfill.map(|(b, i)| s.spawn(move || beside(plan, signals, b, i, true)));
        let fed =
            feeds.trades.map(|(t, i)| Feeder::new(Merge::new(t), plan, true).run(i, progress, signals)).transpose()?;
        let joined = |h: std::thread::ScopedJoinHandle<'_, _>, who: &str| {
            h.join().map_err(|_| anyhow::anyhow!("the {who} panicked"))
        };
        let filled = filler.map(|h| joined(h, "capture reader")).transpose()?.transpose()?;
        let fed = match (fed, filled) {
            (Some(f), Some(b)) => Some(f.with(b)),
            (f, _) => f,
        };
        let quote_fed = quoter.map(|h| joined(h, "quote reader")).transpose()?.transpose()?;
        Ok((fed, quote_fed))
    })
}

/// A reader beside the main one (its progress not shown); `files`: a capture beside a live
/// stream.
fn beside<R: Event>(
    plan: &Plan,
    signals: &Signals,
    sources: Vec<Box<dyn Source<R>>>,
    ingress: Ingress<R>,
    files: bool,
) -> Result<Fed, PushError> {
    let feeder = Feeder::new(Merge::new(sources), plan, false);
    let feeder = if files { feeder.reading_files() } else { feeder };
    feeder.run(ingress, &mut Progress::new(0), signals)
}
