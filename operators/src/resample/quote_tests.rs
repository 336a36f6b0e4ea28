use super::*;
use crate::quote_bars::{QuoteBars, QuoteBarsConfig};
use crate::resample::tests::{arb_late, batches};
use crate::window::{Beyond, LatePolicy};
use crate::ResampleConfig;
use proptest::prelude::*;
use std::time::Duration;
use ticklane_engine::Quote;

/// Quotes cut into batches, each with the watermark after it.
type Batches = Vec<(Vec<Stamped<Quote>>, Timestamp)>;

/// A chain: quote bars at the finest width, then quote resamplers, each fed the level above's
/// chain output as the shard feeds a downstream node (what it emitted for a batch, then the
/// watermark).
struct Chain {
    fine: QuoteBars,
    coarse: Vec<QuoteResample>,
    /// What each level emitted on output 0 (0: the quote bars).
    out: Vec<Vec<Stamped<QuoteBar>>>,
}

impl Chain {
    fn new(widths: &[u64], offset: u64, late: LatePolicy) -> Chain {
        let d = Duration::from_nanos;
        let last = widths.len() - 1;
        let fine = QuoteBarsConfig::builder(d(widths[0])).offset(d(offset)).late(late).chain(last > 0);
        let coarse = (1..widths.len())
            .map(|i| {
                let cfg = ResampleConfig::builder(d(widths[i - 1]), d(widths[i])).offset(d(offset)).late(late);
                QuoteResample::new(cfg.chain(i < last).build().expect("resample config"))
            })
            .collect();
        let out = widths.iter().map(|_| Vec::new()).collect();
        Chain { fine: QuoteBars::new(fine.build().expect("config")), coarse, out }
    }

    fn batch(&mut self, quotes: &[Stamped<Quote>], wm: Timestamp) {
        let (mut bars, mut side, mut chain) = (Vec::new(), Vec::new(), Vec::new());
        self.fine.process(quotes, &mut bars, Some(&mut side));
        self.fine.chain_into(&bars, &mut chain);
        let n = bars.len();
        self.fine.watermark(wm, &mut bars);
        chain.extend_from_slice(&bars[n..]);
        self.out[0].extend(bars);
        for (i, r) in self.coarse.iter_mut().enumerate() {
            let (mut b2, mut c2) = (Vec::new(), Vec::new());
            r.process(&chain, &mut b2);
            r.chain_into(&b2, &mut c2);
            let n = b2.len();
            r.watermark(wm, &mut b2);
            c2.extend_from_slice(&b2[n..]);
            chain = c2;
            self.out[i + 1].extend(b2);
        }
    }
}

/// The quote bars of `width` built directly from the quotes: the bars and the late quotes.
fn direct(
    width: u64,
    offset: u64,
    late: LatePolicy,
    batches: &Batches,
) -> (Vec<Stamped<QuoteBar>>, Vec<Stamped<Quote>>) {
    let d = Duration::from_nanos;
    let cfg = QuoteBarsConfig::builder(d(width)).offset(d(offset)).late(late).build().expect("config");
    let mut op = QuoteBars::new(cfg);
    let (mut bars, mut side) = (Vec::new(), Vec::new());
    for (quotes, wm) in batches {
        op.process(quotes, &mut bars, Some(&mut side));
        op.watermark(*wm, &mut bars);
    }
    (bars, side)
}

/// Bars in the egress's order: by stamp, then instrument (then as emitted).
fn ordered(mut bars: Vec<Stamped<QuoteBar>>) -> Vec<Stamped<QuoteBar>> {
    bars.sort_by_key(|b| (b.wm, b.rec.instrument.0));
    bars
}

fn quote(inst: u32, ts: i64, recv: Option<i64>, bid: Option<i64>, ask: Option<i64>) -> Quote {
    let mut q =
        Quote { ts_event: ts, ts_recv: recv.unwrap_or(NO_TS), instrument: InstrumentId(inst), ..Quote::default() };
    if let Some(b) = bid {
        q = q.with_bid(Fixed::from_raw(b), Fixed::ONE);
    }
    if let Some(a) = ask {
        q = q.with_ask(Fixed::from_raw(a), Fixed::ONE);
    }
    q
}

/// `late` with its quotes beyond the horizon sent to the side output (to see which they are).
fn to_side(late: LatePolicy) -> LatePolicy {
    match late {
        LatePolicy::Revise { allowed_lateness, .. } => LatePolicy::Revise { allowed_lateness, beyond: Beyond::Side },
        _ => LatePolicy::Side,
    }
}

/// The batches without the quotes the finest level did not take in (their stamps and the
/// batches' watermarks unchanged).
fn taken_in(batches: &Batches, w0: u64, offset: u64, late: LatePolicy) -> Batches {
    let (_, refused) = direct(w0, offset, to_side(late), batches);
    let kept = |q: &Stamped<Quote>| !refused.contains(q);
    batches.iter().map(|(qs, wm)| (qs.iter().copied().filter(kept).collect(), *wm)).collect()
}

fn arb_quote() -> impl Strategy<Value = Quote> {
    let px = || proptest::option::of(90i64..110);
    (0u32..3, 0i64..120, proptest::option::of(0i64..3), px(), px())
        .prop_map(|(i, ts, recv, bid, ask)| quote(i, ts, recv, bid, ask))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A chain of widths w0 | w1 | w2, under any late policy, disorder and batching: each
    /// coarser level's quote bars (revisions, stamps and the carried sums included) equal the
    /// quote bars built at that width directly from the quotes the finest level took in; the
    /// finest level's bars do not change when they feed a chain.
    #[test]
    fn resampled_quote_bars_equal_direct_quote_bars(
        quotes in proptest::collection::vec(arb_quote(), 1..80),
        w0 in 1u64..6, k1 in 1u64..5, k2 in 1u64..5, offset_pick in 0u64..100,
        delay in 0i64..25, late in arb_late(), cuts in proptest::collection::vec(1usize..12, 0..20),
    ) {
        let widths = [w0, w0 * k1, w0 * k1 * k2];
        let offset = offset_pick % w0;
        let batches = batches(&quotes, delay, &cuts);
        let mut chain = Chain::new(&widths, offset, late);
        for (b, wm) in &batches {
            chain.batch(b, *wm);
        }
        let (fine, _) = direct(w0, offset, late, &batches);
        prop_assert_eq!(ordered(chain.out[0].clone()), ordered(fine), "the finest level");
        let taken = taken_in(&batches, w0, offset, late);
        for (level, w) in widths.iter().enumerate().skip(1) {
            let (want, side) = direct(*w, offset, late, &taken);
            prop_assert!(side.is_empty(), "a quote the finest level took in is on time for a coarser one");
            prop_assert_eq!(ordered(chain.out[level].clone()), ordered(want), "width {} (level {})", w, level);
        }
    }
}

#[test]
fn a_two_sided_last_quote_weighs_on_into_the_next_fine_window() {
    // 1 ns fine bars, 4 ns coarse: spread 2 from t=0 (across the empty windows 1 and 2), spread
    // 6 from t=3 to the end: (2·3 + 6·1) / 4 = 3. A one-sided quote at t=1 would stop the clock.
    let (d, w) = (Duration::from_nanos, |q: &[Quote]| batches(q, 0, &[]));
    let run = |qs: &[Quote]| {
        let mut chain = Chain::new(&[1, 4], 0, LatePolicy::Drop);
        for (b, wm) in &w(qs) {
            chain.batch(b, *wm);
        }
        chain.out[1].iter().map(|b| (b.rec.spread_twa, b.rec.spread_time, b.rec.quote_count)).collect::<Vec<_>>()
    };
    let two = quote(0, 0, None, Some(10), Some(12));
    let wide = quote(0, 3, None, Some(10), Some(16));
    assert_eq!(run(&[two, wide]), vec![(Some(Fixed::from_raw(3)), 4, 2)]);
    let one_sided = quote(0, 1, None, Some(10), None);
    // Spread 2 for 1 ns, then nothing for 2 ns, then 6 for 1 ns: (2 + 6) / 2 = 4.
    assert_eq!(run(&[two, one_sided, wide]), vec![(Some(Fixed::from_raw(4)), 2, 3)]);
    let cfg = ResampleConfig::builder(d(1), d(4)).build().expect("cfg");
    assert_eq!(QuoteResample::chain_port(&cfg), None);
}
