//! Drops repeated quotes. A quote with its venue's book update id (`Quote::update_id`:
//! Binance `bookTicker`'s `u`) is keyed by `(instrument, update_id)`, so a resend after a
//! reconnect — the same update with a new receive time — is a repeat. A quote without one is
//! keyed by everything it holds: `(instrument, ts_event, ts_recv, bid, ask)` — the quotes' form
//! of the trades' content key (design.md §4). Then a message delivered twice (a JetStream
//! redelivery, a capture merged with itself) is dropped, a resend with a new receive time is
//! kept, and two quotes equal in all of it are one: the same book at the same instant of both
//! clocks. The horizon, generations and capacity cap are the trades' ([`super::Dedupe`]).

use super::keys::QuoteKey;
use super::seen::{Admit, Seen};
use super::{DedupeConfig, DedupeCounters, DEDUPE_EVICTED, DEDUPE_EXPIRED, DUPLICATES};
use std::hash::BuildHasher;
use ticklane_engine::{Counter, DagBuilder, FoldState, Quote, Stamped, Timestamp, Transform};

/// The quote dedupe operator (quotes in, quotes out); one instance per shard. The key setting
/// of its [`DedupeConfig`] is not used (a quote's key is its update id, else its content).
pub struct QuoteDedupe {
    cfg: DedupeConfig,
    seen: Seen<QuoteKey>,
    counters: DedupeCounters,
}

impl QuoteDedupe {
    /// A fresh instance.
    pub fn new(cfg: DedupeConfig) -> QuoteDedupe {
        let seed = FoldState::new().hash_one(1u64);
        QuoteDedupe { cfg, seen: Seen::new(seed), counters: DedupeCounters::default() }
    }

    /// The counters so far.
    pub fn counters(&self) -> DedupeCounters {
        self.counters
    }

    /// Whether `q` (with watermark stamp `wm`) is a first occurrence; remembers it.
    #[inline]
    pub fn admit(&mut self, q: &Quote, wm: Timestamp) -> bool {
        let k = QuoteKey::new(q);
        let h = self.seen.cur.hash(&k);
        match self.seen.insert((k, h), (q.ts_event, wm), 0, &self.cfg, &mut self.counters) {
            Admit::Duplicate => {
                self.counters.duplicates += 1;
                false
            }
            Admit::New => true,
            Admit::Full => {
                self.seen.make_room(wm, self.cfg.ttl, &mut self.counters);
                self.seen.put_new(k, h, q.ts_event);
                true
            }
        }
    }
}

impl Transform<Quote, Quote> for QuoteDedupe {
    fn on_batch(&mut self, input: &[Stamped<Quote>], out: &mut Vec<Stamped<Quote>>) {
        for q in input {
            if self.admit(&q.rec, q.wm) {
                out.push(*q);
            }
        }
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let c = self.counters;
        report(DUPLICATES, c.duplicates);
        report(DEDUPE_EVICTED, c.evicted);
        report(DEDUPE_EXPIRED, c.expired);
    }
}

/// Adds a [`QuoteDedupe`] to a graph.
pub trait QuoteDedupeExt {
    /// Quote dedupe named `name`: quotes in, first occurrences out.
    ///
    /// ```
    /// use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Quote};
    /// use ticklane_operators::{counters, DedupeConfig, QuoteDedupeExt};
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("quotes", Kind::Quote)
    ///     .dedupe_quotes("dedupe", DedupeConfig::default())
    ///     .sink_egress("out", Kind::Quote)
    ///     .connect("quotes", "dedupe")
    ///     .connect("dedupe", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Quote>("quotes")?, engine.egress::<Quote>("out")?);
    /// let btc = feed.intern("binance:BTCUSDT")?;
    /// let q = Quote { instrument: btc, ts_event: 5, ts_recv: 6, ..Quote::default() }.with_bid(Fixed::ONE, Fixed::ONE);
    /// for q in [q, q.with_ask(Fixed::ONE, Fixed::ONE), q] { // the second `q` is a repeat
    ///     feed.push(q)?;
    /// }
    /// drop(feed);
    /// assert_eq!(out.by_ref().count(), 2);
    /// assert_eq!(engine.join()?.stats.counter("dedupe", counters::DUPLICATES), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn dedupe_quotes(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self;
}

impl QuoteDedupeExt for DagBuilder {
    fn dedupe_quotes(&mut self, name: &str, cfg: DedupeConfig) -> &mut Self {
        self.transform::<Quote, Quote, _, _>(name, move |_| QuoteDedupe::new(cfg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::num::NonZeroU64;
    use ticklane_engine::{Fixed, InstrumentId};

    fn quote(inst: u32, ts: i64, recv: i64, bid: Option<i64>, ask: Option<i64>) -> Quote {
        let mut q = Quote { instrument: InstrumentId(inst), ts_event: ts, ts_recv: recv, ..Quote::default() };
        if let Some(b) = bid {
            q = q.with_bid(Fixed::from_int(b).expect("fixed"), Fixed::ONE);
        }
        if let Some(a) = ask {
            q = q.with_ask(Fixed::from_int(a).expect("fixed"), Fixed::ONE);
        }
        q
    }

    #[test]
    fn every_field_is_in_the_key() {
        let mut d = QuoteDedupe::new(DedupeConfig::default());
        let q = quote(1, 10, 11, Some(5), Some(6));
        assert!(d.admit(&q, 10));
        assert!(!d.admit(&q, 10), "the same quote again");
        for other in [
            quote(2, 10, 11, Some(5), Some(6)),
            quote(1, 12, 11, Some(5), Some(6)),
            quote(1, 10, 12, Some(5), Some(6)),
            quote(1, 10, 11, Some(4), Some(6)),
            quote(1, 10, 11, Some(5), Some(7)),
            quote(1, 10, 11, Some(5), None),
            quote(1, 10, 11, None, Some(6)),
            quote(1, 10, 11, None, None),
            Quote { bid_sz: Fixed::from_int(2).expect("fixed"), ..q },
        ] {
            assert!(d.admit(&other, 10), "{other:?} differs");
        }
        assert_eq!(d.counters().duplicates, 1);
    }

    #[test]
    fn a_venue_update_id_is_the_key_where_there_is_one() {
        let mut d = QuoteDedupe::new(DedupeConfig::default());
        let q = Quote { update_id: NonZeroU64::new(7), ..quote(1, 10, 11, Some(5), Some(6)) };
        assert!(d.admit(&q, 10));
        // Re-sent after a reconnect: new receive (and event) times, the same update.
        assert!(!d.admit(&Quote { ts_event: 12, ts_recv: 13, ..q }, 10), "the same update again");
        for other in [
            Quote { update_id: NonZeroU64::new(8), ..q },
            Quote { instrument: InstrumentId(2), ..q },
            // The same content without an id is keyed by content: never an id key.
            Quote { update_id: None, ..q },
        ] {
            assert!(d.admit(&other, 10), "{other:?} differs");
        }
        assert_eq!(d.counters().duplicates, 1);
    }

    #[test]
    fn an_absent_side_is_absent_whatever_its_fields_hold() {
        let mut d = QuoteDedupe::new(DedupeConfig::default());
        let q = quote(1, 10, 11, Some(5), None);
        assert!(d.admit(&q, 10));
        assert!(
            !d.admit(&Quote { ask_px: Fixed::from_int(9).expect("fixed"), ..q }, 10),
            "a stale price behind has_ask = false"
        );
    }

    proptest! {
        /// Against an oracle that remembers every quote with the event time of its first
        /// occurrence: a quote is new unless seen at or after `watermark − ttl` (the horizon).
        #[test]
        fn matches_a_map_of_first_occurrences(
            quotes in prop::collection::vec((0u32..3, 0i64..40, 0i64..2, prop::option::of(0i64..3)), 1..300),
        ) {
            let cfg = DedupeConfig::builder().ttl(std::time::Duration::from_nanos(10)).build().expect("cfg");
            let mut d = QuoteDedupe::new(cfg);
            let mut first: HashMap<(u32, i64, i64, Option<i64>), i64> = HashMap::new();
            let mut wm = i64::MIN;
            for (inst, ts, recv, bid) in quotes {
                wm = wm.max(ts - 5);
                let q = quote(inst, ts, recv, bid, Some(4));
                let k = (inst, ts, recv, bid); // the oracle's own key: every field that varies
                let fresh = first.get(&k).is_none_or(|&t| t < wm - 10);
                if fresh {
                    first.insert(k, ts);
                }
                prop_assert_eq!(d.admit(&q, wm), fresh, "{:?} at watermark {}", q, wm);
            }
        }
    }
}
