//! ticklane market-data operators. Each keeps its state shard-local (no locks, no allocation
//! per event once warmed up) and plugs into a [`DagBuilder`] through [`OperatorsExt`].
//!
//! ```
//! use std::time::Duration;
//! use ticklane_engine::{Bar, Config, DagBuilder, Engine, Fixed, Kind, Trade, TradeId};
//! use ticklane_operators::{DedupeConfig, OperatorsExt, TimeBarsConfig};
//!
//! let mut g = DagBuilder::new();
//! g.source("feed", Kind::Trade)
//!     .dedupe("dedupe", DedupeConfig::default())
//!     .time_bars("bars", TimeBarsConfig::new(Duration::from_secs(1))?)
//!     .sink_egress("out", Kind::Bar)
//!     .connect("feed", "dedupe")
//!     .connect("dedupe", "bars")
//!     .connect("bars", "out");
//! let mut engine = Engine::start(g.build()?, Config::new().with_shards(2)?)?;
//! let mut feed = engine.ingress::<Trade>("feed")?;
//! let mut out = engine.egress::<Bar>("out")?;
//! let es = feed.intern("GLBX.MDP3:ESH4")?;
//! let reader = std::thread::spawn(move || out.by_ref().map(|b| b.rec).collect::<Vec<_>>());
//! for (ts, id) in [(0, "1"), (1, "1"), (2, "2")] {   // "1" is repeated: dropped
//!     feed.push(Trade { ts_event: ts, instrument: es, trade_id: TradeId::from_text(id.as_bytes()),
//!                       price: Fixed::parse("4800.25")?, size: Fixed::ONE, ..Trade::default() })?;
//! }
//! drop(feed);
//! engine.join()?;
//! let bars = reader.join().unwrap();
//! assert_eq!((bars.len(), bars[0].trade_count), (1, 2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]

mod count_bars;
mod dedupe;
mod map;
mod router;
pub mod store;
mod throttle;
mod time_bars;
mod window;

pub use count_bars::{BarSize, CountBars};
pub use dedupe::{Dedupe, DedupeConfig, DedupeCounters, DedupeKey, DEFAULT_CAPACITY, DEFAULT_TTL};
pub use map::{Filter, Map};
pub use router::{Classify, FnMask, InstrumentSets, Router, MAX_ROUTES};
pub use throttle::{Throttle, ThrottleConfig, ThrottlePolicy};
pub use time_bars::{EmptyBars, TimeBars, TimeBarsConfig, TimeBarsCounters};
pub use window::{Beyond, ConfigError, LatePolicy, Tumbling};

use hashbrown::HashSet;
use std::sync::Arc;
use ticklane_engine::{Bar, DagBuilder, Kind, Record, Trade};

/// Adds the operators of this crate to a [`DagBuilder`] by name.
pub trait OperatorsExt {
    /// OHLCV time bars: input trades; output 0 bars; output 1 late trades if the late policy
    /// has a side output.
    fn time_bars(&mut self, name: &str, cfg: TimeBarsConfig) -> &mut Self;
    /// Dedupe: trades in, first occurrences out.
    fn dedupe(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self;
    /// A store sink: bars in, handed to the write coordinator behind `store` (see [`store`]).
    fn store_sink(&mut self, name: &str, store: &store::StoreHandle) -> &mut Self;
    /// Tick or volume bars: trades in, bars out.
    fn count_bars(&mut self, name: &str, size: BarSize) -> &mut Self;
    /// Per-instrument rate limit: trades in, trades out.
    fn throttle(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self;
    /// Routes `T` records to `routes.len()` outputs by instrument name sets (output `i` gets
    /// the instruments in `routes[i]`); with `default`, one more output gets the rest.
    fn route_instruments<T: Record>(
        &mut self,
        name: &str,
        routes: &[&[&str]],
        default: bool,
    ) -> Result<&mut Self, ConfigError>;
    /// Routes `T` records to `routes` outputs by a closure returning the bitmask of matching
    /// outputs; with `default`, one more output gets records whose mask is 0.
    fn route_by<T: Record, F>(
        &mut self,
        name: &str,
        routes: usize,
        default: bool,
        f: F,
    ) -> Result<&mut Self, ConfigError>
    where
        F: FnMut(&T) -> u64 + Send + Sync + Clone + 'static;
    /// `map`: applies `f` to each record.
    fn map<I: Record, O: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&I) -> O + Send + Sync + Clone + 'static;
    /// `filter`: keeps records for which `f` holds.
    fn filter<T: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&T) -> bool + Send + Sync + Clone + 'static;
}

impl OperatorsExt for DagBuilder {
    fn time_bars(&mut self, name: &str, cfg: TimeBarsConfig) -> &mut Self {
        let outputs: &[Kind] = if cfg.late.has_side_output() { &[Kind::Bar, Kind::Trade] } else { &[Kind::Bar] };
        self.operator(name, &[Kind::Trade], outputs, move |_| Box::new(TimeBars::new(cfg)))
    }

    fn dedupe(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self {
        self.transform::<Trade, Trade, _, _>(name, move |_| Dedupe::new(cfg))
    }

    fn store_sink(&mut self, name: &str, store: &store::StoreHandle) -> &mut Self {
        let store = store.clone();
        self.sink_callback::<Bar, _, _>(name, move |ctx| store.sink(&ctx))
    }

    fn count_bars(&mut self, name: &str, size: BarSize) -> &mut Self {
        self.transform::<Trade, Bar, _, _>(name, move |_| CountBars::new(size))
    }

    fn throttle(&mut self, name: &str, cfg: ThrottleConfig) -> &mut Self {
        self.transform::<Trade, Trade, _, _>(name, move |_| Throttle::new(cfg))
    }

    fn route_instruments<T: Record>(
        &mut self,
        name: &str,
        routes: &[&[&str]],
        default: bool,
    ) -> Result<&mut Self, ConfigError> {
        let sets: Arc<Vec<HashSet<String>>> =
            Arc::new(routes.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect());
        let n = routes.len();
        // Validate once here; each shard's instance is then known to be valid.
        Router::<T, _>::new(FnMask(|_: &T| 0), n, default)?;
        let kinds = vec![T::KIND; n + usize::from(default)];
        Ok(self.operator(name, &[T::KIND], &kinds, move |ctx| {
            Box::new(Router::<T, _>::validated(InstrumentSets::new(sets.clone(), ctx.interner.clone()), n, default))
        }))
    }

    fn route_by<T: Record, F>(
        &mut self,
        name: &str,
        routes: usize,
        default: bool,
        f: F,
    ) -> Result<&mut Self, ConfigError>
    where
        F: FnMut(&T) -> u64 + Send + Sync + Clone + 'static,
    {
        Router::<T, _>::new(FnMask(f.clone()), routes, default)?;
        let kinds = vec![T::KIND; routes + usize::from(default)];
        Ok(self.operator(name, &[T::KIND], &kinds, move |_| {
            match Router::<T, _>::new(FnMask(f.clone()), routes, default) {
                Ok(r) => Box::new(r),
                Err(e) => unreachable!("validated above: {e}"),
            }
        }))
    }

    fn map<I: Record, O: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&I) -> O + Send + Sync + Clone + 'static,
    {
        self.transform::<I, O, _, _>(name, move |_| Map::new(f.clone()))
    }

    fn filter<T: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&T) -> bool + Send + Sync + Clone + 'static,
    {
        self.transform::<T, T, _, _>(name, move |_| Filter::new(f.clone()))
    }
}
