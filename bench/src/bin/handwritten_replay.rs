//! The hand-written baseline for `ticklane replay --dedupe --bars 1s`: one thread, no engine.
//! Reads a ticklane CSV whose rows are in `ts_event` order (as `ticklane gen` writes without
//! `--disorder`), drops repeated `(instrument, trade_id)` within 10 s, builds 1 s OHLCV bars and
//! writes them in `(window_end, instrument)` order, one second at a time. Written the way a
//! competent engineer would for this one job: hashbrown + ahash maps, no per-row allocation.
//!
//! A `.dbn`/`.dbn.zst` input is decoded with the `dbn` crate instead (instruments named
//! `dataset:instrument_id`; DBN has no trade id, so nothing is deduplicated).
//!
//! Usage: `handwritten_replay INPUT OUTPUT.csv`

use ahash::RandomState;
use hashbrown::HashMap;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter, Write};

const W: i64 = 1_000_000_000;
const TTL: i64 = 10 * W;

#[derive(Clone, Copy)]
struct Open {
    start: i64,
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: i128,
    notional: i128,
    count: u64,
}

fn dec(b: &[u8]) -> Option<i64> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[..0]),
    };
    if frac.len() > 9 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in int.iter().chain(frac) {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    v.checked_mul(10i64.pow(9 - frac.len() as u32))
}

fn int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

fn text(n: i128) -> String {
    let s = format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn round_div(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d.abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (input, output) = match (args.get(1), args.get(2)) {
        (Some(i), Some(o)) => (i, o),
        _ => return Err("usage: handwritten_replay INPUT.csv OUTPUT.csv".into()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::fs::File::create(output)?);
    writeln!(out, "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision")?;
    let mut ids: HashMap<Vec<u8>, u32, RandomState> = HashMap::default();
    let mut names: Vec<String> = Vec::new();
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut seen: HashMap<(u32, u64), i64, RandomState> = HashMap::default();
    let mut expiry: VecDeque<(i64, (u32, u64))> = VecDeque::new();
    let mut done: Vec<(u32, Open)> = Vec::new();
    let mut wm = i64::MIN;
    let mut current_second = i64::MIN;
    let flush =
        |done: &mut Vec<(u32, Open)>, names: &[String], out: &mut BufWriter<std::fs::File>| -> std::io::Result<()> {
            done.sort_by(|a, b| (a.1.start, &names[a.0 as usize]).cmp(&(b.1.start, &names[b.0 as usize])));
            for (i, o) in done.drain(..) {
                writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},0",
                    names[i as usize],
                    o.start,
                    o.start + W,
                    text(i128::from(o.open)),
                    text(i128::from(o.high)),
                    text(i128::from(o.low)),
                    text(i128::from(o.close)),
                    text(o.volume),
                    o.count,
                    text(if o.volume == 0 { i128::from(o.close) } else { round_div(o.notional, o.volume) })
                )?;
            }
            Ok(())
        };
    // One trade: name, ts_event, price and size in 1e-9 units, trade id if any.
    let mut trade = |name: &[u8], ts: i64, px: i64, sz: i64, tid: Option<u64>| -> std::io::Result<()> {
        let inst = match ids.get(name) {
            Some(&i) => i,
            None => {
                let i = names.len() as u32;
                names.push(String::from_utf8_lossy(name).into_owned());
                ids.insert(name.to_vec(), i);
                open.push(None);
                i
            }
        };
        let before = wm;
        wm = wm.max(ts);
        if let Some(tid) = tid {
            // Dedupe against the watermark before this trade.
            let cutoff = before.saturating_sub(TTL);
            while let Some(&(t, k)) = expiry.front() {
                if t >= cutoff {
                    break;
                }
                expiry.pop_front();
                if seen.get(&k) == Some(&t) {
                    seen.remove(&k);
                }
            }
            if let Some(&first) = seen.get(&(inst, tid)) {
                if first >= cutoff {
                    return Ok(());
                }
            }
            seen.insert((inst, tid), ts);
            expiry.push_back((ts, (inst, tid)));
        }
        // Time moved into a new second: every bar of earlier seconds is final.
        let start = ts - ts.rem_euclid(W);
        if start > current_second {
            for (i, o) in open.iter_mut().enumerate() {
                if let Some(b) = o {
                    if b.start < start {
                        done.push((i as u32, *b));
                        *o = None;
                    }
                }
            }
            flush(&mut done, &names, &mut out)?;
            current_second = start;
        }
        let (p, q) = (i128::from(px), i128::from(sz));
        match &mut open[inst as usize] {
            Some(b) => {
                b.high = b.high.max(px);
                b.low = b.low.min(px);
                b.close = px;
                b.volume += q;
                b.notional += p * q;
                b.count += 1;
            }
            slot => {
                *slot =
                    Some(Open { start, open: px, high: px, low: px, close: px, volume: q, notional: p * q, count: 1 })
            }
        }
        Ok(())
    };
    if input.ends_with(".dbn") || input.ends_with(".dbn.zst") {
        use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
        let mut d = DynDecoder::from_file(input, dbn::VersionUpgradePolicy::UpgradeToV3)?;
        let dataset = d.metadata().dataset.clone();
        let mut label: HashMap<u32, Vec<u8>, RandomState> = HashMap::default();
        while let Some(r) = d.decode_record_ref()? {
            if let Some(t) = r.get::<dbn::TradeMsg>() {
                let id = t.hd.instrument_id;
                let name = label.entry(id).or_insert_with(|| format!("{dataset}:{id}").into_bytes());
                trade(name, t.hd.ts_event as i64, t.price, i64::from(t.size) * 1_000_000_000, None)?;
            }
        }
    } else {
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(input)?);
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line)?;
        let header: Vec<String> = String::from_utf8_lossy(&line).trim_end().split(',').map(str::to_string).collect();
        let col = |n: &str| header.iter().position(|h| h == n).ok_or(format!("no column {n}"));
        let (c_ts, c_inst, c_px, c_sz, c_id) =
            (col("ts_event")?, col("instrument")?, col("price")?, col("size")?, col("trade_id")?);
        let mut fields: Vec<(usize, usize)> = Vec::with_capacity(8);
        let mut n = 0u64;
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            n += 1;
            let end = line.iter().rposition(|&c| c != b'\n' && c != b'\r').map_or(0, |p| p + 1);
            fields.clear();
            let mut s = 0;
            for (i, &c) in line[..end].iter().enumerate() {
                if c == b',' {
                    fields.push((s, i));
                    s = i + 1;
                }
            }
            fields.push((s, end));
            let f = |k: usize| fields.get(k).map_or(&b""[..], |&(a, b)| &line[a..b]);
            let bad = || format!("line {}: malformed", n + 1);
            let ts = int(f(c_ts)).ok_or_else(bad)?;
            let px = dec(f(c_px)).ok_or_else(bad)?;
            let sz = dec(f(c_sz)).ok_or_else(bad)?;
            let tid = int(f(c_id)).ok_or_else(bad)? as u64;
            trade(f(c_inst), ts, px, sz, Some(tid))?;
        }
    }
    for (i, o) in open.iter_mut().enumerate() {
        if let Some(b) = o.take() {
            done.push((i as u32, b));
        }
    }
    flush(&mut done, &names, &mut out)?;
    out.flush()?;
    Ok(())
}
