//! ticklane market-data operators. Each keeps its state shard-local (no locks, no allocation
//! per event once warmed up) and lives in one file with its config, its builder method (an
//! extension trait on [`DagBuilder`](ticklane_engine::DagBuilder), e.g. [`TimeBarsExt`]), a
//! doc example and its unit tests. `use ticklane_operators::prelude::*` brings every builder
//! method into scope.
//!
//! ```
//! use std::time::Duration;
//! use ticklane_engine::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade, TradeId};
//! use ticklane_operators::prelude::*;
//! use ticklane_operators::{counters, DedupeConfig, TimeBarsConfig};
//!
//! let mut g = DagBuilder::new();
//! g.source("feed", Kind::Trade)
//!     .dedupe("dedupe", DedupeConfig::default())
//!     .time_bars("bars", TimeBarsConfig::builder(Duration::from_secs(1)).build()?)
//!     .sink_egress("out", Kind::Bar)
//!     .connect("feed", "dedupe")
//!     .connect("dedupe", "bars")
//!     .connect("bars", "out");
//! let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
//! let mut feed = engine.ingress::<Trade>("feed")?;
//! let mut out = engine.egress::<Bar>("out")?;
//! let es = feed.intern("GLBX.MDP3:ESH4")?;
//! let reader = std::thread::spawn(move || out.by_ref().map(|b| b.rec).collect::<Vec<_>>());
//! for (ts, id) in [(0, "1"), (1, "1"), (2, "2")] {   // "1" is repeated: dropped
//!     feed.push(Trade { ts_event: ts, instrument: es, trade_id: TradeId::from_text(id.as_bytes()),
//!                       price: Fixed::parse("4800.25")?, size: Fixed::ONE, ..Trade::default() })?;
//! }
//! drop(feed);
//! let report = engine.join()?;
//! let bars = reader.join().unwrap();
//! assert_eq!((bars.len(), bars[0].trade_count), (1, 2));
//! assert_eq!(report.stats.counter("dedupe", counters::DUPLICATES), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invalid settings are one [`ConfigError`](ticklane_engine::ConfigError) listing every
//! problem: each config has a builder whose `build()` checks all parameters together.
#![deny(unsafe_code)]

mod chain;
mod count_bars;
mod deadlines;
mod dedupe;
mod filter;
mod map;
mod quote_bars;
mod resample;
mod router;
pub mod store;
mod throttle;
mod time_bars;
mod vwap;
mod window;

pub use count_bars::{BarSize, CountBars, CountBarsExt};
pub use dedupe::{
    Dedupe, DedupeBuilder, DedupeConfig, DedupeCounters, DedupeExt, DedupeKey, QuoteDedupe, QuoteDedupeExt,
    DEFAULT_CAPACITY, DEFAULT_TTL,
};
pub use filter::{Filter, FilterExt};
pub use map::{Map, MapExt};
pub use quote_bars::{QuoteBars, QuoteBarsBuilder, QuoteBarsConfig, QuoteBarsCounters, QuoteBarsExt};
pub use resample::{
    QuoteResample, QuoteResampleExt, Resample, ResampleBuilder, ResampleConfig, ResampleCounters, ResampleExt,
};
pub use router::{Classify, FnMask, InstrumentSets, RouteExt, Router, MAX_ROUTES};
pub use throttle::{Throttle, ThrottleBuilder, ThrottleConfig, ThrottleExt, ThrottlePolicy};
pub use time_bars::{EmptyBars, TimeBars, TimeBarsBuilder, TimeBarsConfig, TimeBarsCounters, TimeBarsExt};
pub use window::{Beyond, LatePolicy, Tumbling};

/// Every builder method of this crate: `use ticklane_operators::prelude::*`.
pub mod prelude {
    pub use crate::store::StoreSinkExt;
    pub use crate::{
        CountBarsExt, DedupeExt, FilterExt, MapExt, QuoteBarsExt, QuoteDedupeExt, QuoteResampleExt, ResampleExt,
        RouteExt, ThrottleExt, TimeBarsExt,
    };
}

/// Every counter the operators report (read them with `Stats::counter` or
/// `NodeStats::counter`; published as Prometheus counters labelled by node).
pub mod counters {
    pub use crate::dedupe::{DEDUPE_EVICTED, DEDUPE_EXPIRED, DEDUPE_UNKEYED, DUPLICATES};
    pub use crate::filter::FILTERED;
    pub use crate::quote_bars::{QUOTE_BARS, SPREAD_SATURATED};
    pub use crate::router::UNROUTED;
    pub use crate::throttle::THROTTLED;
    pub use crate::time_bars::{
        BARS, BAR_OVERFLOW, FLAT_BARS, LATE_DROPPED, LATE_EVENTS, LATE_REVISED, LATE_SIDE, OUT_OF_RANGE,
    };
}
