//! Quote bars computed the plain way (design.md §3), from quotes read by the test itself:
//! the independent oracle of the quote tests.

use std::collections::BTreeMap;

/// The quote bars CSV header (design.md §5).
pub const QUOTE_HEADER: &str = "instrument,window_start,window_end,bid_open,bid_high,bid_low,bid_close,ask_open,\
ask_high,ask_low,ask_close,spread_min,spread_max,spread_twa,quote_count,crossed_count,revision";
/// One second in ns.
pub const SECOND: i64 = 1_000_000_000;

/// A decimal text as an integer of 10⁻⁹ units.
pub fn dec(t: &str) -> i128 {
    let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let v = int.parse::<i128>().expect("int") * 1_000_000_000 + format!("{frac:0<9}").parse::<i128>().expect("frac");
    if neg {
        -v
    } else {
        v
    }
}

/// 10⁻⁹ units as design.md §5 prints them: exact, trailing zeros trimmed.
pub fn text(v: i128) -> String {
    let (sign, m) = if v < 0 { ("-", -v) } else { ("", v) };
    let frac = format!("{:09}", m % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", m / 1_000_000_000)
    } else {
        format!("{sign}{}.{frac}", m / 1_000_000_000)
    }
}

fn opt(v: Option<i128>) -> String {
    v.map(text).unwrap_or_default()
}

/// `n / d` rounded half away from zero.
pub fn round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

/// One quote: `(ts_event, ts_recv, bid price, ask price)`, in file order.
pub type Q = (i64, i64, Option<i128>, Option<i128>);

/// The quote bars CSV of `quotes` (all one instrument) at 1 s, computed the plain way.
pub fn quote_bars(name: &str, quotes: &[Q]) -> String {
    quote_bars_at(name, quotes, SECOND)
}

/// The quote bars CSV of `quotes` (all one instrument) at `width` ns, computed the plain way.
pub fn quote_bars_at(name: &str, quotes: &[Q], width: i64) -> String {
    let mut windows: BTreeMap<i64, Vec<(usize, Q)>> = BTreeMap::new();
    for (k, q) in quotes.iter().enumerate() {
        windows.entry(q.0.div_euclid(width) * width).or_default().push((k, *q));
    }
    let mut out = format!("{QUOTE_HEADER}\n");
    for (start, mut qs) in windows {
        qs.sort_by_key(|(k, q)| (q.0, q.1, *k));
        let qs: Vec<Q> = qs.into_iter().map(|(_, q)| q).collect();
        let end = start + width;
        let bids: Vec<i128> = qs.iter().filter_map(|q| q.2).collect();
        let asks: Vec<i128> = qs.iter().filter_map(|q| q.3).collect();
        let two: Vec<(usize, i128)> = qs.iter().enumerate().filter_map(|(i, q)| Some((i, q.3? - q.2?))).collect();
        let (mut num, mut den) = (0i128, 0i128);
        for &(i, spread) in &two {
            let until = qs.get(i + 1).map_or(end, |n| n.0);
            num += spread * i128::from(until - qs[i].0);
            den += i128::from(until - qs[i].0);
        }
        let spreads: Vec<i128> = two.iter().map(|t| t.1).collect();
        out += &format!(
            "{name},{start},{end},{},{},{},{},{},{},{},{},{},{},{},{},{},0\n",
            opt(bids.first().copied()),
            opt(bids.iter().max().copied()),
            opt(bids.iter().min().copied()),
            opt(bids.last().copied()),
            opt(asks.first().copied()),
            opt(asks.iter().max().copied()),
            opt(asks.iter().min().copied()),
            opt(asks.last().copied()),
            opt(spreads.iter().min().copied()),
            opt(spreads.iter().max().copied()),
            opt((den > 0).then(|| round(num, den))),
            qs.len(),
            spreads.iter().filter(|&&s| s <= 0).count(),
        );
    }
    out
}
