//! The single-threaded yardstick for `ticklane replay --dedupe --bars 1s`: the fastest correct
//! one-thread program we can write for that job, so that the engine's figures are against a
//! strong baseline (it runs at least as fast as `../shared/baseline`; `replay_harness
//! --baseline` shows both). Same semantics as the replay (design.md §2–§5): per-trade
//! watermark stamps (`max ts_event − max delay`), dedupe by `(instrument, trade_id)` within
//! 10 s of the watermark, late trades dropped, OHLC by `(ts_event, ts_recv, arrival)`, bars in
//! `(window_end, instrument)` order.
//!
//! It uses ticklane's own pieces where they are the fastest code we have for one thread — the
//! CSV block parser (no parse threads) and the dedupe table (prefetched probes) — and writes
//! everything else by hand: no engine, no rings, no threads. DBN input is decoded with a
//! plain `dbn` crate loop (instruments named `dataset:instrument_id`; no trade ids, so no
//! dedupe). Its output file is opened as the replay opens its own ([`open`]).
//!
//! Usage: `handwritten_replay INPUT OUTPUT.csv [--max-delay-ns N]`

use std::collections::BTreeMap;
use std::io::Write;
use ticklane::operators::{Dedupe, DedupeConfig};
use ticklane::{Bar, Fixed, InstrumentId, Stamped, Trade, Transform, Wide};
use ticklane_tools::format::push_bar_csv;
use ticklane_tools::input::{self, Chunk, Format, Merge, ReadOptions};

const WIDTH: i64 = 1_000_000_000;
const HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision\n";

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The output file, opened as `ticklane replay` opens its own (`ticklane_tools::replace`): an
/// earlier run's file is replaced rather than truncated, which spares the flush ext4 gives a
/// truncated file when it is closed; the replaced file is freed here, on the one thread.
fn open(output: &str) -> Res<std::fs::File> {
    let o = ticklane_tools::replace::open(output.as_ref())?;
    drop(o.replaced);
    if o.stale {
        o.file.set_len(0)?;
    }
    Ok(o.file)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        return Err("usage: handwritten_replay INPUT OUTPUT.csv [--max-delay-ns N]".into());
    };
    let max_delay = match args.get(3).map(String::as_str) {
        Some("--max-delay-ns") => args.get(4).ok_or("--max-delay-ns needs a value")?.parse()?,
        Some(other) => return Err(format!("unknown argument {other}").into()),
        None => 0,
    };
    let mut run = Replay::new(max_delay, open(output)?)?;
    if input.ends_with(".dbn") || input.ends_with(".dbn.zst") {
        read_dbn(input, &mut run)?;
    } else {
        read_csv(input, &mut run)?;
    }
    run.finish()
}

/// Every trade of a CSV capture, a parsed block at a time.
fn read_csv(path: &str, run: &mut Replay) -> Res<()> {
    let src = input::open(std::path::Path::new(path), &ReadOptions::new(Format::Auto))?;
    let mut merge = Merge::new(vec![src]);
    let mut chunk = Chunk::default();
    while merge.next_chunk(&mut chunk) {
        if let Some((_, e)) = chunk.errors.first() {
            return Err(e.to_string().into());
        }
        // A slice at a time, so that the slice, its stamped copy and what dedupe keeps stay
        // in the core's cache (a parsed block is a few thousand trades).
        for part in chunk.records.chunks_mut(SLICE) {
            for t in part.iter_mut() {
                t.instrument = run.intern(t.instrument.0, || merge.symbol(t.instrument.0).to_string());
            }
            run.batch(part)?;
        }
    }
    Ok(())
}

/// Trades handled at a time.
const SLICE: usize = 512;

/// Every trade of a DBN file, decoded with the `dbn` crate, in batches.
fn read_dbn(path: &str, run: &mut Replay) -> Res<()> {
    use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
    let mut d = DynDecoder::from_file(path, dbn::VersionUpgradePolicy::UpgradeToV3)?;
    let dataset = d.metadata().dataset.clone();
    let mut batch = Vec::with_capacity(SLICE);
    while let Some(r) = d.decode_record_ref()? {
        let Some(m) = r.get::<dbn::TradeMsg>() else { continue };
        let id = m.hd.instrument_id;
        let instrument = run.intern(id, || format!("{dataset}:{id}"));
        batch.push(Trade {
            ts_event: m.hd.ts_event as i64,
            ts_recv: m.ts_recv as i64,
            price: Fixed::from_raw(m.price),
            size: Fixed::from_raw(i64::from(m.size) * 1_000_000_000),
            instrument,
            ..Trade::default()
        });
        if batch.len() == batch.capacity() {
            run.batch(&batch)?;
            batch.clear();
        }
    }
    run.batch(&batch)
}

/// The whole job after parsing: stamps, dedupe, bars, output.
struct Replay {
    max_delay: i64,
    max_ts: i64,
    wm: i64,
    /// Reader symbol → our instrument index.
    ids: Vec<Option<InstrumentId>>,
    names: Vec<String>,
    dedupe: Dedupe,
    stamped: Vec<Stamped<Trade>>,
    kept: Vec<Stamped<Trade>>,
    bars: Bars,
    out: std::fs::File,
    buf: Vec<u8>,
}

impl Replay {
    fn new(max_delay: i64, out: std::fs::File) -> Res<Replay> {
        let cfg = DedupeConfig::builder().ttl(std::time::Duration::from_secs(10)).build()?;
        Ok(Replay {
            max_delay,
            max_ts: i64::MIN,
            wm: i64::MIN,
            ids: Vec::new(),
            names: Vec::new(),
            dedupe: Dedupe::new(cfg),
            stamped: Vec::new(),
            kept: Vec::new(),
            bars: Bars::default(),
            out,
            buf: HEADER.as_bytes().to_vec(),
        })
    }

    /// Our index for reader symbol `sym`, named by `name` on first sight.
    #[inline]
    fn intern(&mut self, sym: u32, name: impl FnOnce() -> String) -> InstrumentId {
        let s = sym as usize;
        if self.ids.len() <= s {
            self.ids.resize(s + 1, None);
        }
        *self.ids[s].get_or_insert_with(|| {
            self.names.push(name());
            InstrumentId(self.names.len() as u32 - 1)
        })
    }

    /// One batch: each trade stamped with the watermark before it, deduplicated, folded into
    /// its bar; then every window the watermark passed is written.
    fn batch(&mut self, trades: &[Trade]) -> Res<()> {
        self.stamped.clear();
        for &t in trades {
            self.stamped.push(Stamped { wm: self.wm, rec: t });
            if t.ts_event > self.max_ts {
                self.max_ts = t.ts_event;
                self.wm = t.ts_event.saturating_sub(self.max_delay);
            }
        }
        self.kept.clear();
        self.dedupe.on_batch(&self.stamped, &mut self.kept);
        for t in &self.kept {
            self.bars.add(t);
        }
        self.bars.fire(self.wm, &self.names, &mut self.buf);
        if self.buf.len() >= 1 << 20 {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> Res<()> {
        self.bars.fire(i64::MAX, &self.names, &mut self.buf);
        self.out.write_all(&self.buf)?;
        Ok(())
    }
}

/// `(ts_event, ts_recv, arrival)`: the order that decides open and close.
type Key = (i64, i64, u64);

/// One open bar.
#[derive(Clone, Copy)]
struct Acc {
    end: i64,
    first: (Key, Fixed),
    last: (Key, Fixed),
    high: Fixed,
    low: Fixed,
    volume: i128,
    notional: i128,
    count: u64,
}

/// Open bars per instrument (a few at most, with disorder), and which instruments have a bar
/// ending when.
#[derive(Default)]
struct Bars {
    open: Vec<Vec<Acc>>,
    due: BTreeMap<i64, Vec<u32>>,
    arrivals: u64,
    ranks: Vec<u32>,
    fired: Vec<(u32, Acc)>,
}

impl Bars {
    /// Folds a trade into its bar, or drops it if its window had closed before it arrived.
    #[inline]
    fn add(&mut self, s: &Stamped<Trade>) {
        let t = &s.rec;
        let end = t.ts_event.div_euclid(WIDTH) * WIDTH + WIDTH;
        self.arrivals += 1;
        if end <= s.wm {
            return; // late: dropped (the replay counts it)
        }
        let key = (t.ts_event, t.ts_recv, self.arrivals);
        let i = t.instrument.0 as usize;
        if self.open.len() <= i {
            self.open.resize_with(i + 1, Vec::new);
        }
        match self.open[i].iter_mut().find(|a| a.end == end) {
            Some(a) => a.fold(key, t),
            None => {
                self.open[i].push(Acc::new(end, key, t));
                self.due.entry(end).or_default().push(t.instrument.0);
            }
        }
    }

    /// Writes every bar whose window ends at or before `wm`, in `(window_end, name)` order.
    fn fire(&mut self, wm: i64, names: &[String], out: &mut Vec<u8>) {
        while let Some(entry) = self.due.first_entry() {
            if *entry.key() > wm {
                break;
            }
            let (end, insts) = entry.remove_entry();
            for i in insts {
                let open = &mut self.open[i as usize];
                let k = open.iter().position(|a| a.end == end).unwrap_or(0);
                self.fired.push((i, open.swap_remove(k)));
            }
            if self.ranks.len() < names.len() {
                self.ranks = ranks(names); // names only grow: new ones since the last ranking
            }
            let ranks = &self.ranks;
            self.fired.sort_unstable_by_key(|(i, _)| ranks[*i as usize]);
            for (i, a) in self.fired.drain(..) {
                a.write(&names[i as usize], out);
            }
        }
    }
}

/// Each name's place in sorted order.
fn ranks(names: &[String]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_unstable_by(|&a, &b| names[a].cmp(&names[b]));
    let mut ranks = vec![0; names.len()];
    for (r, i) in order.into_iter().enumerate() {
        ranks[i] = r as u32;
    }
    ranks
}

impl Acc {
    fn new(end: i64, key: Key, t: &Trade) -> Acc {
        let (p, q) = (t.price, i128::from(t.size.raw()));
        let notional = i128::from(p.raw()) * q;
        Acc { end, first: (key, p), last: (key, p), high: p, low: p, volume: q, notional, count: 1 }
    }

    #[inline]
    fn fold(&mut self, key: Key, t: &Trade) {
        let (p, q) = (t.price, i128::from(t.size.raw()));
        if key < self.first.0 {
            self.first = (key, p);
        }
        if key > self.last.0 {
            self.last = (key, p);
        }
        self.high = self.high.max(p);
        self.low = self.low.min(p);
        self.volume += q;
        self.notional += i128::from(p.raw()) * q;
        self.count += 1;
    }

    /// The bar as a CSV line (design.md §5), written by the replay's own formatter (the
    /// fastest we have: two digits per division, no `fmt` machinery).
    fn write(&self, name: &str, out: &mut Vec<u8>) {
        let vwap = if self.volume == 0 { i128::from(self.last.1.raw()) } else { round_div(self.notional, self.volume) };
        let bar = Bar {
            window_start: self.end - WIDTH,
            window_end: self.end,
            open: self.first.1,
            high: self.high,
            low: self.low,
            close: self.last.1,
            volume: Wide::from_raw(self.volume),
            trade_count: self.count,
            // Within [low, high], so it fits.
            vwap: Fixed::from_raw(vwap as i64),
            ..Bar::default()
        };
        push_bar_csv(out, name, &bar);
    }
}

/// `n / d` rounded half away from zero.
fn round_div(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.unsigned_abs() >= d.unsigned_abs() {
        q + n.signum() * d.signum()
    } else {
        q
    }
}
