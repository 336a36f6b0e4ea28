//! Decimal parse and format, ns per value: `Fixed::parse_bytes` / `Fixed`'s `Display` beside
//! a plain hand-written integer parser (no error reporting, no range checks beyond overflow)
//! and the `f64` route most code takes (`str::parse::<f64>`, `{}` formatting — inexact, shown
//! for scale). 1M price/size strings taken from a synthetic capture.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::fmt::Write;
use ticklane::Fixed;
use ticklane_bench::synthetic_trades;

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

criterion_group!(benches, decimal);
criterion_main!(benches);
