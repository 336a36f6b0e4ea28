//! The store sink: the shard-side end of the write coordinator, and its builder method.

use super::queue::Shared;
use super::StoreHandle;
use std::sync::Arc;
use ticklane_engine::{Bar, DagBuilder, ShardSink, Stamped, Timestamp};

/// A shard sink handing bars to the coordinator's queue (one lock per batch of bars), and its
/// shard's progress (one lock per advance), from which the coordinator knows how far the
/// table is complete ([`StoreHandle::durable_progress`]).
pub struct StoreSink {
    shared: Arc<Shared>,
    /// This sink's index among those reporting progress.
    index: usize,
}

impl StoreSink {
    pub(crate) fn new(shared: Arc<Shared>) -> StoreSink {
        let index = shared.register_sink();
        StoreSink { shared, index }
    }
}

impl ShardSink<Bar> for StoreSink {
    fn on_batch(&mut self, batch: &[Stamped<Bar>]) {
        self.shared.push(batch.iter().map(|s| &s.rec));
    }

    fn on_progress(&mut self, progress: Timestamp) {
        self.shared.mark(self.index, progress);
    }
}

/// Adds a store sink to a graph.
pub trait StoreSinkExt {
    /// A store sink named `name`: bars in, handed to the write coordinator behind `store`
    /// (see the [`store`](super) module for a complete example).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ticklane_engine::{DagBuilder, Kind};
    /// use ticklane_operators::store::{MemoryStore, StoreConfig, StoreCoordinator, StoreSinkExt};
    /// use ticklane_operators::{TimeBarsConfig, TimeBarsExt};
    ///
    /// let store = StoreCoordinator::start(StoreConfig::default(), vec![MemoryStore::default()])?;
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .time_bars("bars", TimeBarsConfig::builder(Duration::from_secs(60)).build()?)
    ///     .store_sink("db", &store.handle())
    ///     .connect("feed", "bars")
    ///     .connect("bars", "db");
    /// assert!(g.build().is_ok());
    /// assert_eq!(store.finish().accepted, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn store_sink(&mut self, name: &str, store: &StoreHandle) -> &mut Self;
}

impl StoreSinkExt for DagBuilder {
    fn store_sink(&mut self, name: &str, store: &StoreHandle) -> &mut Self {
        let store = store.clone();
        self.sink_shard::<Bar, _, _>(name, move |ctx| store.sink(&ctx))
    }
}
