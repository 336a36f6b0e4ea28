//! Drops repeated trades (design.md §4).
//!
//! - Key `Id` (default): `(instrument, trade_id)`. Trades without a trade id cannot be keyed
//!   this way; they pass through and are counted ([`DEDUPE_UNKEYED`]).
//! - Key `Content`, opt-in: `(instrument, ts_event, ts_recv, price, size, side)`. **Hazard:**
//!   real CME data holds distinct trades identical in every one of those columns (15 groups in
//!   the bundled ESH4 capture), so content dedupe can drop real trades. Use it only for feeds
//!   known to lack that property.
//! - The first occurrence wins; a repeat within the horizon is dropped and counted
//!   ([`DUPLICATES`]). A key is remembered while its first occurrence's
//!   `ts_event ≥ watermark − ttl` (default 10 s), judged with the per-trade watermark stamp, so
//!   results do not depend on batching or shard count.
//! - State is bounded. Keys live in two generations of tables, each key with the event time of
//!   its first occurrence: lookups check both, and a key older than the horizon counts as absent
//!   (so the horizon is exact); when the watermark passes the newest key of the older
//!   generation plus the ttl, that whole generation is dropped at once ([`DEDUPE_EXPIRED`])
//!   instead of one table probe per expiring key. A per-shard `capacity` cap drops the older
//!   generation early (its keys still within the horizon count in [`DEDUPE_EVICTED`]). Ids of
//!   up to eight bytes are kept in narrower tables than longer ones (each with its own two
//!   generations; the cap counts both, and at the cap the older generation of the inserted
//!   key's width is dropped).
//! - Files: `keys.rs` (key packing), `table.rs` (one generation: keys in arrival order
//!   under an open-addressing index with control bytes, prefetch), `seen.rs` (two
//!   generations), `ids.rs` (narrow and wide id keys), `quotes.rs` (the same for quotes,
//!   keyed by their content: [`QuoteDedupe`]).
//!   Capacity evictions depend on how instruments are spread over shards: size the cap so that
//!   it never fires in normal operation, and alert on the counter.

mod ids;
mod keys;
mod quotes;
mod seen;
mod table;

pub use quotes::{QuoteDedupe, QuoteDedupeExt};

use ids::IdSets;
use keys::{ContentKey, IdShape};
use seen::{Admit, Seen};
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::time::Duration;
use ticklane_engine::{
    ConfigCheck, ConfigError, ConfigViolation, Counter, DagBuilder, FoldState, Stamped, Timestamp, Trade, Transform,
};

/// Repeats a [`Dedupe`] dropped.
pub const DUPLICATES: Counter = Counter::new("ticklane_duplicates_total");
/// Trades passed without a key (no trade id under [`DedupeKey::Id`]).
pub const DEDUPE_UNKEYED: Counter = Counter::new("ticklane_dedupe_unkeyed_total");
/// Keys evicted by the capacity cap.
pub const DEDUPE_EVICTED: Counter = Counter::new("ticklane_dedupe_evicted_total");
/// Keys expired past the horizon.
pub const DEDUPE_EXPIRED: Counter = Counter::new("ticklane_dedupe_expired_total");

/// Which columns identify a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DedupeKey {
    /// `(instrument, trade_id)`.
    #[default]
    Id,
    /// `(instrument, ts_event, ts_recv, price, size, side)` — see the module docs' hazard.
    Content,
}

/// Configuration of [`Dedupe`]: [`DedupeConfig::default`] (key `Id`, 10 s horizon, 2^20
/// keys per shard) or [`DedupeConfig::builder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupeConfig {
    key: DedupeKey,
    /// Horizon behind the watermark, ns.
    ttl: i64,
    capacity: NonZeroUsize,
}

/// Builds a [`DedupeConfig`].
#[derive(Clone, Copy, Debug)]
pub struct DedupeBuilder {
    key: DedupeKey,
    ttl: Duration,
    capacity: usize,
}

/// The default horizon: 10 s of event time.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);
/// The default per-shard key capacity.
pub const DEFAULT_CAPACITY: usize = 1 << 20;

impl Default for DedupeConfig {
    fn default() -> Self {
        DedupeConfig {
            key: DedupeKey::Id,
            ttl: DEFAULT_TTL.as_nanos() as i64,
            capacity: NonZeroUsize::new(DEFAULT_CAPACITY).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

impl DedupeConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> DedupeBuilder {
        DedupeBuilder { key: DedupeKey::Id, ttl: DEFAULT_TTL, capacity: DEFAULT_CAPACITY }
    }

    /// The key columns.
    pub fn key(&self) -> DedupeKey {
        self.key
    }
}

impl DedupeBuilder {
    /// The key columns.
    pub fn key(mut self, key: DedupeKey) -> Self {
        self.key = key;
        self
    }

    /// The horizon behind the watermark (positive).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The most keys one shard remembers (positive, at most 2^32 − 1).
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n;
        self
    }

    /// Checks every parameter.
    pub fn build(self) -> Result<DedupeConfig, ConfigError> {
        let mut c = ConfigCheck::new();
        let ttl = c.positive_nanos("dedupe ttl", self.ttl);
        let capacity = c.nonzero("dedupe capacity", self.capacity);
        c.require(self.capacity <= table::MAX_KEYS, || ConfigViolation::TooMany {
            param: "dedupe capacity",
            count: self.capacity,
            max: table::MAX_KEYS,
        });
        c.finish(DedupeConfig { key: self.key, ttl, capacity })
    }
}

/// Adds a [`Dedupe`] to a graph.
pub trait DedupeExt {
    /// Dedupe named `name`: trades in, first occurrences out.
    ///
    /// ```
    /// use ticklane_engine::{Config, DagBuilder, Engine, Kind, Trade, TradeId};
    /// use ticklane_operators::{counters, DedupeConfig, DedupeExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .dedupe("dedupe", DedupeConfig::default())
    ///     .sink_egress("out", Kind::Trade)
    ///     .connect("feed", "dedupe")
    ///     .connect("dedupe", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Trade>("feed")?, engine.egress::<Trade>("out")?);
    /// let btc = feed.intern("binance:BTCUSDT")?;
    /// for id in ["7", "8", "7"] { // the second "7" is a repeat
    ///     feed.push(Trade { instrument: btc, trade_id: TradeId::from_text(id.as_bytes()), ..Trade::default() })?;
    /// }
    /// drop(feed);
    /// assert_eq!(out.by_ref().count(), 2);
    /// assert_eq!(engine.join()?.stats.counter("dedupe", counters::DUPLICATES), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn dedupe(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self;
}

impl DedupeExt for DagBuilder {
    fn dedupe(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self {
        self.transform::<Trade, Trade, _, _>(name, move |_| Dedupe::new(cfg))
    }
}

/// Counters of [`Dedupe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DedupeCounters {
    /// Repeats dropped.
    pub duplicates: u64,
    /// Trades passed without a key (no trade id under `Id`).
    pub unkeyed: u64,
    /// Keys evicted by the capacity cap.
    pub evicted: u64,
    /// Keys expired past the horizon.
    pub expired: u64,
}

enum Keys {
    Id(IdSets),
    Content(Seen<ContentKey>),
}

/// The dedupe operator (trades in, trades out); one instance per shard.
pub struct Dedupe {
    cfg: DedupeConfig,
    keys: Keys,
    counters: DedupeCounters,
    /// The current batch's keyed trades: place in the batch, key, hash (reused).
    batch_keys: Vec<(usize, IdShape, u64)>,
}

impl Dedupe {
    /// A fresh instance.
    pub fn new(cfg: DedupeConfig) -> Dedupe {
        let seed = FoldState::new().hash_one(0u64);
        let keys = match cfg.key {
            DedupeKey::Id => Keys::Id(IdSets::new(seed)),
            DedupeKey::Content => Keys::Content(Seen::new(seed)),
        };
        Dedupe { cfg, keys, counters: DedupeCounters::default(), batch_keys: Vec::new() }
    }

    /// The counters so far.
    pub fn counters(&self) -> DedupeCounters {
        self.counters
    }

    /// Whether `t` (with watermark stamp `wm`) is a first occurrence; remembers it.
    #[inline]
    pub fn admit(&mut self, t: &Trade, wm: Timestamp) -> bool {
        let fresh = match &mut self.keys {
            Keys::Id(s) => {
                if !t.trade_id.is_some() {
                    self.counters.unkeyed += 1;
                    return true;
                }
                let k = IdShape::new(t.instrument.0, t.trade_id);
                s.insert((k, s.hash(&k)), (t.ts_event, wm), &self.cfg, &mut self.counters)
            }
            Keys::Content(s) => {
                let k = ContentKey::new(t);
                let h = s.cur.hash(&k);
                match s.insert((k, h), (t.ts_event, wm), 0, &self.cfg, &mut self.counters) {
                    Admit::Duplicate => false,
                    Admit::New => true,
                    Admit::Full => {
                        s.make_room(wm, self.cfg.ttl, &mut self.counters);
                        s.put_new(k, h, t.ts_event);
                        true
                    }
                }
            }
        };
        if !fresh {
            self.counters.duplicates += 1;
        }
        fresh
    }

    /// [`Dedupe::admit`] over a batch under the id key: each trade's table slots are
    /// prefetched [`AHEAD`] trades before its probe, so that cache misses overlap instead of
    /// coming one after another. Whether every trade passed (then nothing was written to
    /// `out`: see [`Transform::on_batch_or_pass`]).
    fn admit_ids(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) -> bool {
        let Keys::Id(s) = &mut self.keys else { return true };
        // Only keyed trades are probed (a DBN capture has no trade ids: nothing to hash).
        self.batch_keys.clear();
        self.batch_keys.extend(input.iter().enumerate().filter(|(_, t)| t.rec.trade_id.is_some()).map(|(i, t)| {
            let k = IdShape::new(t.rec.instrument.0, t.rec.trade_id);
            (i, k, s.hash(&k))
        }));
        self.counters.unkeyed += (input.len() - self.batch_keys.len()) as u64;
        for (_, k, h) in self.batch_keys.iter().take(AHEAD) {
            s.prefetch(k, *h);
        }
        // The trades before the first duplicate are copied only once one is found.
        let mut passed = Passed::All;
        for (next, &(i, k, h)) in self.batch_keys.iter().enumerate() {
            if let Some((_, k, h)) = self.batch_keys.get(next + AHEAD) {
                s.prefetch(k, *h);
            }
            let t = &input[i];
            if s.insert((k, h), (t.rec.ts_event, t.wm), &self.cfg, &mut self.counters) {
                continue;
            }
            self.counters.duplicates += 1;
            passed.drop_at(input, i, out);
        }
        passed.finish(input, out)
    }

    /// [`Dedupe::admit`] over a batch under the content key; as [`Dedupe::admit_ids`],
    /// whether every trade passed.
    fn admit_all(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) -> bool {
        let mut passed = Passed::All;
        for (i, t) in input.iter().enumerate() {
            if !self.admit(&t.rec, t.wm) {
                passed.drop_at(input, i, out);
            }
        }
        passed.finish(input, out)
    }
}

/// Which trades of a batch passed so far: all of them (none copied yet), or all up to the
/// last one dropped, whose survivors are in `out`.
enum Passed {
    All,
    /// The index after the last trade dropped (the trades from there on are not copied yet).
    From(usize),
}

impl Passed {
    /// Trade `i` is dropped: the survivors before it go to `out`.
    #[inline]
    fn drop_at(&mut self, input: &[Stamped<Trade>], i: usize, out: &mut Vec<Stamped<Trade>>) {
        let from = match *self {
            Passed::All => 0,
            Passed::From(f) => f,
        };
        out.extend_from_slice(&input[from..i]);
        *self = Passed::From(i + 1);
    }

    /// Copies the survivors after the last drop; whether none was dropped (nothing copied).
    fn finish(self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) -> bool {
        match self {
            Passed::All => true,
            Passed::From(f) => {
                out.extend_from_slice(&input[f..]);
                false
            }
        }
    }
}

/// How many trades ahead of its probe a trade's table slots are loaded.
const AHEAD: usize = 8;

impl Transform<Trade, Trade> for Dedupe {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) {
        if self.on_batch_or_pass(input, out) {
            out.extend_from_slice(input);
        }
    }

    /// A batch without duplicates (every batch of a capture without trade ids) goes on whole,
    /// uncopied; with duplicates, the survivors are copied once.
    fn on_batch_or_pass(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) -> bool {
        match self.keys {
            Keys::Id(_) => self.admit_ids(input, out),
            Keys::Content(_) => self.admit_all(input, out),
        }
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters;
        report(DUPLICATES, c.duplicates);
        report(DEDUPE_UNKEYED, c.unkeyed);
        report(DEDUPE_EVICTED, c.evicted);
        report(DEDUPE_EXPIRED, c.expired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::InstrumentId;
    use ticklane_engine::TradeId;

    fn t(inst: u32, ts: i64, id: &str) -> Trade {
        Trade {
            ts_event: ts,
            instrument: InstrumentId(inst),
            trade_id: TradeId::from_text(id.as_bytes()),
            ..Trade::default()
        }
    }

    #[test]
    fn first_occurrence_wins_within_the_horizon() {
        let cfg = DedupeConfig::builder().ttl(Duration::from_nanos(100)).build().expect("cfg");
        let mut d = Dedupe::new(cfg);
        assert!(d.admit(&t(0, 10, "a"), 0));
        assert!(!d.admit(&t(0, 10, "a"), 10));
        assert!(d.admit(&t(1, 10, "a"), 10), "another instrument");
        assert!(d.admit(&t(0, 10, ""), 10) && d.admit(&t(0, 10, ""), 10), "no id: passes");
        assert!(d.admit(&t(0, 300, "a"), 200), "expired: key at 10 < 200 - 100");
        assert!(d.admit(&t(1, 20, "a"), 200), "its first occurrence (10) is past the horizon, though still in memory");
        assert_eq!(d.counters().expired, 0, "nothing dropped yet: the first generation was empty");
        assert!(d.admit(&t(2, 500, "z"), 450), "the watermark passes 300 + 100: the older generation goes");
        let c = d.counters();
        assert_eq!((c.duplicates, c.unkeyed, c.expired), (1, 2, 2));
    }

    /// A feed whose ids grow past eight bytes (a counter passing 99,999,999) leaves the
    /// narrow keys behind: at capacity, room comes from them, and the new (wide) keys are
    /// remembered. (Before, every wide key evicted the small wide generation: a repeat two
    /// keys later passed, and each insert cleared a table.)
    #[test]
    fn ids_growing_past_eight_bytes_are_still_remembered_at_capacity() {
        let cfg = DedupeConfig::builder().capacity(1000).ttl(Duration::from_secs(3600)).build().expect("cfg");
        let mut d = Dedupe::new(cfg);
        for i in 0..990i64 {
            assert!(d.admit(&t(0, i, &format!("{}", 99_990_000 + i)), i));
        }
        for i in 0..300i64 {
            let ts = 1000 + i;
            assert!(d.admit(&t(0, ts, &format!("{}", 100_000_000 + i)), ts), "wide key {i} is new");
            if i >= 2 {
                let again = format!("{}", 100_000_000 + i - 2);
                assert!(!d.admit(&t(0, ts, &again), ts), "the repeat of wide key {} is caught", i - 2);
            }
        }
        let c = d.counters();
        assert_eq!(c.duplicates, 298);
        assert_eq!(c.evicted, 990, "the narrow keys made room: {c:?}");
    }

    #[test]
    fn capacity_evicts_the_older_generation_and_counts() {
        let cfg = DedupeConfig::builder().capacity(2).build().expect("cfg");
        let mut d = Dedupe::new(cfg);
        for id in ["a", "b", "c"] {
            assert!(d.admit(&t(0, 1, id), 0));
        }
        assert_eq!(d.counters().evicted, 2, "a full table drops its older generation whole");
        assert!(d.admit(&t(0, 1, "a"), 0), "a was evicted, so it passes again");
        assert!(!d.admit(&t(0, 1, "c"), 0));
    }

    #[test]
    fn content_key_sees_identical_prints_as_one() {
        let mut d = Dedupe::new(DedupeConfig::builder().key(DedupeKey::Content).build().expect("cfg"));
        assert!(d.admit(&t(0, 5, "x"), 0));
        assert!(!d.admit(&t(0, 5, "y"), 0), "ids ignored under content");
    }

    #[test]
    fn zero_parameters_are_errors() {
        let e = DedupeConfig::builder().ttl(Duration::ZERO).capacity(0).build().expect_err("zeros");
        assert_eq!(e.violations.len(), 2, "{e}");
        assert_eq!(DedupeConfig::builder().build(), Ok(DedupeConfig::default()));
    }

    #[test]
    fn a_capacity_past_the_table_index_is_an_error() {
        let e = DedupeConfig::builder().capacity(table::MAX_KEYS + 1).build().expect_err("too large");
        assert!(e.to_string().contains("dedupe capacity"), "{e}");
        assert!(DedupeConfig::builder().capacity(table::MAX_KEYS).build().is_ok());
    }

    proptest::proptest! {
        /// The batched paths (keys hashed and prefetched ahead, unkeyed trades skipped; a batch
        /// without a duplicate passed whole, uncopied) admit exactly what [`Dedupe::admit`]
        /// admits one trade at a time, with the same counts, under either key.
        #[test]
        fn batches_admit_what_single_trades_admit(
            trades in proptest::collection::vec((0u32..3, 0i64..400, proptest::option::of(0u8..12)), 0..300),
            cuts in proptest::collection::vec(1usize..40, 1..20),
            content in proptest::bool::ANY,
            passing in proptest::bool::ANY,
        ) {
            let key = if content { DedupeKey::Content } else { DedupeKey::Id };
            let cfg = DedupeConfig::builder().ttl(Duration::from_nanos(50)).capacity(8).key(key).build().expect("cfg");
            let (mut batched, mut single) = (Dedupe::new(cfg), Dedupe::new(cfg));
            let stamped: Vec<Stamped<Trade>> = trades
                .iter()
                .map(|&(inst, ts, id)| {
                    let id = id.map_or(String::new(), |i| format!("id{i}"));
                    Stamped { wm: ts - 20, rec: t(inst, ts, &id) }
                })
                .collect();
            let want: Vec<Stamped<Trade>> = stamped.iter().filter(|s| single.admit(&s.rec, s.wm)).copied().collect();
            let (mut got, mut at, mut passed_whole, mut batches) = (Vec::new(), 0, 0, 0);
            for &c in cuts.iter().cycle() {
                if at >= stamped.len() {
                    break;
                }
                let end = (at + c).min(stamped.len());
                let batch = &stamped[at..end];
                batches += 1;
                if !passing {
                    batched.on_batch(batch, &mut got);
                } else {
                    let mut out = Vec::new();
                    if batched.on_batch_or_pass(batch, &mut out) {
                        proptest::prop_assert!(out.is_empty(), "a batch passed whole writes nothing");
                        passed_whole += 1;
                        out.extend_from_slice(batch);
                    } else {
                        proptest::prop_assert!(out.len() < batch.len(), "a batch not passed whole lost a trade");
                    }
                    got.extend(out);
                }
                at = end;
            }
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(batched.counters(), single.counters());
            if passing && batched.counters().duplicates == 0 {
                proptest::prop_assert_eq!(passed_whole, batches, "no duplicate: every batch passes whole");
            }
        }
    }
}
