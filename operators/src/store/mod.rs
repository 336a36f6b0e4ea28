//! The store sink: bars into a database through a write coordinator with backpressure
//! feedback.
//!
//! ```text
//!  shard 0 ─ StoreSink ─┐                         ┌─ writer thread ─ BarStore (PostgreSQL…)
//!  shard 1 ─ StoreSink ─┼─▶ bounded queue ─▶ batches ┤
//!  shard N ─ StoreSink ─┘   (pressure policy)     └─ writer thread ─ BarStore
//! ```
//!
//! - **Batching**: a writer takes `batch_rows` bars at once, or fewer once the oldest waiting
//!   bar has waited `batch_interval` (defaults 500 rows, 50 ms). Writers are plain threads,
//!   never shard threads; the database client is behind [`BarStore`].
//! - **Effectively once**: rows are *upserted* keyed by `(instrument, window_start)` and a row
//!   is replaced only by an equal or newer `revision`, so delivery may repeat (a retry, a replay
//!   after a crash) and the table still ends equal to the bars. Within one batch only the
//!   newest revision of a key is sent.
//! - **Pressure with hysteresis**: when the queue reaches `high` bars the declared
//!   [`PressurePolicy`] applies until it falls to `low`: `Block` stalls the shard sinks, so
//!   the rings fill and the sources block (the default: nothing is lost); `Conflate` replaces
//!   a waiting bar of the same key by the newer revision and queues new keys up to
//!   `capacity`, then blocks; `Shed` drops (counted). Each transition is counted, logged once
//!   and published as `ticklane_store_pressure` (0/1).
//! - **Faults**: a failed write is retried with capped exponential backoff; after
//!   `breaker_failures` consecutive failures the circuit opens and the writer waits
//!   `breaker_cool_down` before one probe (half-open); a dead database therefore turns into a
//!   full queue and backpressure, never a crash loop or unbounded memory (at most
//!   `capacity` waiting plus one batch in flight per writer).
//! - **Stop**: [`StoreHandle::set_deadline`] bounds the final flush; [`StoreCoordinator::finish`]
//!   waits for the writers and reports every bar: `accepted = written + conflated + shed +
//!   unwritten`.
//!
//! ```
//! use std::time::Duration;
//! use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Trade};
//! use ticklane_operators::store::{MemoryStore, StoreConfig, StoreCoordinator};
//! use ticklane_operators::prelude::*;
//! use ticklane_operators::TimeBarsConfig;
//!
//! let table = MemoryStore::default();
//! let store = StoreCoordinator::start(StoreConfig::default(), vec![table.clone()])?;
//! let mut g = DagBuilder::new();
//! g.source("feed", Kind::Trade)
//!     .time_bars("bars", TimeBarsConfig::builder(Duration::from_secs(1)).build()?)
//!     .store_sink("db", &store.handle())
//!     .connect("feed", "bars")
//!     .connect("bars", "db");
//! let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
//! let mut feed = engine.ingress::<Trade>("feed")?;
//! let es = feed.intern("ESH4")?;
//! for ts in [0, 1_000_000_000, 2_000_000_000] {
//!     feed.push(Trade { ts_event: ts, instrument: es, price: Fixed::ONE, size: Fixed::ONE, ..Trade::default() })?;
//! }
//! drop(feed);
//! engine.join()?;
//! let report = store.finish();
//! assert_eq!((report.accepted, report.written, table.rows().len()), (3, 3, 3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod fence;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod queue;
mod sink;
mod writer;

pub use config::{PressurePolicy, StoreBuilder, StoreConfig};
pub use fence::{Claim, Fence};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PgError, PgStore, DEFAULT_TABLE};
pub use sink::{StoreSink, StoreSinkExt};

use queue::Shared;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use ticklane_engine::{Bar, ConfigError, ShardContext};

/// A row for the store: the bar and its instrument's name.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreRow {
    /// Instrument name (the key's first half).
    pub instrument: Arc<str>,
    /// The bar; `window_start` is the key's second half.
    pub bar: Bar,
}

/// A database client behind the coordinator, one per writer thread.
///
/// Contract: [`BarStore::upsert`] writes all rows or none (one transaction or statement);
/// keyed by `(instrument, window_start)`; an existing row is replaced only by a row with an
/// equal or higher `revision`. Rows in one call have distinct keys. On error the coordinator
/// calls again with the same rows (after a backoff), so a client reconnects by itself.
pub trait BarStore: Send {
    /// The client's error (shown in logs and the report).
    type Error: std::fmt::Display;
    /// Upserts `rows` atomically.
    fn upsert(&mut self, rows: &[StoreRow]) -> Result<(), Self::Error>;

    /// Whether `error` refused a write for good: a later claim on the work has fenced this
    /// store off ([`Fence`]). The coordinator then writes nothing more (every bar is counted as
    /// unwritten), its durable progress stops and [`StoreHandle::superseded`] says so. Never,
    /// unless the store is fenced.
    fn superseded(error: &Self::Error) -> bool {
        let _ = error;
        false
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) conflated: AtomicU64,
    pub(crate) shed: AtomicU64,
    pub(crate) unwritten: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) breaker_opens: AtomicU64,
    pub(crate) pressure_on: AtomicU64,
    pub(crate) pressure_off: AtomicU64,
    pub(crate) max_depth: AtomicU64,
}

/// A snapshot of the coordinator's counters. Once the coordinator has finished,
/// `accepted == written + conflated + shed + unwritten`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Bars handed to the store sinks.
    pub accepted: u64,
    /// Rows the store acknowledged.
    pub written: u64,
    /// Bars replaced by a newer revision of the same key before being written.
    pub conflated: u64,
    /// Bars dropped under `Shed`.
    pub shed: u64,
    /// Bars given up on at the flush deadline (the store kept failing).
    pub unwritten: u64,
    /// Successful batch writes.
    pub batches: u64,
    /// Write attempts after the first for a batch.
    pub retries: u64,
    /// Failed write attempts.
    pub failures: u64,
    /// Times the circuit breaker opened.
    pub breaker_opens: u64,
    /// Transitions into pressure.
    pub pressure_on: u64,
    /// Transitions out of pressure.
    pub pressure_off: u64,
    /// The deepest the queue got.
    pub max_depth: u64,
    /// Bars waiting now.
    pub depth: usize,
    /// Whether the pressure policy is in force now.
    pub pressured: bool,
}

/// The final account of a coordinator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreReport {
    /// The counters at the end.
    pub stats: StoreStats,
    /// The last write error seen, if any.
    pub last_error: Option<String>,
    /// Writer threads that panicked outside the store call (a bug; their rows may be lost).
    pub writer_panics: usize,
}

impl std::ops::Deref for StoreReport {
    type Target = StoreStats;
    fn deref(&self) -> &StoreStats {
        &self.stats
    }
}

pub(crate) fn stats_of(shared: &Shared) -> StoreStats {
    let c = &shared.counters;
    StoreStats {
        accepted: c.accepted.load(Relaxed),
        written: c.written.load(Relaxed),
        conflated: c.conflated.load(Relaxed),
        shed: c.shed.load(Relaxed),
        unwritten: c.unwritten.load(Relaxed),
        batches: c.batches.load(Relaxed),
        retries: c.retries.load(Relaxed),
        failures: c.failures.load(Relaxed),
        breaker_opens: c.breaker_opens.load(Relaxed),
        pressure_on: c.pressure_on.load(Relaxed),
        pressure_off: c.pressure_off.load(Relaxed),
        max_depth: c.max_depth.load(Relaxed),
        depth: shared.depth(),
        pressured: shared.pressured(),
    }
}

/// A cheap, cloneable handle to a running coordinator: builds shard sinks, reads stats,
/// sets the flush deadline.
#[derive(Clone)]
pub struct StoreHandle {
    shared: Arc<Shared>,
}

impl StoreHandle {
    /// A shard sink feeding this coordinator (what [`StoreSinkExt::store_sink`] uses).
    pub fn sink(&self, ctx: &ShardContext) -> StoreSink {
        let _ = self.shared.names.set(ctx.interner.clone());
        StoreSink::new(self.shared.clone())
    }

    /// Hands bars to the coordinator from any thread, with the same pressure policy as the
    /// shard sinks (may block under `Block`). Bars are named through the engine's instrument
    /// table once a sink has been built, else `#<id>`.
    pub fn push<'a>(&self, bars: impl IntoIterator<Item = &'a Bar>) {
        self.shared.push(bars);
    }

    /// The counters now.
    pub fn stats(&self) -> StoreStats {
        stats_of(&self.shared)
    }

    /// How far the table is complete: every bar the shard sinks will hand over stamped below
    /// this (a bar is stamped with its `window_end`; a revision with the watermark that caused
    /// it) is written. The least over the shards' sinks; `Timestamp::MIN` until each has
    /// reported, `WM_END` once input ended and all is written. It stops advancing for good
    /// once a bar is shed or given up on at the deadline: what a source acknowledges by it
    /// (design.md §10: a tick only once every bar it contributes to is durably written) is
    /// then exactly what the table holds. Lock-free; safe to poll.
    pub fn durable_progress(&self) -> ticklane_engine::Timestamp {
        self.shared.durable()
    }

    /// Whether a later claim has fenced the store's writes off ([`BarStore::superseded`]):
    /// nothing more will be written, and the run should stop without draining.
    pub fn superseded(&self) -> bool {
        self.shared.superseded.load(Relaxed)
    }

    /// Bounds the final flush: from `at` on, blocked sinks stop waiting and writers stop
    /// retrying; what they hold is counted as unwritten. Set it when input ends.
    pub fn set_deadline(&self, at: Instant) {
        self.shared.set_deadline(at);
    }
}

/// The write coordinator: the queue, its writer threads and their counters.
pub struct StoreCoordinator {
    handle: StoreHandle,
    writers: Vec<JoinHandle<()>>,
}

impl StoreCoordinator {
    /// Starts one writer thread per store in `stores`.
    pub fn start<S: BarStore + 'static>(cfg: StoreConfig, stores: Vec<S>) -> Result<Self, StoreError> {
        if stores.is_empty() {
            return Err(StoreError::NoWriters);
        }
        let shared = Shared::new(cfg);
        let mut writers = Vec::with_capacity(stores.len());
        for (i, store) in stores.into_iter().enumerate() {
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("ticklane-store-{i}"))
                .spawn(move || writer::run(s, store))
                .map_err(StoreError::Spawn)?;
            writers.push(h);
        }
        Ok(StoreCoordinator { handle: StoreHandle { shared }, writers })
    }

    /// A handle for sinks, stats and the deadline.
    pub fn handle(&self) -> StoreHandle {
        self.handle.clone()
    }

    /// The counters now.
    pub fn stats(&self) -> StoreStats {
        self.handle.stats()
    }

    /// Declares that no more bars will come (call after the engine has joined), lets the
    /// writers drain the queue (bounded by the deadline, if set) and returns the account.
    pub fn finish(self) -> StoreReport {
        let shared = &self.handle.shared;
        shared.close();
        let mut writer_panics = 0;
        for w in self.writers {
            if w.join().is_err() {
                writer_panics += 1;
            }
        }
        // Writers are gone: anything still waiting can no longer be written.
        shared.abandon_waiting();
        writer::publish(shared);
        StoreReport { stats: stats_of(shared), last_error: shared.last_error.lock().clone(), writer_panics }
    }
}

/// Why a coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No writer given.
    #[error("a store coordinator needs at least one BarStore (one per writer thread)")]
    NoWriters,
    /// The OS refused a thread.
    #[error("cannot spawn a store writer thread: {0}")]
    Spawn(std::io::Error),
}

#[cfg(test)]
mod tests;
