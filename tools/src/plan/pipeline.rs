//! What the replay graph computes: feed → [dedupe] → [throttle] → time bars (or tick / volume
//! bars) → bars out (egress, store) and, under a side-output late policy, late trades out; the
//! same for quotes into quote bars.

use super::outs::widths_text;
use super::{OutSpec, PlanError};
use crate::cli::{EmptyArg, KeyArg, LateArg, ReplayArgs, ThrottleArg};
use ticklane::operators::prelude::*;
use ticklane::operators::store::StoreHandle;
use ticklane::operators::{
    BarSize, Beyond, DedupeConfig, DedupeKey, EmptyBars, LatePolicy, QuoteBarsConfig, QuoteResample, ResampleConfig,
    ThrottleConfig, ThrottlePolicy, TimeBarsConfig,
};
use ticklane::{Bar, DagBuilder, Kind, Quote, QuoteBar, Stamped};
use ticklane_tools::input::Kinds;
use ticklane_tools::live::Finality;

/// The source the reader feeds.
pub(crate) const FEED: &str = "feed";
/// The dedupe operator.
pub(crate) const DEDUPE: &str = "dedupe";
/// The time-bar operator.
pub(crate) const BARS: &str = "bars";
/// The egress the bar writer reads.
pub(crate) const OUT: &str = "out";
/// The egress the late-trade writer reads.
pub(crate) const LATE: &str = "late";
/// The egress the tick forwarder reads (`--ticks-out`).
pub(crate) const TICKS: &str = "ticks";
/// The source the capture read beside a live stream feeds (`ticklane run CAPTURE… URL`).
pub(crate) const BACKFILL: &str = "backfill";
/// The store sink.
pub(crate) const STORE: &str = "store";
/// The rate limit.
pub(crate) const THROTTLE: &str = "throttle";
/// The source the quote reader feeds.
pub(crate) const QUOTES: &str = "quotes";
/// The quote-bar operator.
pub(crate) const QUOTE_BARS: &str = "quote_bars";
/// The egress the quote-bar writer reads.
pub(crate) const QUOTE_OUT: &str = "quote_out";
/// The quotes' rate limit (BBO conflation with `0/INTERVAL:conflate`).
pub(crate) const QUOTE_THROTTLE: &str = "quote_throttle";
/// The quotes' dedupe (keyed by their content).
pub(crate) const QUOTE_DEDUPE: &str = "quote_dedupe";
/// The egress the late-quote writer reads.
pub(crate) const QUOTE_LATE: &str = "quote_late";

/// Which bars: time windows, or bars that close on a trade count or a volume.
#[derive(Clone, Copy)]
pub(crate) enum BarKind {
    Time(TimeBarsConfig),
    Count(BarSize),
}

/// The replay graph's parameters, validated.
pub(crate) struct Pipeline {
    /// Trades are read (bars are built).
    pub(crate) trades: bool,
    /// Quotes are read: quote bars of this configuration.
    pub(crate) quotes: Option<QuoteBarsConfig>,
    pub(crate) bars: BarKind,
    /// Coarser widths resampled from the bars, finest first: `(text as given, config)`.
    pub(crate) coarser: Vec<(String, ResampleConfig)>,
    pub(crate) dedupe: Option<DedupeConfig>,
    pub(crate) throttle: Option<ThrottleConfig>,
    /// Late trades and quotes leave on the bars' side outputs (to the late files).
    pub(crate) late_side: bool,
    /// How many outputs take each width (finest first): an egress each (see [`fanned`]).
    pub(crate) fan: Vec<usize>,
    /// Bars are made (some output, the store or the late side output takes them): not when
    /// the run only forwards ticks.
    pub(crate) makes_bars: bool,
    /// The accepted trades leave on an egress of their own (`--ticks-out`).
    pub(crate) ticks_out: bool,
    /// A second trade source, [`BACKFILL`], feeds the same chain (a capture beside a live
    /// stream).
    pub(crate) backfill: bool,
}

impl Pipeline {
    /// From `replay`'s flags; `to_store` when `--sink-postgres` is given. Records every
    /// problem and returns `None` if there was one.
    pub(crate) fn from_replay(
        a: &ReplayArgs,
        kinds: Kinds,
        outs: &[OutSpec],
        to_store: bool,
        problems: &mut PlanError,
    ) -> Option<Pipeline> {
        let late_side = a.late == LateArg::Side || (a.late == LateArg::Revise && a.late_out.is_some());
        let late = late_policy(a, late_side, problems);
        let bars = bar_kind(a, late, problems);
        let coarser = coarser(a, late, problems);
        if kinds.quotes {
            quote_limits(a, kinds, to_store, problems);
        }
        let quotes = match (kinds.quotes, late) {
            (true, Some(late)) => {
                let chain = a.bars.len() > 1;
                let cfg =
                    QuoteBarsConfig::builder(a.bars[0].width).late(late).offset(a.bar_offset).chain(chain).build();
                let flags = [("window width", "--bars"), ("window offset", "--bar-offset")];
                Some(cfg.map_err(|e| problems.config(e, &flags, "--bars")).ok())
            }
            _ => Some(None),
        };
        let dedupe = match a.dedupe {
            false => Some(None),
            true => {
                let key = if a.dedupe_key == KeyArg::Content { DedupeKey::Content } else { DedupeKey::Id };
                let cfg = DedupeConfig::builder().key(key).ttl(a.dedupe_ttl).build();
                cfg.map(Some).map_err(|e| problems.config(e, &[], "--dedupe-ttl")).ok()
            }
        };
        let throttle = match a.throttle {
            None => Some(None),
            Some(t) => throttle(t, problems).map(Some),
        };
        let (Some(_), Some(bars), Some(dedupe), Some(throttle), Some(quotes), Some(coarser)) =
            (late, bars, dedupe, throttle, quotes, coarser)
        else {
            return None;
        };
        let ticks_out = a.ticks.ticks_out.is_some();
        let fan: Vec<usize> = (0..a.bars.len()).map(|i| outs.iter().filter(|o| o.takes[i]).count()).collect();
        let makes_bars = fan.iter().any(|n| *n > 0) || to_store || late_side;
        let (trades, quotes) = (kinds.trades, quotes);
        let backfill = false;
        Some(Pipeline {
            trades,
            quotes,
            bars,
            coarser,
            dedupe,
            throttle,
            late_side,
            fan,
            makes_bars,
            ticks_out,
            backfill,
        })
    }

    /// The `ts_event`s the bars can represent (others are malformed input).
    pub(crate) fn ts_range(&self) -> (ticklane::Timestamp, ticklane::Timestamp) {
        let (lo, hi) = match self.bars {
            BarKind::Time(t) => t.window().valid_range(),
            BarKind::Count(_) => (i64::MIN, i64::MAX),
        };
        (lo.max(ticklane::NO_TS + 1), hi.min(ticklane::WM_END - 1))
    }

    /// When a trade's bars can no longer change: the end of its coarsest window plus the
    /// allowed lateness; count bars only at the end of the run.
    pub(crate) fn finality(&self) -> Finality {
        let BarKind::Time(t) = self.bars else { return Finality::AtEnd };
        let window = self.coarser.last().map_or(t.window(), |(_, c)| c.window());
        Finality::Windows { window, horizon: t.late().horizon() }
    }

    /// The graph; `store` is the store coordinator's handle when bars go to the store (too).
    pub(crate) fn graph(&self, store: Option<&StoreHandle>) -> DagBuilder {
        let mut g = DagBuilder::new();
        if let Some(cfg) = self.quotes {
            g.source(QUOTES, Kind::Quote).quote_bars(QUOTE_BARS, cfg);
            self.egresses(&mut g, 0, QUOTE_BARS, QUOTE_OUT, Kind::QuoteBar, false);
            // quotes → [dedupe] → [throttle] → quote bars
            let mut last = QUOTES;
            if let Some(d) = self.dedupe {
                g.dedupe_quotes(QUOTE_DEDUPE, d).connect(last, QUOTE_DEDUPE);
                last = QUOTE_DEDUPE;
            }
            if let Some(t) = self.throttle {
                g.throttle_records::<Quote>(QUOTE_THROTTLE, t).connect(last, QUOTE_THROTTLE);
                last = QUOTE_THROTTLE;
            }
            g.connect(last, QUOTE_BARS);
            if self.late_side {
                g.sink_egress(QUOTE_LATE, Kind::Quote).connect_ports(QUOTE_BARS, 1, QUOTE_LATE, 0);
            }
            self.quote_coarser_graph(&mut g, cfg.chain_port());
        }
        if self.trades {
            self.trade_graph(&mut g, store);
        }
        g
    }

    /// feed → [dedupe] → [throttle] → bars → out, store, late; the trades that reach the bars
    /// also to the ticks' egress.
    fn trade_graph(&self, g: &mut DagBuilder, store: Option<&StoreHandle>) {
        g.source(FEED, Kind::Trade);
        if self.backfill {
            g.source(BACKFILL, Kind::Trade);
        }
        let ends = self.trade_chain(g);
        if self.ticks_out {
            g.sink_egress(TICKS, Kind::Trade);
            for e in &ends {
                g.connect(e, TICKS);
            }
        }
        if !self.makes_bars {
            return;
        }
        match self.bars {
            BarKind::Time(t) => g.time_bars(BARS, t),
            BarKind::Count(size) => g.count_bars(BARS, size),
        };
        self.egresses(g, 0, BARS, OUT, Kind::Bar, store.is_some());
        if let Some(st) = store {
            g.store_sink(STORE, st).connect(BARS, STORE);
        }
        for e in &ends {
            g.connect(e, BARS);
        }
        if self.late_side {
            g.sink_egress(LATE, Kind::Trade).connect_ports(BARS, 1, LATE, 0);
        }
        self.coarser_graph(g);
    }

    /// feed (and backfill) → [dedupe] → [throttle]: the nodes the chain ends in (both sources
    /// when it has no operator).
    fn trade_chain(&self, g: &mut DagBuilder) -> Vec<&'static str> {
        let mut ends = vec![FEED];
        if self.backfill {
            ends.push(BACKFILL);
        }
        if let Some(cfg) = self.dedupe {
            g.dedupe(DEDUPE, cfg);
            ends = chained(g, &ends, DEDUPE);
        }
        if let Some(cfg) = self.throttle {
            g.throttle(THROTTLE, cfg);
            ends = chained(g, &ends, THROTTLE);
        }
        ends
    }

    /// bars → bars_1m → bars_1h …, each level fed the one before's chain output, each into its
    /// own egress (`out_1m` …).
    fn coarser_graph(&self, g: &mut DagBuilder) {
        let BarKind::Time(fine) = self.bars else { return };
        let (mut from, mut port) = (BARS.to_string(), fine.chain_port());
        for (i, (text, cfg)) in self.coarser.iter().enumerate() {
            let (node, egress) = coarser_names(text);
            g.resample(&node, *cfg);
            self.egresses(g, i + 1, &node, &egress, Kind::Bar, false);
            if let Some(p) = port {
                g.connect_ports(&from, p, &node, 0);
            }
            (from, port) = (node, cfg.chain_port());
        }
    }

    /// quote_bars → quote_bars_1m → quote_bars_1h …, as [`Pipeline::coarser_graph`] for trade
    /// bars; `port` is the quote bars' chain output.
    fn quote_coarser_graph(&self, g: &mut DagBuilder, mut port: Option<usize>) {
        let mut from = QUOTE_BARS.to_string();
        for (i, (text, cfg)) in self.coarser.iter().enumerate() {
            let (node, egress) = quote_coarser_names(text);
            g.quote_resample(&node, *cfg);
            self.egresses(g, i + 1, &node, &egress, Kind::QuoteBar, false);
            if let Some(p) = port {
                g.connect_ports(&from, p, &node, 0);
            }
            (from, port) = (node, QuoteResample::chain_port(cfg));
        }
    }

    /// One egress per output taking width `width` (index into `--bars`), each fed by `node`.
    /// With none (a width made only for the coarser ones it feeds), its bars are dropped in
    /// the shard, unless the store takes them.
    fn egresses(&self, g: &mut DagBuilder, width: usize, node: &str, egress: &str, kind: Kind, stored: bool) {
        let fan = self.fan.get(width).copied().unwrap_or(0);
        for j in 0..fan {
            let name = fanned(egress, j);
            g.sink_egress(&name, kind).connect(node, &name);
        }
        if fan == 0 && !stored {
            let name = format!("{node}.unwritten");
            match kind {
                Kind::QuoteBar => g.sink_shard::<QuoteBar, _, _>(&name, |_| |_: &[Stamped<QuoteBar>]| {}),
                _ => g.sink_shard::<Bar, _, _>(&name, |_| |_: &[Stamped<Bar>]| {}),
            };
            g.connect(node, &name);
        }
    }
}

/// The egress of the `j`th output taking a width whose first output's egress is `egress`.
pub(crate) fn fanned(egress: &str, j: usize) -> String {
    match j {
        0 => egress.to_string(),
        j => format!("{egress}.{j}"),
    }
}

/// Connects every one of `ends` to `node`, which is the chain's end from then on.
fn chained(g: &mut DagBuilder, ends: &[&'static str], node: &'static str) -> Vec<&'static str> {
    for e in ends {
        g.connect(e, node);
    }
    vec![node]
}

/// The resampling node and the egress of the coarser width written `text`.
pub(crate) fn coarser_names(text: &str) -> (String, String) {
    (format!("{BARS}_{text}"), format!("{OUT}_{text}"))
}

/// The quote resampling node and the egress of the coarser width written `text`.
pub(crate) fn quote_coarser_names(text: &str) -> (String, String) {
    (format!("{QUOTE_BARS}_{text}"), format!("{QUOTE_OUT}_{text}"))
}

/// The coarser widths of `--bars A,B,C` (B and C), each resampled from the one before: every
/// width a multiple of the one before, time bars only, one output per width (and kind, for an
/// input with trades and quotes). The store takes the finest width only (its table is keyed by
/// instrument and window start).
fn coarser(
    a: &ReplayArgs,
    late: Option<LatePolicy>,
    problems: &mut PlanError,
) -> Option<Vec<(String, ResampleConfig)>> {
    if a.bars.len() < 2 {
        return Some(Vec::new());
    }
    let limits = [
        (a.tick_bars.is_some() || a.volume_bars.is_some(), "--tick-bars and --volume-bars take no bar widths"),
        (a.empty_bars == EmptyArg::Flat, "--empty-bars flat is for one width only, for now"),
        (a.late_out.is_some(), "--late-out is for one width only, for now"),
    ];
    let mut ok = true;
    for (_, why) in limits.iter().filter(|(bad, _)| *bad) {
        problems.push(format!("--bars {}: {why}", widths_text(a)));
        ok = false;
    }
    let late = late?;
    let last = a.bars.len() - 1;
    let mut out = Vec::new();
    for i in 1..a.bars.len() {
        let (from, to) = (&a.bars[i - 1], &a.bars[i]);
        if to.width <= from.width {
            let why = "each width must be coarser than the one before it (finest first)";
            problems.push(format!("--bars {}: {} after {}: {why}", widths_text(a), to.text, from.text));
            ok = false;
            continue;
        }
        let cfg = ResampleConfig::builder(from.width, to.width).offset(a.bar_offset).late(late).chain(i < last).build();
        match cfg {
            Ok(c) => out.push((to.text.clone(), c)),
            Err(e) => {
                ok = false;
                for v in e.violations {
                    problems.push(format!("--bars {}: {} after {}: {v}", widths_text(a), to.text, from.text));
                }
            }
        }
    }
    ok.then_some(out)
}

/// What quote input cannot be combined with (yet): the trade-only options when the input holds
/// no trades, and the store.
fn quote_limits(a: &ReplayArgs, kinds: Kinds, to_store: bool, problems: &mut PlanError) {
    if !kinds.trades {
        let trade_only = [
            (a.tick_bars.is_some(), "--tick-bars"),
            (a.volume_bars.is_some(), "--volume-bars"),
            (a.empty_bars == EmptyArg::Flat, "--empty-bars flat"),
        ];
        for (_, flag) in trade_only.iter().filter(|(set, _)| *set) {
            problems.push(format!("{flag}: applies to trades, and the input holds quotes (quote bars are time bars)"));
        }
    }
    if to_store {
        problems.push("--sink-postgres: the store takes trade bars; quote bars go to --out");
    }
}

/// Tick or volume bars when asked for, else time bars.
fn bar_kind(a: &ReplayArgs, late: Option<LatePolicy>, problems: &mut PlanError) -> Option<BarKind> {
    if let Some(n) = a.tick_bars {
        return BarSize::ticks(n).map(BarKind::Count).map_err(|e| problems.config(e, &[], "--tick-bars")).ok();
    }
    if let Some(v) = a.volume_bars {
        return BarSize::volume(v).map(BarKind::Count).map_err(|e| problems.config(e, &[], "--volume-bars")).ok();
    }
    let empty = if a.empty_bars == EmptyArg::Flat { EmptyBars::Flat } else { EmptyBars::Skip };
    let time = TimeBarsConfig::builder(a.bars[0].width).late(late.unwrap_or_default()).empty_bars(empty);
    let time = time.offset(a.bar_offset).chain(a.bars.len() > 1);
    let flags = [("window width", "--bars"), ("window offset", "--bar-offset")];
    time.build().map(BarKind::Time).map_err(|e| problems.config(e, &flags, "--empty-bars flat")).ok()
}

/// The rate limit `--throttle` asks for.
fn throttle(t: ThrottleArg, problems: &mut PlanError) -> Option<ThrottleConfig> {
    let policy = if t.conflate { ThrottlePolicy::Conflate } else { ThrottlePolicy::Drop };
    let cfg = match t.limit {
        0 => ThrottleConfig::latest(t.interval),
        n => ThrottleConfig::builder(n, t.interval).policy(policy).build(),
    };
    cfg.map_err(|e| problems.config(e, &[], "--throttle")).ok()
}

/// The late policy the flags ask for (`side`: beyond-horizon trades of `revise` go to the
/// late file too).
fn late_policy(a: &ReplayArgs, side: bool, problems: &mut PlanError) -> Option<LatePolicy> {
    match (a.late, a.allowed_lateness) {
        (LateArg::Side, _) if a.late_out.is_none() => problems.push("--late side needs --late-out FILE"),
        (LateArg::Drop, _) if a.late_out.is_some() => problems.push(
            "--late-out: late trades are written only under --late side (or past --late revise's horizon); \
             --late drop (the default) drops them: add --late side",
        ),
        (LateArg::Revise, None) => problems.push("--late revise needs --allowed-lateness DUR"),
        (LateArg::Drop | LateArg::Side, Some(_)) => problems.push("--allowed-lateness applies only to --late revise"),
        (LateArg::Drop, None) => return Some(LatePolicy::Drop),
        (LateArg::Side, None) => return Some(LatePolicy::Side),
        (LateArg::Revise, Some(lateness)) => {
            let beyond = if side { Beyond::Side } else { Beyond::Drop };
            let policy = LatePolicy::revise(lateness, beyond);
            return policy.map_err(|e| problems.config(e, &[], "--allowed-lateness")).ok();
        }
    }
    None
}
