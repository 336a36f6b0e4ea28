//! The engine configuration of a replay and where its threads run.

use super::PlanError;
use crate::cli::{PinArg, ReplayArgs};
use core_affinity::CoreId;
use std::time::Duration;
use ticklane::{Config, Placement, WaitStrategy};

/// The engine's configuration, and the cores the reader and the bar writer are pinned to.
#[derive(Clone)]
pub(crate) struct EnginePlan {
    pub(crate) config: Config,
    /// The reader's own core (when there are at least two).
    pub(crate) reader_core: Option<CoreId>,
    /// The bar writer's core (the last one, shared with a shard).
    pub(crate) writer_core: Option<CoreId>,
    /// Threads parsing CSV besides the reader.
    pub(crate) parse_threads: usize,
    /// Pinning was `auto`: it may be undone for light readers ([`EnginePlan::for_inputs`]).
    pin_auto: bool,
    /// The cores this process may use.
    cores: usize,
}

/// The wait of shards that share the cores with the threads feeding them: a few spins, then
/// park (woken at once by a message).
const POLITE: WaitStrategy = WaitStrategy::Park { spins: 16, timeout: Duration::from_millis(10) };

impl EnginePlan {
    /// From `replay`'s flags (`--shards`, `--max-delay`, `--metrics-addr`) and the cores this
    /// process may use (read before anything is pinned).
    pub(crate) fn from_replay(a: &ReplayArgs, problems: &mut PlanError) -> Option<EnginePlan> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // One shard per core but the reader's (the shards and the writer are placed on the others,
        // below): measured on 10M trades on 2 cores, 2026-12-02, medians of 5 against
        // shared/baseline, 1 shard 1.49x and 2 shards 1.30x (venue names: 1.59x and 1.33x).
        let shards = a.shards.unwrap_or(cores.saturating_sub(1).max(1));
        check_shards(shards, cores, a.oversubscribe, problems);
        // Replay is a throughput job: batches of 1,024 (the engine default is 256, for latency)
        // amortize the per-batch hand-off and the wake-ups it costs when threads outnumber cores.
        // Measured on 10M trades: 1 shard 2.9 s -> 2.4 s, 2 shards 3.1 s -> 2.85 s. Output does
        // not depend on batch size.
        // Rings of 64 messages: replay sends full batches, and 64 of them per shard bound
        // the memory in flight (64 × 1,024 records × 64 bytes = 4 MiB per shard).
        let batch = a.batch_size.map_or(1024, |n| n as usize);
        let ring = a.ring_capacity.map_or(64, |n| n as usize);
        let mut b = Config::builder().shards(shards).max_delay(a.max_delay).batch_size(batch).ring_capacity(ring);
        if let Some(t) = a.idle_timeout {
            b = b.idle_timeout(t);
        }
        if let Some(n) = a.egress_records {
            b = b.egress_records(usize::try_from(n).unwrap_or(usize::MAX));
        }
        if let Some(addr) = a.metrics_addr {
            b = b.prometheus(addr);
        }
        // The reader is the thread the whole run waits for (parsing or decoding every record,
        // stamping and routing it): give it a core of its own and place the shards and the bar
        // writer on the others (several per core when they outnumber them). Measured on 10M
        // trades at 2 shards on 2 cores: CSV 2.8 s -> 2.1 s, DBN 1.04 s -> 0.91 s.
        // Pinned threads cannot move off a core another process keeps busy. Measured, 5M
        // trades, 2 shards, 2 cores (medians of 3): a CPU hog on the reader's core, pinned
        // 2.94 s, unpinned 2.45 s, auto 2.03 s; on an idle machine pinned 1.85 s, unpinned
        // 1.98 s, auto 1.78 s. So `auto` pins only on an idle machine.
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        let pin = match a.pin {
            PinArg::Always => true,
            PinArg::Never => false,
            PinArg::Auto => ids.len() >= 2 && machine_idle(),
        };
        let split = ids.len() >= 2 && pin;
        b = b.placement(if split {
            Placement::Cores(ids[1..].iter().map(|c| c.id).collect())
        } else {
            Placement::Unpinned
        });
        // The reader thread needs a core too: when shards + reader outnumber the cores, an idle
        // shard that spins steals time from the thread that feeds it, so park almost at once
        // (more feeding threads: [`EnginePlan::for_inputs`]).
        if shards + 1 > cores {
            b = b.wait(POLITE);
        }
        let config = b.build().map_err(|e| problems.config(e, &ENGINE_FLAGS, "engine")).ok()?;
        let (reader_core, writer_core) = if split { (ids.first().copied(), ids.last().copied()) } else { (None, None) };
        let parse_threads = std::env::var("TICKLANE_PARSE_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cores > 1 { cores } else { 0 });
        Some(EnginePlan { config, reader_core, writer_core, parse_threads, pin_auto: a.pin == PinArg::Auto, cores })
    }

    /// The plan for the run's inputs: read with `parse_threads` parse threads in all, and fed
    /// by `feeders` threads outside the engine that need a core while records flow (each
    /// reader, and a live feed's link thread, `live`).
    pub(crate) fn for_inputs(&self, parse_threads: usize, feeders: usize, live: bool) -> EnginePlan {
        self.pinned_for(parse_threads).polite_for(feeders).batch_for(feeders, live)
    }

    /// Whether the shards and the `feeders` outnumber the cores.
    fn crowded(&self, feeders: usize) -> bool {
        self.config.shards() + feeders > self.cores
    }

    /// Without parse threads (DBN, a live feed) the reader is a light thread: a core of its own
    /// would sit half idle while the shards and the bar writer take turns on the other, so
    /// `auto` pins nothing. Measured on the 10M-trade DBN file on 2 cores, 5 interleaved runs,
    /// medians: 1 shard pinned 1.02 s, unpinned 0.82 s; 2 shards 1.32 s and 0.93 s (the same
    /// CSV runs: 2.08 s and 2.03 s at 2 shards, no loss either way).
    fn pinned_for(&self, parse_threads: usize) -> EnginePlan {
        if parse_threads > 0 || !self.pin_auto || self.reader_core.is_none() {
            return self.clone();
        }
        match self.config.to_builder().placement(Placement::Unpinned).build() {
            Ok(config) => EnginePlan { config, reader_core: None, writer_core: None, ..self.clone() },
            Err(_) => self.clone(),
        }
    }

    /// When the shards and the `feeders` outnumber the cores, the shards park almost at once
    /// when idle, as with one reader in [`EnginePlan::from_replay`]. A live feed's records come
    /// in bursts, so a shard goes idle after each: with 2,048 spins first, perf over
    /// `ticklane run jetstream://…` on 2 cores (1 shard, the reader, the link thread and
    /// nats-server) gave the shard 27% of the process's samples, three quarters of them
    /// spinning or switching, on the cores the link thread and the server need.
    fn polite_for(mut self, feeders: usize) -> EnginePlan {
        if !self.crowded(feeders) || self.config.wait() == POLITE {
            return self;
        }
        if let Ok(config) = self.config.to_builder().wait(POLITE).build() {
            self.config = config;
        }
        self
    }

    /// A live feed's run whose threads outnumber the cores runs the shards, the reader and the
    /// bar writer as batch threads ([`ticklane::run_as_batch_thread`]): a hand-over from the
    /// reader to a shard then no longer preempts the reader, nor one from a shard to the
    /// writer the shard (the link thread, which answers the network, keeps the default class).
    /// Measured over `ticklane run --dedupe jetstream://…` on 2 cores beside `nats-server`,
    /// 1M JSON ticks, 12 alternating runs, medians: the process's CPU 1.125 s -> 1.055 s, the
    /// reader's 0.125 s -> 0.095 s, the shard's 0.13 s -> 0.115 s (bench/README.md). Replays
    /// are left as they are: they were not measured with it.
    fn batch_for(mut self, feeders: usize, live: bool) -> EnginePlan {
        if !live || !self.crowded(feeders) {
            return self;
        }
        if let Ok(config) = self.config.to_builder().batch_threads(true).build() {
            self.config = config;
        }
        self
    }

    /// Places the calling thread (the reader): pinned to its core, if it has one; a batch
    /// thread when the shards are ([`EnginePlan::batch_for`]), and so are the threads it
    /// starts from then on (the bar writers).
    pub(crate) fn place_reader(&self) {
        if self.config.batch_threads() {
            ticklane::run_as_batch_thread();
        }
        if let Some(core) = self.reader_core {
            if !core_affinity::set_for_current(core) {
                log::info!("could not pin the reader to core {}: running unpinned", core.id);
            }
        }
    }
}

/// The engine parameters' flags, for naming them in an error.
const ENGINE_FLAGS: [(&str, &str); 6] = [
    ("shards", "--shards"),
    ("max_delay", "--max-delay"),
    ("batch_size", "--batch-size"),
    ("ring_capacity", "--ring-capacity"),
    ("egress_records", "--egress-records"),
    ("idle_timeout", "--idle-timeout"),
];

/// Most shards per core without `--oversubscribe`: past it, shards mostly wait for each other
/// (measured on 2 cores, 120 trades: 1,000 shards took 18.6 s, 4,096 took 90 s; 8 shards ran
/// 1.2–1.9× slower than 2 on a 10M-trade file).
const SHARDS_PER_CORE: usize = 4;

/// Refuses far more shards than cores (unless `oversubscribe`); warns when they outnumber them.
fn check_shards(shards: usize, cores: usize, oversubscribe: bool, problems: &mut PlanError) {
    if shards > SHARDS_PER_CORE * cores && !oversubscribe {
        problems.push(format!(
            "--shards {shards}: more than {SHARDS_PER_CORE} per core on this machine's {cores} core(s) is refused: \
             shards beyond the cores share them and only add wake-ups and cache misses \
             (--oversubscribe runs it anyway)"
        ));
    } else if shards > cores {
        log::warn!(
            "{shards} shards on {cores} core(s): shards share cores, which usually makes the run slower than \
             --shards {cores}"
        );
    }
}

/// Whether nothing but this process wants a CPU: `procs_running` of `/proc/stat` (runnable
/// tasks, this thread included), the least of three reads 1 ms apart, is 1. A CPU hog is always
/// runnable; a blip is not. `false` when it cannot be read (then nothing is pinned).
fn machine_idle() -> bool {
    let mut least = u64::MAX;
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let Some(n) = procs_running() else { return false };
        least = least.min(n);
    }
    least <= 1
}

/// Runnable tasks right now, from `/proc/stat`.
fn procs_running() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines().find_map(|l| l.strip_prefix("procs_running "))?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned(pin_auto: bool) -> EnginePlan {
        let config = Config::builder().shards(2).placement(Placement::Cores(vec![1])).build().expect("config");
        let (reader_core, writer_core) = (Some(CoreId { id: 0 }), Some(CoreId { id: 1 }));
        EnginePlan { config, reader_core, writer_core, parse_threads: 2, pin_auto, cores: 2 }
    }

    /// `config` on 2 cores, nothing pinned, no parse threads.
    fn unpinned(config: Config) -> EnginePlan {
        EnginePlan { config, reader_core: None, writer_core: None, parse_threads: 0, pin_auto: true, cores: 2 }
    }

    /// `auto` pins only a reader with parse threads; `always` pins whatever the input.
    #[test]
    fn auto_pinning_is_undone_for_a_light_reader() {
        let light = pinned(true).for_inputs(0, 1, false);
        assert_eq!(*light.config.placement(), Placement::Unpinned);
        assert!(light.reader_core.is_none() && light.writer_core.is_none());
        assert_eq!(light.config.shards(), 2, "everything else is kept");
        let parsing = pinned(true).for_inputs(2, 1, false);
        assert_eq!(*parsing.config.placement(), Placement::Cores(vec![1]));
        assert_eq!(parsing.reader_core.map(|c| c.id), Some(0));
        let always = pinned(false).for_inputs(0, 1, false);
        assert_eq!(*always.config.placement(), Placement::Cores(vec![1]));
        assert_eq!(always.writer_core.map(|c| c.id), Some(1));
    }

    /// One shard and one reader fit two cores and keep the default wait; a live link's thread
    /// beside them does not, and the shard parks almost at once. Nothing else changes.
    #[test]
    fn a_link_thread_beside_the_reader_makes_the_shards_polite() {
        let plan = unpinned(Config::builder().shards(1).batch_size(1024).build().expect("config"));
        assert_eq!(plan.for_inputs(0, 1, false).config.wait(), WaitStrategy::default(), "a file reader alone");
        let live = plan.for_inputs(0, 2, true);
        assert_eq!(live.config.wait(), POLITE, "a reader and a link thread");
        assert_eq!((live.config.shards(), live.config.batch_size()), (1, 1024));
        let roomy = EnginePlan { cores: 4, ..plan };
        assert_eq!(roomy.for_inputs(0, 2, true).config.wait(), WaitStrategy::default(), "cores to spare");
    }

    /// A live feed's crowded run makes the engine's threads batch threads; a crowded replay, or
    /// a live feed with cores to spare, does not.
    #[test]
    fn only_a_crowded_live_run_has_batch_threads() {
        let plan = unpinned(Config::builder().shards(1).build().expect("config"));
        assert!(plan.for_inputs(0, 2, true).config.batch_threads(), "a reader and a link thread");
        assert!(!plan.for_inputs(0, 3, false).config.batch_threads(), "a replay of three files");
        assert!(!EnginePlan { cores: 4, ..plan }.for_inputs(0, 2, true).config.batch_threads(), "cores to spare");
    }

    /// The hog row of issue 17: while another thread keeps a core busy, the machine is not
    /// idle, so `auto` does not pin.
    #[test]
    fn a_busy_core_makes_the_machine_not_idle() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        if procs_running().is_none() {
            return; // not Linux
        }
        let (started, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (s2, t2) = (started.clone(), stop.clone());
        let hog = std::thread::spawn(move || {
            s2.store(true, Ordering::SeqCst);
            while !t2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let idle = machine_idle();
        stop.store(true, Ordering::SeqCst);
        hog.join().expect("hog");
        assert!(!idle, "a spinning thread was runnable throughout");
    }
}
