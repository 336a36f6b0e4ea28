//! Quote bars and resampling, ns/event, beside hand-written single-threaded loops doing the
//! same jobs, in the same run (issue 13's speed item):
//! - `quote_bars`: 1 s quote bars of 1M in-order quotes over 1,000 instruments, 10 µs apart
//!   (every 7th quote one-sided). The hand loop is the strongest in-order program: one open
//!   window per instrument, the time-weighted spread accumulated as each quote arrives (no
//!   quote kept); ticklane's operator keeps each window's quotes, because it must accept any
//!   order before the window fires.
//! - `quote_resample_1s_1m`: 1 s and 1 m quote bars of the same quotes: ticklane's quote bars
//!   with a chain output and a quote resampler; the hand loop updates only a 1 s window per
//!   quote and folds each closed 1 s window into its instrument's 1 m window (the strongest
//!   in-order program: the 1 m work is per second, not per quote).
//! - `resample_1s_1m`: 1 s and 1 m bars of 1M trades: ticklane's time bars with a chain output
//!   and a resampler; the hand loop updates a 1 s accumulator per trade and folds each closed
//!   second into its 1 m accumulator.
//!
//! Batches of 256 with one call per batch per operator, as on a shard. Setup (outside the
//! timed loop) checks both sides produce the same bars.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;
use ticklane::operators::{
    QuoteBars, QuoteBarsConfig, QuoteResample, Resample, ResampleConfig, TimeBars, TimeBarsConfig,
};
use ticklane::{Bar, Fixed, InstrumentId, Quote, QuoteBar, Stamped, Trade, WM_END};
use ticklane_bench::{hand, stamped_with_duplicates};

const N: usize = 1_000_000;
const BATCH: usize = 256;
const SECOND: i64 = 1_000_000_000;

/// In-order quotes stamped with the watermark before each.
fn quotes() -> Vec<Stamped<Quote>> {
    let mut wm = i64::MIN;
    stamped_with_duplicates(N, 1_000, 10_000)
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let t = t.rec;
            let mut q =
                Quote { ts_event: t.ts_event, ts_recv: ticklane::NO_TS, instrument: t.instrument, ..Quote::default() };
            q = q.with_bid(t.price, t.size);
            if i % 7 != 0 {
                q = q.with_ask(Fixed::from_raw(t.price.raw() + 10_000_000 * (i % 3) as i64), t.size);
            }
            let s = Stamped { wm, rec: q };
            wm = wm.max(q.ts_event);
            s
        })
        .collect()
}

fn engine_quote_bars(input: &[Stamped<Quote>]) -> Vec<QuoteBar> {
    let mut op = QuoteBars::new(QuoteBarsConfig::builder(Duration::from_secs(1)).build().expect("config"));
    let mut out = Vec::with_capacity(16_384);
    for chunk in input.chunks(BATCH) {
        op.process(chunk, &mut out, None);
    }
    op.watermark(WM_END, &mut out);
    out.into_iter().map(|b| b.rec).collect()
}

/// One instrument's open quote window in the hand loop.
#[derive(Clone, Copy)]
struct Open {
    start: i64,
    bid: [Option<i64>; 4],
    ask: [Option<i64>; 4],
    spread: (Option<i64>, Option<i64>),
    num: i128,
    den: i128,
    /// The previous quote: its time and spread (two-sided only).
    last: (i64, Option<i64>),
    /// The first quote's time.
    first: i64,
    count: u64,
    crossed: u64,
}

fn side(s: &mut [Option<i64>; 4], px: i64) {
    s[0].get_or_insert(px);
    s[1] = Some(s[1].map_or(px, |h| h.max(px)));
    s[2] = Some(s[2].map_or(px, |l| l.min(px)));
    s[3] = Some(px);
}

fn close(inst: usize, o: &Open, width: i64, out: &mut Vec<QuoteBar>) {
    let end = o.start + width;
    let (mut num, mut den) = (o.num, o.den);
    if let Some(s) = o.last.1 {
        num += i128::from(s) * i128::from(end - o.last.0);
        den += i128::from(end - o.last.0);
    }
    let f = |v: Option<i64>| v.map(Fixed::from_raw);
    let twa = (den > 0).then(|| {
        let (q, r) = (num / den, num % den);
        Fixed::from_raw((q + if 2 * r.abs() >= den { num.signum() } else { 0 }) as i64)
    });
    out.push(QuoteBar {
        instrument: InstrumentId(inst as u32),
        window_start: o.start,
        window_end: end,
        bid_open: f(o.bid[0]),
        bid_high: f(o.bid[1]),
        bid_low: f(o.bid[2]),
        bid_close: f(o.bid[3]),
        ask_open: f(o.ask[0]),
        ask_high: f(o.ask[1]),
        ask_low: f(o.ask[2]),
        ask_close: f(o.ask[3]),
        spread_min: f(o.spread.0),
        spread_max: f(o.spread.1),
        spread_twa: twa,
        quote_count: o.count,
        crossed_count: o.crossed,
        revision: 0,
        spread_weighted: num,
        spread_time: den as i64,
        first_at: o.first,
        last_spread: f(o.last.1),
    });
}

/// The hand loop's quote bars of one width: one open window per instrument.
struct HandQuotes {
    width: i64,
    open: Vec<Option<Open>>,
}

impl HandQuotes {
    fn new(width: i64) -> HandQuotes {
        HandQuotes { width, open: vec![None; 1_000] }
    }

    #[inline]
    fn add(&mut self, q: &Quote, out: &mut Vec<QuoteBar>) {
        self.add_then(q, out, |_| {});
    }

    /// Adds a quote; `closed` is handed the window it closed, if any (its bar is in `out`).
    #[inline]
    fn add_then(&mut self, q: &Quote, out: &mut Vec<QuoteBar>, closed: impl FnOnce(&Open)) {
        let i = q.instrument.0 as usize;
        let start = q.ts_event.div_euclid(self.width) * self.width;
        if let Some(o) = self.open[i].filter(|o| o.start != start) {
            close(i, &o, self.width, out);
            closed(&o);
            self.open[i] = None;
        }
        let o = self.open[i].get_or_insert(Open {
            start,
            bid: [None; 4],
            ask: [None; 4],
            spread: (None, None),
            num: 0,
            den: 0,
            last: (q.ts_event, None),
            first: q.ts_event,
            count: 0,
            crossed: 0,
        });
        if let Some(s) = o.last.1 {
            o.num += i128::from(s) * i128::from(q.ts_event - o.last.0);
            o.den += i128::from(q.ts_event - o.last.0);
        }
        o.count += 1;
        let (b, a) = (q.bid().map(|b| b.0.raw()), q.ask().map(|a| a.0.raw()));
        if let Some(b) = b {
            side(&mut o.bid, b);
        }
        if let Some(a) = a {
            side(&mut o.ask, a);
        }
        let spread = b.zip(a).map(|(b, a)| a - b);
        if let Some(s) = spread {
            o.spread = (Some(o.spread.0.map_or(s, |m| m.min(s))), Some(o.spread.1.map_or(s, |m| m.max(s))));
            o.crossed += u64::from(s <= 0);
        }
        o.last = (q.ts_event, spread);
    }

    fn flush(&self, out: &mut Vec<QuoteBar>) {
        for (i, o) in self.open.iter().enumerate() {
            if let Some(o) = o {
                close(i, o, self.width, out);
            }
        }
    }
}

fn hand_quote_bars(input: &[Stamped<Quote>]) -> Vec<QuoteBar> {
    let mut h = HandQuotes::new(SECOND);
    let mut out = Vec::with_capacity(16_384);
    for q in input {
        h.add(&q.rec, &mut out);
    }
    h.flush(&mut out);
    out
}

/// Folds a closed window `o` into `m`, the later one: the time between `m`'s last quote and
/// `o`'s first is weighted by `m`'s last spread, as it would be quote by quote.
fn fold(m: &mut Open, o: &Open) {
    if let Some(s) = m.last.1 {
        m.num += i128::from(s) * i128::from(o.first - m.last.0);
        m.den += i128::from(o.first - m.last.0);
    }
    (m.num, m.den) = (m.num + o.num, m.den + o.den);
    for (m, o) in [(&mut m.bid, &o.bid), (&mut m.ask, &o.ask)] {
        if let [Some(open), Some(high), Some(low), Some(close)] = *o {
            m[0].get_or_insert(open);
            m[1] = Some(m[1].map_or(high, |h| h.max(high)));
            m[2] = Some(m[2].map_or(low, |l| l.min(low)));
            m[3] = Some(close);
        }
    }
    if let (Some(lo), Some(hi)) = o.spread {
        m.spread = (Some(m.spread.0.map_or(lo, |x| x.min(lo))), Some(m.spread.1.map_or(hi, |x| x.max(hi))));
    }
    (m.count, m.crossed, m.last) = (m.count + o.count, m.crossed + o.crossed, o.last);
}

/// The hand loop's coarse windows, fed closed fine windows (not quotes).
struct HandFold {
    width: i64,
    open: Vec<Option<Open>>,
}

impl HandFold {
    #[inline]
    fn add(&mut self, i: usize, o: &Open, out: &mut Vec<QuoteBar>) {
        let start = o.start.div_euclid(self.width) * self.width;
        if let Some(m) = self.open[i].filter(|m| m.start != start) {
            close(i, &m, self.width, out);
            self.open[i] = None;
        }
        match &mut self.open[i] {
            Some(m) => fold(m, o),
            none => *none = Some(Open { start, ..*o }),
        }
    }
}

/// 1 s and 1 m quote bars in one pass: per quote, only the instrument's 1 s window is updated;
/// each 1 s window, once closed, is folded into its 1 m window (per second, not per quote).
fn hand_quote_resample(input: &[Stamped<Quote>]) -> (usize, Vec<QuoteBar>) {
    let mut s = HandQuotes::new(SECOND);
    let mut m = HandFold { width: 60 * SECOND, open: vec![None; 1_000] };
    let (mut seconds, mut minutes) = (Vec::with_capacity(16_384), Vec::new());
    for q in input {
        s.add_then(&q.rec, &mut seconds, |o| m.add(q.rec.instrument.0 as usize, o, &mut minutes));
    }
    for (i, o) in s.open.iter().enumerate() {
        if let Some(o) = o {
            close(i, o, SECOND, &mut seconds);
            m.add(i, o, &mut minutes);
        }
    }
    for (i, o) in m.open.iter().enumerate() {
        if let Some(o) = o {
            close(i, o, m.width, &mut minutes);
        }
    }
    (seconds.len(), minutes)
}

/// ticklane's 1 s quote bars with a chain output feeding a quote resampler to 1 m.
fn engine_quote_resample(input: &[Stamped<Quote>]) -> (usize, Vec<QuoteBar>) {
    let (s, m) = (Duration::from_secs(1), Duration::from_secs(60));
    let mut fine = QuoteBars::new(QuoteBarsConfig::builder(s).chain(true).build().expect("1s"));
    let mut coarse = QuoteResample::new(ResampleConfig::builder(s, m).build().expect("1m"));
    let (mut bars, mut chain, mut minutes) = (Vec::new(), Vec::new(), Vec::new());
    let mut seconds = 0;
    for (k, chunk) in input.chunks(BATCH).chain([&[][..]]).enumerate() {
        let last = k == input.len().div_ceil(BATCH);
        fine.process(chunk, &mut bars, None);
        fine.chain_into(&bars, &mut chain);
        if last {
            let n = bars.len();
            fine.watermark(WM_END, &mut bars);
            chain.extend_from_slice(&bars[n..]);
        }
        coarse.process(&chain, &mut minutes);
        if last {
            coarse.watermark(WM_END, &mut minutes);
        }
        seconds += bars.len();
        bars.clear();
        chain.clear();
    }
    (seconds, minutes.into_iter().map(|b| b.rec).collect())
}

fn engine_resample(input: &[Stamped<Trade>]) -> (usize, Vec<Bar>) {
    let (s, m) = (Duration::from_secs(1), Duration::from_secs(60));
    let mut fine = TimeBars::new(TimeBarsConfig::builder(s).chain(true).build().expect("1s"));
    let mut coarse = Resample::new(ResampleConfig::builder(s, m).build().expect("1m"));
    let (mut bars, mut chain, mut minutes) = (Vec::new(), Vec::new(), Vec::new());
    let mut seconds = 0;
    let mut step =
        |bars: &mut Vec<Stamped<Bar>>, chain: &mut Vec<Stamped<Bar>>, fine: &mut TimeBars, wm: Option<i64>| {
            let n = bars.len();
            fine.chain_into(&bars[..n], chain);
            if let Some(wm) = wm {
                fine.watermark(wm, bars);
                chain.extend_from_slice(&bars[n..]);
                coarse.process(chain, &mut minutes, None);
                coarse.watermark(wm, &mut minutes);
            } else {
                coarse.process(chain, &mut minutes, None);
            }
            seconds += bars.len();
            bars.clear();
            chain.clear();
        };
    for chunk in input.chunks(BATCH) {
        fine.process(chunk, &mut bars, None);
        step(&mut bars, &mut chain, &mut fine, None);
    }
    step(&mut bars, &mut chain, &mut fine, Some(WM_END));
    (seconds, minutes.into_iter().map(|b| b.rec).collect())
}

fn hand_resample(input: &[Stamped<Trade>]) -> (usize, Vec<Bar>) {
    let (mut s, mut m) = (hand::Bars::new(SECOND), hand::Bars::new(60 * SECOND));
    let (mut seconds, mut minutes) = (Vec::new(), Vec::new());
    for t in input {
        s.add_then(&t.rec, &mut seconds, |o| m.fold(t.rec.instrument.0 as usize, o, &mut minutes));
    }
    s.flush_then(&mut seconds, |i, o| m.fold(i, o, &mut minutes));
    m.flush(&mut minutes);
    (seconds.len(), minutes.into_iter().map(|b| b.rec).collect())
}

/// What both sides must agree on for a bar (the hand loop truncates the vwap).
fn key(b: &Bar) -> (u32, i64, i64, i64, i64, i64, i128, u64) {
    (
        b.instrument.0,
        b.window_start,
        b.open.raw(),
        b.high.raw(),
        b.low.raw(),
        b.close.raw(),
        b.volume.raw(),
        b.trade_count,
    )
}

fn benches(c: &mut Criterion) {
    let q = quotes();
    let (mut e, mut h) = (engine_quote_bars(&q), hand_quote_bars(&q));
    e.sort_by_key(|b| (b.window_start, b.instrument.0));
    h.sort_by_key(|b| (b.window_start, b.instrument.0));
    assert!(e == h && e.len() > 9_000, "quote bars differ ({} vs {})", e.len(), h.len());
    let mut g = c.benchmark_group("quote_bars");
    g.throughput(Throughput::Elements(N as u64)).sample_size(20);
    g.bench_function("hand_written", |b| b.iter(|| hand_quote_bars(&q)));
    g.bench_function("ticklane", |b| b.iter(|| engine_quote_bars(&q)));
    g.finish();

    let ((es, mut em), (hs, mut hm)) = (engine_quote_resample(&q), hand_quote_resample(&q));
    em.sort_by_key(|b| (b.window_start, b.instrument.0));
    hm.sort_by_key(|b| (b.window_start, b.instrument.0));
    assert!(es == hs && em == hm && !em.is_empty(), "quote bars differ ({es} vs {hs} seconds)");
    let mut g = c.benchmark_group("quote_resample_1s_1m");
    g.throughput(Throughput::Elements(N as u64)).sample_size(20);
    g.bench_function("hand_written", |b| b.iter(|| hand_quote_resample(&q)));
    g.bench_function("ticklane", |b| b.iter(|| engine_quote_resample(&q)));
    g.finish();

    let t = stamped_with_duplicates(N, 1_000, 10_000);
    let ((es, mut em), (hs, mut hm)) = (engine_resample(&t), hand_resample(&t));
    em.sort_by_key(|b| (b.window_start, b.instrument.0));
    hm.sort_by_key(|b| (b.window_start, b.instrument.0));
    let (ek, hk): (Vec<_>, Vec<_>) = (em.iter().map(key).collect(), hm.iter().map(key).collect());
    assert!(es == hs && ek == hk, "bars differ ({es} vs {hs} seconds; {} vs {} minutes)", em.len(), hm.len());
    let mut g = c.benchmark_group("resample_1s_1m");
    g.throughput(Throughput::Elements(N as u64)).sample_size(20);
    g.bench_function("hand_written", |b| b.iter(|| hand_resample(&t)));
    g.bench_function("ticklane", |b| b.iter(|| engine_resample(&t)));
    g.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
