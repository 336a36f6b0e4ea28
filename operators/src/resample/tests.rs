use super::*;
use crate::time_bars::{TimeBars, TimeBarsConfig};
use proptest::prelude::*;
use ticklane_engine::{Fixed, InstrumentId, Record, NO_TS};

/// What a level of the chain emitted: bars and late trades, with their stamps.
#[derive(Default)]
struct Emitted {
    bars: Vec<Stamped<Bar>>,
    side: Vec<Stamped<Trade>>,
}

/// A chain: time bars at the finest width, then resamplers, each fed the level above's chain
/// output as the shard feeds a downstream node (what it emitted for a batch, then the
/// watermark).
struct Chain {
    fine: TimeBars,
    coarse: Vec<Resample>,
    /// Everything each level emitted on its outputs 0 and 1 (0: the time bars).
    out: Vec<Emitted>,
}

impl Chain {
    fn new(widths: &[u64], offset: u64, late: LatePolicy) -> Chain {
        let d = Duration::from_nanos;
        let last = widths.len() - 1;
        let fine = TimeBarsConfig::builder(d(widths[0])).offset(d(offset)).late(late).chain(last > 0);
        let coarse = (1..widths.len())
            .map(|i| {
                let cfg = ResampleConfig::builder(d(widths[i - 1]), d(widths[i])).offset(d(offset)).late(late);
                Resample::new(cfg.chain(i < last).build().expect("resample config"))
            })
            .collect();
        let out = (0..widths.len()).map(|_| Emitted::default()).collect();
        Chain { fine: TimeBars::new(fine.build().expect("config")), coarse, out }
    }

    /// One batch of trades, then the watermark after it.
    fn batch(&mut self, trades: &[Stamped<Trade>], wm: Timestamp) {
        let (mut bars, mut side, mut chain) = (Vec::new(), Vec::new(), Vec::new());
        self.fine.process(trades, &mut bars, Some(&mut side));
        self.fine.chain_into(&bars, &mut chain);
        let n = bars.len();
        self.fine.watermark(wm, &mut bars);
        chain.extend_from_slice(&bars[n..]);
        self.out[0].bars.extend(bars);
        self.out[0].side.extend(side);
        for (i, r) in self.coarse.iter_mut().enumerate() {
            let (mut b2, mut s2, mut c2) = (Vec::new(), Vec::new(), Vec::new());
            r.windows.passed.clear();
            r.on_bars(&chain, &mut Out { bars: &mut b2, side: Some(&mut s2), base: 0 });
            r.windows.passed.interleave(&b2, &mut c2);
            let n = b2.len();
            r.windows.advance(wm, &mut b2);
            c2.extend_from_slice(&b2[n..]);
            chain = c2;
            self.out[i + 1].bars.extend(b2);
            self.out[i + 1].side.extend(s2);
        }
    }
}

/// The time bars of `width` built directly from the trades, batch by batch as above.
fn direct(width: u64, offset: u64, late: LatePolicy, batches: &[(Vec<Stamped<Trade>>, Timestamp)]) -> Emitted {
    let d = Duration::from_nanos;
    let cfg = TimeBarsConfig::builder(d(width)).offset(d(offset)).late(late).build().expect("config");
    let mut op = TimeBars::new(cfg);
    let mut e = Emitted::default();
    for (trades, wm) in batches {
        op.process(trades, &mut e.bars, Some(&mut e.side));
        op.watermark(*wm, &mut e.bars);
    }
    e
}

/// Bars in the egress's order: by stamp, then instrument (then as emitted: a revision after
/// the bar it revises).
fn ordered(mut bars: Vec<Stamped<Bar>>) -> Vec<Stamped<Bar>> {
    bars.sort_by_key(|b| (b.wm, b.rec.instrument.0));
    bars
}

fn trade(inst: u32, ts: i64, recv: Option<i64>, px: i64, sz: i64) -> Trade {
    Trade {
        ts_event: ts,
        ts_recv: recv.unwrap_or(NO_TS),
        price: Fixed::from_raw(px),
        size: Fixed::from_raw(sz),
        instrument: InstrumentId(inst),
        ..Trade::default()
    }
}

/// Records stamped as the ingress stamps them, cut into batches; each batch with the
/// watermark after it (the last: +∞, the end of input). Shared with the quote resample tests.
pub(super) fn batches<R: Record>(recs: &[R], delay: i64, cuts: &[usize]) -> Vec<(Vec<Stamped<R>>, Timestamp)> {
    let mut max_ts = i64::MIN;
    let stamped: Vec<Stamped<R>> = recs
        .iter()
        .map(|r| {
            let wm = max_ts.saturating_sub(delay);
            max_ts = max_ts.max(r.ts_event());
            Stamped { wm, rec: *r }
        })
        .collect();
    let mut out = Vec::new();
    let (mut at, mut seen) = (0usize, i64::MIN);
    for &c in cuts.iter().chain([&usize::MAX]) {
        let end = at.saturating_add(c.max(1)).min(stamped.len());
        seen = stamped[at..end].iter().map(|r| r.rec.ts_event()).fold(seen, i64::max);
        let wm = if end == stamped.len() { i64::MAX } else { seen.saturating_sub(delay) };
        out.push((stamped[at..end].to_vec(), wm));
        at = end;
        if end == stamped.len() {
            break;
        }
    }
    out
}

fn arb_trade() -> impl Strategy<Value = Trade> {
    (0u32..3, 0i64..120, proptest::option::of(0i64..3), 1i64..30, 1i64..6)
        .prop_map(|(i, ts, recv, px, sz)| trade(i, ts, recv, px, sz))
}

/// Any late policy (shared with the quote resample tests).
pub(super) fn arb_late() -> impl Strategy<Value = LatePolicy> {
    prop_oneof![
        Just(LatePolicy::Drop),
        Just(LatePolicy::Side),
        (0i64..40, any::<bool>()).prop_map(|(l, side)| LatePolicy::Revise {
            allowed_lateness: l,
            beyond: if side { Beyond::Side } else { Beyond::Drop },
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A chain of widths w0 | w1 | w2, under any late policy, disorder and batching: each
    /// level's bars (revisions and stamps included) and late trades equal what time bars at
    /// that width give directly (level 0: the finest bars do not change when they feed a chain).
    #[test]
    fn resampled_bars_equal_direct_bars(
        trades in proptest::collection::vec(arb_trade(), 1..80),
        w0 in 1u64..6, k1 in 1u64..5, k2 in 1u64..5, offset_pick in 0u64..100,
        delay in 0i64..25, late in arb_late(), cuts in proptest::collection::vec(1usize..12, 0..20),
    ) {
        let widths = [w0, w0 * k1, w0 * k1 * k2];
        let offset = offset_pick % w0;
        let batches = batches(&trades, delay, &cuts);
        let mut chain = Chain::new(&widths, offset, late);
        for (b, wm) in &batches {
            chain.batch(b, *wm);
        }
        for (level, w) in widths.iter().enumerate() {
            let want = direct(*w, offset, late, &batches);
            let got = &chain.out[level];
            prop_assert_eq!(ordered(got.bars.clone()), ordered(want.bars), "width {} (level {})", w, level);
            // Late trades: the same ones, in the same order, with the same stamps (the trade id
            // and side do not travel through the chain; these trades have none).
            prop_assert_eq!(&got.side, &want.side, "late trades of width {}", w);
        }
    }
}

#[test]
fn the_coarse_width_must_be_a_multiple() {
    let e = ResampleConfig::builder(Duration::from_secs(2), Duration::from_secs(3)).build().expect_err("3 s of 2 s");
    assert!(matches!(e.violations[..], [ConfigViolation::NotMultiple { .. }]), "{e}");
    let e = ResampleConfig::builder(Duration::from_secs(2), Duration::from_secs(1)).build().expect_err("finer");
    assert!(matches!(e.violations[..], [ConfigViolation::NotMultiple { .. }]), "{e}");
}
