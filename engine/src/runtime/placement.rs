//! Where shard threads run: the [`Placement`] policy and the core each shard gets from it.

use core_affinity::CoreId;

/// Where shard threads run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// Pin shard `i` to the `i`-th core available to the thread that calls
    /// [`crate::Engine::start`] when there are at least as many such cores as shards;
    /// otherwise run unpinned and log one line saying why. Never an error. (If the calling
    /// thread is itself pinned, that is one core: start the engine before pinning it, or use
    /// [`Placement::Cores`].)
    #[default]
    PinIfPossible,
    /// Never pin.
    Unpinned,
    /// Pin shard `i` to core id `cores[i % cores.len()]`; if the OS refuses, run unpinned and
    /// log one line.
    Cores(Vec<usize>),
}

impl Placement {
    /// The core for each of `shards` shards, or `None` (unpinned), logging once why pinning
    /// is skipped.
    pub(crate) fn cores(&self, shards: usize) -> Vec<Option<CoreId>> {
        match self {
            Placement::Unpinned => vec![None; shards],
            Placement::PinIfPossible => {
                let ids = core_affinity::get_core_ids().unwrap_or_default();
                if ids.len() >= shards {
                    ids.into_iter().take(shards).map(Some).collect()
                } else {
                    log::info!("{shards} shards on {} cores: oversubscribed, running unpinned", ids.len());
                    vec![None; shards]
                }
            }
            Placement::Cores(list) if !list.is_empty() => {
                (0..shards).map(|i| Some(CoreId { id: list[i % list.len()] })).collect()
            }
            Placement::Cores(_) => {
                log::info!("empty core list: running unpinned");
                vec![None; shards]
            }
        }
    }
}

/// Pins the calling shard thread to `core`, if any, and makes it a batch thread when `batch`
/// ([`super::sched`]); a refusal is logged, never an error.
pub(crate) fn place_shard(shard: usize, core: Option<CoreId>, batch: bool) {
    if batch {
        super::sched::run_as_batch_thread();
    }
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            log::info!("shard {shard}: pinning to core {} refused by the OS; running unpinned", core.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_cores_wrap_and_unpinned_pins_nothing() {
        let cores = Placement::Cores(vec![3, 5]).cores(3);
        assert_eq!(cores.iter().map(|c| c.map(|c| c.id)).collect::<Vec<_>>(), [Some(3), Some(5), Some(3)]);
        assert_eq!(Placement::Unpinned.cores(2), vec![None, None]);
        assert_eq!(Placement::Cores(vec![]).cores(1), vec![None]);
    }
}
