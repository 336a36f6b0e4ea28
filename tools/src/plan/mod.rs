//! The plan of a run: everything it needs — inputs, the graph, the engine configuration and
//! thread placement, outputs, the store — validated once, before any input is read.
//!
//! Every front end builds the same [`Plan`]: `ticklane replay`'s flags today
//! ([`Plan::from_replay`]), a pipeline file for `ticklane run` next. Execution
//! ([`crate::run`]) never sees clap.

mod engine;
mod outputs;
mod outs;
mod pipeline;
mod store;

pub(crate) use engine::EnginePlan;
pub(crate) use outputs::{Destination, OutputPlan, Outs, TicksOut, STDOUT};
pub(crate) use outs::OutSpec;
pub(crate) use pipeline::{
    coarser_names, fanned, quote_coarser_names, Pipeline, BACKFILL, BARS, DEDUPE, FEED, LATE, OUT, QUOTES, QUOTE_BARS,
    QUOTE_DEDUPE, QUOTE_LATE, QUOTE_OUT, QUOTE_THROTTLE, THROTTLE, TICKS,
};
pub(crate) use store::StorePlan;

use crate::cli::{KindArg, OnError, ReplayArgs, RunArgs, Speed};
use crate::select::Instruments;
use std::fmt;
use std::path::PathBuf;
use ticklane::ConfigError;
use ticklane_tools::input::{self, Format, Kinds, ReadOptions};
use ticklane_tools::live::{LinkOptions, LiveUrl, NatsTarget};

/// A validated, ready-to-run replay.
pub(crate) struct Plan {
    /// Capture files, replayed as one stream merged by `ts_event` (ties: this order).
    pub(crate) inputs: Vec<PathBuf>,
    pub(crate) input_format: Format,
    /// `--venue`: the instrument prefix where the format has none.
    pub(crate) venue: Option<String>,
    /// Which records are read: trades (into bars), quotes (into quote bars), or both.
    pub(crate) kinds: Kinds,
    /// What the graph computes.
    pub(crate) pipeline: Pipeline,
    pub(crate) engine: EnginePlan,
    pub(crate) outputs: OutputPlan,
    pub(crate) store: Option<StorePlan>,
    pub(crate) speed: Speed,
    pub(crate) on_error: OnError,
    /// `--instruments`: the names kept (all when `None`).
    pub(crate) instruments: Option<Instruments>,
    /// `ticklane run`: the live stream read instead of files.
    pub(crate) live: Option<LivePlan>,
    /// `ticklane run CAPTURE… URL`: capture files read beside the live stream, as a source of
    /// their own (the two merged by event time through the watermark).
    pub(crate) backfill: Vec<PathBuf>,
}

/// A live input and how its link reconnects.
pub(crate) struct LivePlan {
    pub(crate) url: LiveUrl,
    pub(crate) link: LinkOptions,
    /// After a signal, how long the drain may take (`--drain-timeout`).
    pub(crate) drain_timeout: std::time::Duration,
}

/// Every usage problem found while planning (exit code 2).
#[derive(Debug, Default)]
pub(crate) struct PlanError {
    problems: Vec<String>,
}

impl PlanError {
    /// Records one problem.
    pub(crate) fn push(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    /// Records each violation of `e` as `FLAG: violation`, the flag found by the violated
    /// parameter in `flags` (`(param, flag)` pairs), else `fallback`.
    pub(crate) fn config(&mut self, e: ConfigError, flags: &[(&str, &str)], fallback: &str) {
        for v in e.violations {
            let flag = v.param().and_then(|p| flags.iter().find(|(q, _)| *q == p)).map_or(fallback, |(_, f)| f);
            self.push(format!("{flag}: {v}"));
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.join("\n"))
    }
}

impl Plan {
    /// The plan of `ticklane replay` with these flags, or every usage problem in them.
    pub(crate) fn from_replay(a: &ReplayArgs) -> Result<Plan, PlanError> {
        let mut problems = PlanError::default();
        for f in a.files.iter().filter(|f| !f.exists()) {
            if let Ok(Some(_)) = LiveUrl::parse(&f.to_string_lossy()) {
                problems
                    .push(format!("INPUT: {}: a live stream: ticklane run reads it (replay reads files)", f.display()));
            }
        }
        Plan::build(a, None, problems)
    }

    /// The plan of `ticklane run` with these flags: one live URL as the input, at its own pace.
    pub(crate) fn from_run(r: &RunArgs) -> Result<Plan, PlanError> {
        let mut problems = PlanError::default();
        let a = &r.replay;
        let (url, backfill) = live_url(a, &mut problems).unzip();
        let url = url.map(|u| match (u, r.partition) {
            (LiveUrl::Nats(t @ NatsTarget::JetStream { .. }), Some(p)) => LiveUrl::Nats(t.partition(p)),
            (u, Some(_)) => {
                problems.push("--partition N: only for jetstream://HOST:PORT/STREAM[/CONSUMER] (a partitioned stream)");
                u
            }
            (u, None) => u,
        });
        if a.speed != Speed::Max {
            problems.push("--speed: a live stream arrives at its own pace; --speed is for replay");
        }
        let link =
            LinkOptions { reconnect_max: r.reconnect_max, stall_timeout: r.stall_timeout, ..LinkOptions::default() };
        let live = url.map(|url| LivePlan { url, link, drain_timeout: r.drain_timeout });
        let mut plan = Plan::build(a, live.as_ref().map(|l| l.url.kinds()), problems)?;
        plan.on_error = a.on_error.unwrap_or(OnError::Skip);
        plan.live = live;
        plan.backfill = backfill.unwrap_or_default();
        if !plan.backfill.is_empty() {
            plan.backfill_limits()?;
            plan.pipeline.backfill = true;
        }
        Ok(plan)
    }

    /// What a capture beside a live feed cannot do yet.
    fn backfill_limits(&self) -> Result<(), PlanError> {
        let mut problems = PlanError::default();
        if self.kinds.quotes {
            problems.push("INPUT: a capture beside a live stream is read for trades only, for now: add --kind trades");
        }
        if self.input_format != input::Format::Auto {
            problems.push("--input-format: with a capture beside a live stream, the capture's format is detected");
        }
        match problems.problems.is_empty() {
            true => Ok(()),
            false => Err(problems),
        }
    }

    /// The plan of replay's flags, the record kinds of a live input given (`live_kinds`).
    fn build(a: &ReplayArgs, live_kinds: Option<Kinds>, mut problems: PlanError) -> Result<Plan, PlanError> {
        let store = StorePlan::from_args(&a.store, &mut problems);
        let outs = OutSpec::all(a, store.is_some(), &mut problems);
        let kinds = kinds(a, &outs, live_kinds, &mut problems);
        let pipeline = Pipeline::from_replay(a, kinds, &outs, store.is_some(), &mut problems);
        let engine = EnginePlan::from_replay(a, &mut problems);
        let ticks = TicksOut::from_args(&a.ticks, &mut problems);
        if ticks.is_some() && !kinds.trades {
            problems.push("--ticks-out forwards trades, and the input holds none (--kind trades to read them)");
        }
        let outputs = pipeline.as_ref().map(|p| OutputPlan { ticks, ..OutputPlan::from_replay(a, &outs, p) });
        if let Some(o) = &outputs {
            o.files_written_twice(&mut problems);
        }
        match (pipeline, engine, outputs) {
            (Some(pipeline), Some(engine), Some(outputs)) if problems.problems.is_empty() => Ok(Plan {
                inputs: a.files.clone(),
                input_format: a.input_format,
                venue: a.venue.clone(),
                kinds,
                outputs,
                pipeline,
                engine,
                store,
                speed: a.speed,
                on_error: a.on_error.unwrap_or(OnError::Fail),
                instruments: a.instruments.clone(),
                live: None,
                backfill: Vec::new(),
            }),
            // Each part that could not be planned recorded why.
            _ => Err(problems),
        }
    }
}

/// The one live URL `ticklane run` reads and the capture files read beside it, or why its
/// inputs are not that.
fn live_url(a: &ReplayArgs, problems: &mut PlanError) -> Option<(LiveUrl, Vec<PathBuf>)> {
    const EXPECTED: &str = "ws://…, wss://…, nats://HOST:PORT/SUBJECT or jetstream://HOST:PORT/STREAM[/CONSUMER]";
    let (mut urls, mut files) = (Vec::new(), Vec::new());
    for f in &a.files {
        match LiveUrl::parse(&f.to_string_lossy()) {
            Ok(Some(url)) => urls.push(url),
            Ok(None) => files.push(f.clone()),
            Err(e) => {
                problems.push(format!("INPUT: {e}"));
                return None;
            }
        }
    }
    match (urls.pop(), urls.is_empty()) {
        (Some(url), true) => Some((url, files)),
        (None, _) => {
            let one = a.files.first().map(|f| f.display().to_string()).unwrap_or_default();
            problems.push(format!(
                "INPUT: {one}: ticklane run reads a live stream: expected {EXPECTED} (files alone: ticklane replay)"
            ));
            None
        }
        (Some(_), false) => {
            problems.push("INPUT: ticklane run reads exactly one live URL (ws://, wss://, nats://, jetstream://)");
            None
        }
    }
}

/// The record kinds to read: `--kind`, or (auto) what the inputs hold. Reading both needs
/// `{kind}` in `--out` and files (each is read once per kind).
fn kinds(a: &ReplayArgs, outs: &[OutSpec], live: Option<Kinds>, problems: &mut PlanError) -> Kinds {
    let kinds = match a.kind {
        KindArg::Trades => Kinds { trades: true, quotes: false },
        KindArg::Quotes => Kinds { trades: false, quotes: true },
        KindArg::Auto if live.is_some() => live.unwrap_or(Kinds { trades: true, quotes: false }),
        KindArg::Auto => {
            let opt = ReadOptions::new(a.input_format);
            // An input that cannot be opened is reported when it is opened for reading.
            let each = a.files.iter().map(|f| input::kinds(f, &opt).unwrap_or(Kinds { trades: true, quotes: false }));
            each.fold(Kinds { trades: false, quotes: false }, |k, f| Kinds {
                trades: k.trades || f.trades,
                quotes: k.quotes || f.quotes,
            })
        }
    };
    if kinds.trades && kinds.quotes {
        if outs.iter().any(|o| !o.text.contains("{kind}")) {
            problems.push(
                "--out: the input holds trades and quotes, which make two outputs: give --out a {kind} placeholder \
                 (--out 'bars_{kind}.csv' writes bars_trades.csv and bars_quotes.csv), or choose one with --kind \
                 trades|quotes",
            );
        }
        if a.late_out.as_ref().is_some_and(|o| !o.to_string_lossy().contains("{kind}")) {
            problems.push(
                "--late-out: the input holds trades and quotes, which are late apart: give --late-out a {kind} \
                 placeholder (--late-out 'late_{kind}.csv' writes late_trades.csv and late_quotes.csv)",
            );
        }
        if live.is_none() && a.files.iter().any(|f| f.as_os_str() == "-") {
            problems.push("--kind: standard input cannot be read once per kind: choose --kind trades or --kind quotes");
        }
    }
    kinds
}
