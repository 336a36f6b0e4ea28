//! The engine configuration of a replay and where its threads run.

use super::PlanError;
use crate::cli::{PinArg, ReplayArgs};
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
        check_shards(shards, cores, a.oversubscribe, problems);
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
        // Pinned threads cannot move off a core another process keeps busy (measured with a
        // CPU hog on the reader's core, 5M trades: pinned 4.04 s, unpinned 2.67 s; on an idle
        // machine pinned is faster, 1.98 s vs 2.33 s), so `auto` pins only to idle cores.
        let ids = core_affinity::get_core_ids().unwrap_or_default();
        let pin = match a.pin {
            PinArg::Always => true,
            PinArg::Never => false,
            PinArg::Auto => ids.len() >= 2 && idle_cores(&ids),
        };
        let split = ids.len() >= 2 && pin;
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

/// Whether every core in `ids` was idle (under a quarter busy) over a short sample of
/// `/proc/stat`; `false` when that cannot be read (then nothing is pinned).
fn idle_cores(ids: &[CoreId]) -> bool {
    let Some(before) = cpu_times() else { return false };
    std::thread::sleep(Duration::from_millis(30));
    let Some(after) = cpu_times() else { return false };
    ids.iter().all(|c| {
        let (Some(&(b_busy, b_all)), Some(&(a_busy, a_all))) = (before.get(c.id), after.get(c.id)) else {
            return false;
        };
        let all = a_all.saturating_sub(b_all).max(1);
        let busy = a_busy.saturating_sub(b_busy);
        busy * 4 < all
    })
}

/// Per core: (busy, total) jiffies from `/proc/stat` (idle and iowait are not busy).
fn cpu_times() -> Option<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let mut cores = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)) {
        let mut parts = line.split_whitespace();
        let id: usize = parts.next()?.strip_prefix("cpu")?.parse().ok()?;
        let v: Vec<u64> = parts.filter_map(|x| x.parse().ok()).collect();
        let all: u64 = v.iter().sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        if cores.len() <= id {
            cores.resize(id + 1, (0, 0));
        }
        cores[id] = (all - idle, all);
    }
    Some(cores)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hog row of issue 17: a core kept busy by another thread is not idle, so `auto`
    /// does not pin onto it.
    #[test]
    fn a_busy_core_is_not_idle() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let Some(core) = core_affinity::get_core_ids().unwrap_or_default().first().copied() else { return };
        if cpu_times().is_none() {
            return; // not Linux
        }
        let (started, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (s2, t2) = (started.clone(), stop.clone());
        let hog = std::thread::spawn(move || {
            core_affinity::set_for_current(core);
            s2.store(true, Ordering::SeqCst);
            while !t2.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        while !started.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let idle = idle_cores(&[core]);
        stop.store(true, Ordering::SeqCst);
        hog.join().expect("hog");
        assert!(!idle, "core {} was kept busy", core.id);
    }

    #[test]
    fn cpu_times_read_every_core() {
        let Some(t) = cpu_times() else { return }; // not Linux
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        assert!(cores.iter().all(|c| t.get(c.id).is_some_and(|&(busy, all)| busy <= all && all > 0)), "{t:?}");
    }
}
