use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use ticklane_engine::{Fixed, InstrumentId, NO_TS};

const S: i64 = 1_000_000_000;

fn quote(inst: u32, ts: i64, bid: Option<i64>, ask: Option<i64>) -> Quote {
    let mut q = Quote { ts_event: ts, ts_recv: NO_TS, instrument: InstrumentId(inst), ..Quote::default() };
    if let Some(b) = bid {
        q = q.with_bid(Fixed::from_raw(b), Fixed::ONE);
    }
    if let Some(a) = ask {
        q = q.with_ask(Fixed::from_raw(a), Fixed::ONE);
    }
    q
}

fn secs(s: u64) -> QuoteBarsBuilder {
    QuoteBarsConfig::builder(Duration::from_secs(s))
}

/// Runs `input` through one instance and ends the input.
fn run(
    cfg: QuoteBarsConfig,
    input: &[Stamped<Quote>],
) -> (Vec<Stamped<QuoteBar>>, Vec<Stamped<Quote>>, QuoteBarsCounters) {
    let mut op = QuoteBars::new(cfg);
    let (mut bars, mut side) = (Vec::new(), Vec::new());
    op.process(input, &mut bars, Some(&mut side));
    op.watermark(i64::MAX, &mut bars);
    (bars, side, op.counters())
}

/// Stamps quotes as the ingress does: each with `max_ts − delay` over the quotes before it.
fn stamp(quotes: &[Quote], delay: i64) -> Vec<Stamped<Quote>> {
    let mut max_ts = i64::MIN;
    quotes
        .iter()
        .map(|q| {
            let wm = max_ts.saturating_sub(delay);
            max_ts = max_ts.max(q.ts_event);
            Stamped { wm, rec: *q }
        })
        .collect()
}

#[test]
fn windows_fire_at_their_end_with_one_bar_each() {
    let input =
        stamp(&[quote(0, 0, Some(10), Some(12)), quote(1, S / 2, Some(5), None), quote(0, S, Some(11), Some(12))], 0);
    let (bars, _, c) = run(secs(1).build().expect("cfg"), &input);
    let mut got: Vec<_> =
        bars.iter().map(|b| (b.wm, b.rec.instrument.0, b.rec.window_start, b.rec.quote_count)).collect();
    got.sort_unstable(); // the egress orders by stamp; an instance may emit in any order
    assert_eq!(got, vec![(S, 0, 0, 1), (S, 1, 0, 1), (2 * S, 0, S, 1)]);
    assert_eq!((c.bars, c.late), (3, 0));
    let one_sided = bars.iter().find(|b| b.rec.instrument.0 == 1).expect("instrument 1");
    assert_eq!(one_sided.rec.spread_min, None, "a one-sided window has no spread");
}

#[test]
fn late_policies() {
    // The third quote (at 1.5 s) comes when the watermark is 2.5 s: window [1, 2) has fired.
    let input = [
        Stamped { wm: i64::MIN, rec: quote(0, S + 1, Some(10), Some(11)) },
        Stamped { wm: S + 1, rec: quote(0, 5 * S / 2, Some(10), Some(11)) },
        Stamped { wm: 5 * S / 2, rec: quote(0, 3 * S / 2, Some(9), Some(11)) },
    ];
    let (bars, side, c) = run(secs(1).build().expect("cfg"), &input);
    assert_eq!((bars.len(), side.len(), c.late, c.late_dropped), (2, 0, 1, 1));
    let (_, side, c) = run(secs(1).late(LatePolicy::Side).build().expect("cfg"), &input);
    assert_eq!((side.len(), c.late_side), (1, 1));
    let revise = LatePolicy::revise(Duration::from_secs(1), Beyond::Drop).expect("policy");
    let (bars, _, c) = run(secs(1).late(revise).build().expect("cfg"), &input);
    let revs: Vec<_> = bars
        .iter()
        .filter(|b| b.rec.window_start == S)
        .map(|b| (b.rec.revision, b.rec.quote_count, b.rec.bid_low, b.wm))
        .collect();
    assert_eq!(revs, vec![(0, 1, Some(Fixed::from_raw(10)), 2 * S), (1, 2, Some(Fixed::from_raw(9)), 5 * S / 2)]);
    assert_eq!((c.late, c.revised), (1, 1));
    let tight = LatePolicy::revise(Duration::from_millis(400), Beyond::Side).expect("policy");
    let (_, side, c) = run(secs(1).late(tight).build().expect("cfg"), &input);
    assert_eq!((c.revised, c.late_side, side.len()), (0, 1, 1));
}

#[test]
fn point_buffers_are_recycled() {
    let mut op = QuoteBars::new(secs(1).build().expect("cfg"));
    let mut bars = Vec::new();
    for k in 0..100 {
        op.process(&stamp(&[quote(0, k * S, Some(1), Some(2))], 0)[..], &mut bars, None);
        op.watermark(k * S + S, &mut bars);
    }
    assert_eq!((bars.len(), op.spare.len()), (100, 1), "one buffer goes round");
}

/// A quote as the oracle sees it: `(ts_event, arrival, bid, ask)`.
type Plain = (i64, u64, Option<i64>, Option<i64>);

/// The bar of one window computed the plain way, from all its quotes in tie order.
fn oracle_bar(inst: u32, start: i64, end: i64, qs: &[Plain]) -> QuoteBar {
    let mut qs = qs.to_vec();
    qs.sort_by_key(|q| (q.0, q.1));
    let bids: Vec<i64> = qs.iter().filter_map(|q| q.2).collect();
    let asks: Vec<i64> = qs.iter().filter_map(|q| q.3).collect();
    let spreads: Vec<i64> = qs.iter().filter_map(|q| Some(q.3? - q.2?)).collect();
    let (mut num, mut den) = (0i128, 0i128);
    for (i, q) in qs.iter().enumerate() {
        if let (Some(b), Some(a)) = (q.2, q.3) {
            let until = if i + 1 < qs.len() { qs[i + 1].0 } else { end };
            num += i128::from(a - b) * i128::from(until - q.0);
            den += i128::from(until - q.0);
        }
    }
    let f = |v: Option<i64>| v.map(Fixed::from_raw);
    let twa = (den > 0).then(|| {
        let (q, r) = (num / den, num % den);
        let away = if 2 * r.abs() >= den { num.signum() } else { 0 };
        Fixed::from_raw((q + away) as i64)
    });
    QuoteBar {
        instrument: InstrumentId(inst),
        window_start: start,
        window_end: end,
        bid_open: f(bids.first().copied()),
        bid_high: f(bids.iter().max().copied()),
        bid_low: f(bids.iter().min().copied()),
        bid_close: f(bids.last().copied()),
        ask_open: f(asks.first().copied()),
        ask_high: f(asks.iter().max().copied()),
        ask_low: f(asks.iter().min().copied()),
        ask_close: f(asks.last().copied()),
        spread_min: f(spreads.iter().min().copied()),
        spread_max: f(spreads.iter().max().copied()),
        spread_twa: twa,
        quote_count: qs.len() as u64,
        crossed_count: qs.iter().filter(|q| matches!((q.2, q.3), (Some(b), Some(a)) if a <= b)).count() as u64,
        revision: 0,
        spread_weighted: num,
        spread_time: den as i64,
        first_at: qs.first().map_or(NO_TS, |q| q.0),
        last_spread: qs.last().and_then(|q| Some(Fixed::from_raw(q.3? - q.2?))),
    }
}

fn arb_quote() -> impl Strategy<Value = Quote> {
    (0u32..3, 0i64..40, proptest::option::of(90i64..110), proptest::option::of(95i64..115))
        .prop_map(|(i, ts, b, a)| quote(i, ts, b, a))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// In any arrival order and any lateness bound, under `revise` with a horizon that keeps
    /// every window, each window's last revision equals the bar of all its quotes computed
    /// the plain way; with `drop` and no disorder beyond the delay, each window's one bar does.
    #[test]
    fn bars_equal_the_plain_computation(quotes in proptest::collection::vec(arb_quote(), 1..60), delay in 0i64..12, width in 1u64..9) {
        let window = Tumbling::new(Duration::from_nanos(width), Duration::ZERO).expect("w");
        let revise = LatePolicy::Revise { allowed_lateness: 1_000, beyond: Beyond::Drop };
        let cfg = QuoteBarsConfig::builder(Duration::from_nanos(width)).late(revise).build().expect("cfg");
        let (bars, _, c) = run(cfg, &stamp(&quotes, delay));
        let mut last: BTreeMap<(u32, i64), Stamped<QuoteBar>> = BTreeMap::new();
        for b in &bars {
            // Each emission of a window is the next revision, stamped no earlier than the last.
            let prev = last.insert((b.rec.instrument.0, b.rec.window_start), *b);
            prop_assert_eq!(prev.map_or(0, |p| p.rec.revision + 1), b.rec.revision);
            prop_assert!(prev.is_none_or(|p| p.wm <= b.wm));
            prop_assert!(b.wm >= b.rec.window_end);
        }
        let mut by_window: BTreeMap<(u32, i64), Vec<Plain>> = BTreeMap::new();
        for (k, q) in quotes.iter().enumerate() {
            let w = by_window.entry((q.instrument.0, window.start(q.ts_event))).or_default();
            w.push((q.ts_event, k as u64, q.bid().map(|b| b.0.raw()), q.ask().map(|a| a.0.raw())));
        }
        prop_assert_eq!(last.len(), by_window.len());
        for ((inst, start), qs) in &by_window {
            let mut got = last[&(*inst, *start)].rec;
            got.revision = 0;
            prop_assert_eq!(got, oracle_bar(*inst, *start, window.end(*start), qs));
        }
        prop_assert_eq!(c.bars as usize, bars.len());
    }
}
