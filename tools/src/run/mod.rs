//! Executes a [`Plan`]: opens the inputs and outputs, connects the store, starts the engine
//! and the writer threads, feeds every record, then drains and reports. Each step is a
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
use ticklane_tools::input::{self, Merge, Source};
use writers::{Files, Writers};

/// Runs `plan` to the end (input exhausted, a malformed record under `fail`, or a signal).
pub(crate) fn execute(plan: &Plan) -> anyhow::Result<Outcome> {
    let (sources, total_bytes) = open_inputs(plan)?;
    // Settings checked and every writer connected (table created) before any input is read,
    // so a wrong URL or an unreachable database fails fast.
    let store = plan.store.as_ref().map(store::connect).transpose()?;
    let files = Files::create(&plan.outputs)?;
    let started = Instant::now();
    let graph = plan.pipeline.graph(store.as_ref().map(StoreCoordinator::handle).as_ref());
    let mut engine = Engine::start(graph.build()?, plan.engine.config.clone())?;
    plan.engine.pin_reader();
    let ingress = engine.ingress::<Trade>(FEED)?;
    let writers = Writers::spawn(&mut engine, files, plan.engine.writer_core)?;
    let progress = Progress::new(total_bytes);
    let deadline = store.as_ref().zip(plan.store.as_ref()).map(|(s, p)| (s.handle(), p.flush_timeout));
    let signals = Signals::install(deadline)?;

    let fed = Feeder::new(Merge::new(sources), plan).run(ingress, &progress, &signals)?;
    // Input ended: the final flush to the store may take at most --pg-flush-timeout.
    if let (Some(st), Some(sp)) = (&store, &plan.store) {
        st.handle().set_deadline(Instant::now() + sp.flush_timeout);
    }
    let engine = engine.join()?;
    let store = store.map(StoreCoordinator::finish);
    let (bars, late_written) = writers.join()?;
    progress.finish();
    let report = Report {
        files: plan.inputs.clone(),
        shards: plan.engine.config.shards(),
        speed: plan.speed,
        bars: bars.unwrap_or_else(|| store.as_ref().map_or(0, |r| r.accepted)),
        late_written,
        elapsed: started.elapsed(),
        signal: signals.received(),
        fed,
        engine,
        store,
    };
    report.print();
    if let Some(path) = &plan.outputs.summary {
        report.write_summary(path)?;
    }
    report.outcome()
}

/// Opens every input (a missing file or an unknown format is bad input) and sums their sizes
/// (for progress).
fn open_inputs(plan: &Plan) -> anyhow::Result<(Vec<Box<dyn Source>>, u64)> {
    let mut sources = Vec::with_capacity(plan.inputs.len());
    let mut total_bytes = 0;
    for f in &plan.inputs {
        sources.push(input::open(f, plan.input_format).map_err(|e| BadInput(e.to_string()))?);
        total_bytes += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    }
    Ok((sources, total_bytes))
}
