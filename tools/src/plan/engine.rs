//! The engine configuration of a replay and where its threads run.

use super::PlanError;
use crate::cli::ReplayArgs;
use core_affinity::CoreId;
use std::time::Duration;
use ticklane::{Config, Placement, WaitStrategy};

/// The engine's configuration, and the cores the reader and the bar writer are pinned to.
pub(crate) struct EnginePlan {
    pub(crate) config: Config,
    /// The reader's own core (when there are at least two).
    pub(crate) reader_core: Option<CoreId>,
    /// The bar writer's core (the last one, shared with a shard).
    pub(crate) writer_core: Option<CoreId>,
}

impl EnginePlan {
    /// From `replay`'s flags (`--shards`, `--max-delay`, `--metrics-addr`) and the cores this
    /// process may use (read before anything is pinned).
    pub(crate) fn from_replay(a: &ReplayArgs, problems: &mut PlanError) -> Option<EnginePlan> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards = a.shards.unwrap_or(cores);
        // Replay is a throughput job: batches of 1,024 (the engine default is 256, for latency)
        // amortize the per-batch hand-off and the wake-ups it costs when threads outnumber cores.
        // Measured on 10M trades: 1 shard 2.9 s -> 2.4 s, 2 shards 3.1 s -> 2.85 s. Output does
        // not depend on batch size.
        let mut b = Config::builder().shards(shards).max_delay(a.max_delay).batch_size(1024);
        if let Some(addr) = a.metrics_addr {
            b = b.prometheus(addr);
        }
        // The reader is the thread the whole run waits for (parsing or decoding every record,
        // stamping and routing it): give it a core of its own and place the shards and the bar
        // writer on the others (several per core when they outnumber them). Measured on 10M
        // trades at 2 shards on 2 cores: CSV 2.8 s -> 2.1 s, DBN 1.04 s -> 0.91 s.
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        let split = ids.len() >= 2;
        if split {
            b = b.placement(Placement::Cores(ids[1..].iter().map(|c| c.id).collect()));
        }
        // The reader thread needs a core too: when shards + reader outnumber the cores, an idle
        // shard that spins steals time from the thread that feeds it, so park almost at once.
        if shards + 1 > cores {
            b = b.wait(WaitStrategy::Park { spins: 16, timeout: Duration::from_millis(10) });
        }
        let config = b
            .build()
            .map_err(|e| problems.config(e, &[("shards", "--shards"), ("max_delay", "--max-delay")], "engine"))
            .ok()?;
        let (reader_core, writer_core) = if split { (ids.first().copied(), ids.last().copied()) } else { (None, None) };
        Some(EnginePlan { config, reader_core, writer_core })
    }

    /// Pins the calling thread (the reader) to its core, if it has one.
    pub(crate) fn pin_reader(&self) {
        if let Some(core) = self.reader_core {
            if !core_affinity::set_for_current(core) {
                log::info!("could not pin the reader to core {}: running unpinned", core.id);
            }
        }
    }
}
