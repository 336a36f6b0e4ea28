//! Decimal parse and format, ns per value: `Fixed::parse_bytes` / `Fixed`'s `Display` beside
//! a plain hand-written integer parser (no error reporting, no range checks beyond overflow)
//! and the `f64` route most code takes (`str::parse::<f64>`, `{}` formatting — inexact, shown
//! for scale). 1M price/size strings taken from a synthetic capture. Then whole bar lines.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write;
use ticklane::{Bar, Fixed, Wide};
use ticklane_bench::synthetic_trades;
use ticklane_tools::format::push_bar_csv;

/// The baseline: digits with an optional point, into 1e-9 units.
fn plain(b: &[u8]) -> Option<i64> {
    let mut v: i64 = 0;
    let mut frac: Option<u32> = None;
    for &c in b {
        match c {
            b'.' if frac.is_none() => frac = Some(0),
            b'0'..=b'9' => {
                v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
                if let Some(f) = &mut frac {
                    *f += 1;
                }
            }
            _ => return None,
        }
    }
    v.checked_mul(10i64.pow(9 - frac.unwrap_or(0).min(9)))
}

fn decimal(c: &mut Criterion) {
    let texts: Vec<String> =
        synthetic_trades(500_000, 1000).iter().flat_map(|t| [t.price.to_string(), t.size.to_string()]).collect();
    let n = texts.len() as u64;
    // Same values from both parsers: checked before timing.
    assert!(texts.iter().all(|t| Fixed::parse(t).ok().map(Fixed::raw) == plain(t.as_bytes())));

    let mut g = c.benchmark_group("decimal_parse");
    g.throughput(Throughput::Elements(n));
    g.bench_function("hand_written", |b| {
        b.iter(|| texts.iter().map(|t| plain(t.as_bytes()).unwrap_or(0)).fold(0i64, i64::wrapping_add))
    });
    g.bench_function("f64", |b| b.iter(|| texts.iter().map(|t| t.parse::<f64>().unwrap_or(0.0)).sum::<f64>()));
    g.bench_function("ticklane", |b| {
        b.iter(|| {
            texts.iter().map(|t| Fixed::parse_bytes(t.as_bytes()).map_or(0, Fixed::raw)).fold(0i64, i64::wrapping_add)
        })
    });
    g.finish();

    let values: Vec<Fixed> = texts.iter().filter_map(|t| Fixed::parse(t).ok()).collect();
    let floats: Vec<f64> = values.iter().map(|v| v.raw() as f64 / 1e9).collect();
    let mut g = c.benchmark_group("decimal_format");
    g.throughput(Throughput::Elements(n));
    let mut buf = String::with_capacity(64);
    g.bench_function("f64", |b| {
        b.iter(|| {
            let mut len = 0;
            for v in &floats {
                buf.clear();
                let _ = write!(buf, "{v}");
                len += buf.len();
            }
            len
        })
    });
    g.bench_function("ticklane", |b| {
        b.iter(|| {
            let mut len = 0;
            for v in &values {
                buf.clear();
                let _ = write!(buf, "{v}");
                len += buf.len();
            }
            len
        })
    });
    g.finish();
}

/// Whole bar lines as `ticklane replay` writes them (`push_bar_csv`), beside the same line
/// through `std::fmt` (for scale): 100,000 bars made from the synthetic trades, ns per bar.
fn bar_lines(c: &mut Criterion) {
    let bars: Vec<(String, Bar)> = synthetic_trades(100_000, 1000)
        .iter()
        .map(|t| {
            let end = t.ts_event.div_euclid(1_000_000_000) * 1_000_000_000 + 1_000_000_000;
            let (p, q) = (t.price, t.size);
            let bar = Bar {
                window_start: end - 1_000_000_000,
                window_end: end,
                open: p,
                high: Fixed::from_raw(p.raw() + 250_000_000),
                low: Fixed::from_raw(p.raw() - 1_000_000),
                close: p,
                volume: Wide::from_raw(i128::from(q.raw()) * 7),
                trade_count: 7 + t.instrument.0 as u64,
                vwap: Fixed::from_raw(p.raw() + 123_456_789),
                ..Bar::default()
            };
            (format!("SYM{}", t.instrument.0), bar)
        })
        .collect();
    let mut g = c.benchmark_group("bar_line");
    g.throughput(Throughput::Elements(bars.len() as u64));
    let mut out = Vec::with_capacity(16 << 20);
    g.bench_function("std_fmt", |b| {
        b.iter(|| {
            out.clear();
            for (name, bar) in &bars {
                let _ = std::io::Write::write_fmt(
                    &mut out,
                    format_args!(
                        "{name},{},{},{},{},{},{},{},{},{},{}\n",
                        bar.window_start,
                        bar.window_end,
                        bar.open,
                        bar.high,
                        bar.low,
                        bar.close,
                        bar.volume,
                        bar.trade_count,
                        bar.vwap,
                        bar.revision
                    ),
                );
            }
            out.len()
        })
    });
    g.bench_function("ticklane", |b| {
        b.iter(|| {
            out.clear();
            for (name, bar) in &bars {
                push_bar_csv(&mut out, name, bar);
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, decimal, bar_lines);
criterion_main!(benches);
