//! ticklane engine core: exact records, a validated dataflow graph, and a thread-per-core
//! sharded runtime over bounded single-producer rings.
//!
//! ```
//! use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Stamped, Trade};
//!
//! // Trades in → a user operator (drop tiny prints) → an ordered egress.
//! let mut g = DagBuilder::new();
//! g.source("feed", Kind::Trade)
//!     .transform::<Trade, Trade, _, _>("large", |_shard| {
//!         |input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>| {
//!             out.extend(input.iter().filter(|t| t.rec.size >= Fixed::ONE))
//!         }
//!     })
//!     .sink_egress("out", Kind::Trade)
//!     .connect("feed", "large")
//!     .connect("large", "out");
//! let dag = g.build()?;
//!
//! let mut engine = Engine::start(dag, Config::builder().shards(2).build()?)?;
//! let mut feed = engine.ingress::<Trade>("feed")?;
//! let mut out = engine.egress::<Trade>("out")?;
//! let btc = feed.intern("binance-futures:BTCUSDT")?;
//! let reader = std::thread::spawn(move || out.by_ref().count());
//! for (i, size) in ["0.5", "2", "1"].iter().enumerate() {
//!     let t = Trade { ts_event: i as i64, instrument: btc, price: Fixed::parse("61837.63")?,
//!                     size: Fixed::parse(size)?, ..Trade::default() };
//!     feed.push(t)?;
//! }
//! drop(feed); // ends the source: watermark → +∞
//! engine.join()?;
//! assert_eq!(reader.join().unwrap(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Model
//! - [`DagBuilder`] declares named nodes with typed ports; [`DagBuilder::build`] reports every
//!   violation (cycles, dangling or mistyped edges, unconnected ports) naming the nodes.
//! - [`Engine::start`] runs `shards` threads. Each owns the instruments whose name hashes to
//!   it ([`shard_of`]) and runs its own instance of every node, fused in topological order,
//!   one batch at a time: one `dyn` call per batch, a plain loop per record.
//! - [`Ingress`] (one per source, any thread) routes records to shards in batches, stamping
//!   each with the watermark before it; watermarks and end-of-stream travel in-band.
//! - Output leaves through a [`ShardSink`] on the shard thread, or an [`Egress`] that a user
//!   thread reads in the deterministic order of design.md §5.
//!
//! Determinism: for the same input records in the same order, output through an egress is
//! identical at any shard count, ring capacity, batch size or pacing.
// No unsafe code, except the ingress → shard ring (`runtime/ring.rs`, which allows it for
// itself: slot values handed between two threads by a stamp protocol; tested under miri), and
// the one system call that makes a thread a batch thread (`runtime/sched.rs`).
#![deny(unsafe_code)]

mod config_error;
mod counter;
mod dag;
mod decimal;
mod fold_hash;
mod instrument;
mod operator;
mod record;
mod runtime;

pub use config_error::{ConfigCheck, ConfigError, ConfigViolation};
pub use counter::Counter;
pub use dag::{BuildError, Dag, DagBuilder, Violation};
pub use decimal::{format_scaled, DecimalError, Fixed, Wide, FRAC_DIGITS, SCALE};
pub use fold_hash::{FoldHasher, FoldState};
pub use instrument::{fnv1a128, fnv1a64, mix64, shard_of, InstrumentId, InternError, Interner};
pub use operator::{Operator, Outputs, ShardContext, ShardSink, Transform};
pub use record::{
    Bar, Batch, CustomBatch, CustomKind, CustomRecord, Kind, Quote, QuoteBar, Record, Side, Stamped, Timestamp, Trade,
    TradeId, MAX_STAMPED_SIZE, NO_TS, WM_END,
};
pub use runtime::config::{Config, ConfigBuilder, WaitStrategy, MAX_SHARDS};
pub use runtime::egress::Egress;
pub use runtime::engine::Engine;
pub use runtime::error::{EngineError, RunFailed, RunReport};
pub use runtime::health;
pub use runtime::ingress::{Ingress, PushError, TryPushError};
pub use runtime::placement::Placement;
/// Serves `/metrics`, `/healthz` and `/readyz` on an address for the rest of the process, without
/// an engine (a supervising process's own gauges); an engine's `Config::prometheus` does the same.
#[cfg(feature = "prometheus")]
pub use runtime::prometheus::serve as serve_metrics;
pub use runtime::sched::run_as_batch_thread;
pub use runtime::stats::{NodeStats, ShardStats, SourceStats, Stats};
