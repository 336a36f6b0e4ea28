//! Executes a [`Plan`]: opens the inputs and every output, connects the store, starts the
//! engine and the writer threads, feeds every record, then drains and reports. Each step is a
//! function of its own file; this one reads as the list of steps.

mod feed;
mod progress;
mod signals;
mod store;
mod writers;

pub(crate) use feed::Fed;

use crate::outcome::{BadInput, Outcome};
use crate::plan::{Plan, FEED};
use crate::report::Report;
use feed::Feeder;
use progress::Progress;
use signals::Signals;
use std::time::Instant;
use ticklane::operators::store::StoreCoordinator;
use ticklane::{Engine, Trade};
use ticklane_tools::input::{self, Merge, ReadOptions, Source};
use writers::{Files, Writers};

/// Runs `plan` to the end (input exhausted, a malformed record under `fail`, or a signal).
pub(crate) fn execute(plan: &Plan) -> anyhow::Result<Outcome> {
    let signals = Signals::install()?;
    let (sources, total_bytes) = open_inputs(plan, &signals)?;
    // Settings checked and every writer connected (table created) before any input is read,
    // so a wrong URL or an unreachable database fails fast.
    let store = plan.store.as_ref().map(store::connect).transpose()?;
    if let (Some(st), Some(sp)) = (&store, &plan.store) {
        signals.bound_store_flush(st.handle(), sp.flush_timeout);
    }
    let mut files = Files::create(&plan.outputs, &plan.inputs)?;
    let started = Instant::now();
    let graph = plan.pipeline.graph(store.as_ref().map(StoreCoordinator::handle).as_ref());
    let mut engine = Engine::start(graph.build()?, plan.engine.config.clone())?;
    plan.engine.pin_reader();
    let ingress = engine.ingress::<Trade>(FEED)?;
    let writers = Writers::spawn(&mut engine, &mut files, plan.engine.writer_core, plan.outputs.eager, &signals.tally)?;
    let mut progress = Progress::new(total_bytes);

    let fed = Feeder::new(Merge::new(sources), plan).run(ingress, &mut progress, &signals)?;
    // Input ended: the final flush to the store may take at most --pg-flush-timeout.
    if let (Some(st), Some(sp)) = (&store, &plan.store) {
        st.handle().set_deadline(Instant::now() + sp.flush_timeout);
    }
    let engine = engine.join()?;
    let store = store.map(StoreCoordinator::finish);
    let (bars, late) = writers.join();
    progress.finish();
    let report = Report {
        files: plan.inputs.clone(),
        shards: plan.engine.config.shards(),
        speed: plan.speed,
        bars,
        late,
        elapsed: started.elapsed(),
        signal: signals.received(),
        fed,
        engine,
        store,
    };
    report.print();
    if let Some(file) = files.summary {
        report.write_summary(file, plan.outputs.summary.as_deref().unwrap_or(std::path::Path::new("")));
    }
    report.outcome()
}

/// Opens every input (a missing file or an unknown format is bad input) and sums their sizes
/// (for progress).
fn open_inputs(plan: &Plan, signals: &Signals) -> anyhow::Result<(Vec<Box<dyn Source>>, u64)> {
    let opt = ReadOptions {
        ts_range: plan.pipeline.ts_range(),
        stop: Some(signals.stop_flag()),
        threads: plan.engine.parse_threads,
        ..ReadOptions::new(plan.input_format)
    };
    let mut sources = Vec::with_capacity(plan.inputs.len());
    let mut total_bytes = 0;
    for f in &plan.inputs {
        sources.push(input::open(f, &opt).map_err(|e| BadInput(e.to_string()))?);
        total_bytes += std::fs::metadata(f).ok().filter(|m| m.is_file()).map_or(0, |m| m.len());
    }
    Ok((sources, total_bytes))
}
