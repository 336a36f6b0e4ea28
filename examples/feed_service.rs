//! A trading service embedding ticklane: a feed thread pushes trades through the ingress, a
//! user-written operator turns them into OHLCV bars, and a callback sink on each shard thread
//! hands the bars to the service.
//!
//! ```text
//! cargo run --release --example feed_service -- [CAPTURE.csv] [BAR_SECONDS] [SHARDS]
//! ```
//! With no arguments it replays the bundled Binance BTCUSDT capture (Tardis CSV) and the
//! bundled CME ESH4 capture (ticklane CSV) into 60 s bars and prints them as CSV.
//!
//! The bar operator here is deliberately small (it is the "user-written operator" of the
//! example); the production windows and bars live in `ticklane::operators`.

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use ticklane::{
    Bar, Config, Counter, DagBuilder, Engine, Fixed, InstrumentId, Kind, Stamped, Timestamp, Trade, TradeId, Transform,
    Wide, NO_TS,
};

/// One parsed capture row: the instrument name and the trade (instrument id unset).
pub type Row = (String, Trade);

/// Reads a Tardis CSV (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`, µs)
/// or a ticklane CSV (`ts_event,ts_recv,instrument,price,size,side,trade_id`, ns), columns
/// found by name. Errors name `file:line` and what was expected.
pub fn read_capture(path: &Path) -> Result<Vec<Row>, Box<dyn Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or(format!("{}: empty file", path.display()))?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let tardis = col("local_timestamp").is_some();
    let (ts, recv, px, sz, side, id) = if tardis {
        (col("timestamp"), col("local_timestamp"), col("price"), col("amount"), col("side"), col("id"))
    } else {
        (col("ts_event"), col("ts_recv"), col("price"), col("size"), col("side"), col("trade_id"))
    };
    let (Some(ts), Some(px), Some(sz)) = (ts, px, sz) else {
        return Err(format!("{}:1: expected a header with time, price and size columns", path.display()).into());
    };
    let scale: i64 = if tardis { 1_000 } else { 1 };
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let at = || format!("{}:{}", path.display(), n + 2);
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).copied().unwrap_or("");
        let time = |s: &str| -> Result<Timestamp, String> {
            s.parse::<i64>()
                .ok()
                .and_then(|v| v.checked_mul(scale))
                .ok_or(format!("{}: expected an integer timestamp, found {s:?}", at()))
        };
        let name = if tardis {
            format!("{}:{}", get(col("exchange")), get(col("symbol")))
        } else {
            get(col("instrument")).to_string()
        };
        let trade = Trade {
            ts_event: time(get(Some(ts)))?,
            ts_recv: if get(recv).is_empty() { NO_TS } else { time(get(recv))? },
            price: Fixed::parse(get(Some(px))).map_err(|e| format!("{}: price: {e}", at()))?,
            size: Fixed::parse(get(Some(sz))).map_err(|e| format!("{}: size: {e}", at()))?,
            trade_id: TradeId::from_text(get(id).as_bytes()),
            instrument: InstrumentId(0),
            side: ticklane::Side::parse(get(side).as_bytes()).ok_or(format!("{}: expected a side", at()))?,
        };
        rows.push((name, trade));
    }
    Ok(rows)
}

#[derive(Clone, Copy)]
struct Open {
    bar: Bar,
    notional: i128,
    first: (Timestamp, Timestamp),
    last: (Timestamp, Timestamp),
}

/// Late trades [`SimpleBars`] dropped: a user operator's counter, declared once beside it.
pub const LATE: Counter = Counter::new("ticklane_late_events_total");

/// A user-written operator: event-time tumbling OHLCV bars per instrument, dropping (and
/// counting, as [`LATE`]) late trades. Each shard has its own instance, so it needs no lock.
pub struct SimpleBars {
    width: i64,
    wm: Timestamp,
    open: HashMap<(InstrumentId, Timestamp), Open>,
    fired: Vec<Bar>,
    late: u64,
}

impl SimpleBars {
    /// Bars `width` nanoseconds wide, aligned to the epoch.
    pub fn new(width: i64) -> SimpleBars {
        SimpleBars { width, wm: i64::MIN, open: HashMap::new(), fired: Vec::new(), late: 0 }
    }

    fn fire(&mut self, wm: Timestamp, out: &mut Vec<Stamped<Bar>>) {
        if wm <= self.wm {
            return;
        }
        self.wm = wm;
        self.fired.clear();
        self.open.retain(|&(_, start), o| {
            let due = start.saturating_add(self.width) <= wm;
            if due {
                let mut bar = o.bar;
                // vwap = Σ(price·size) / Σ size, rounded half away from zero to 9 decimals.
                let v = bar.volume.raw();
                if v != 0 {
                    let q = o.notional / v;
                    let r = o.notional % v;
                    let adj = if 2 * r.abs() >= v.abs() { o.notional.signum() * v.signum() } else { 0 };
                    bar.vwap = Fixed::from_raw((q + adj) as i64);
                }
                self.fired.push(bar);
            }
            !due
        });
        // Stamp = window end: deterministic, whatever watermark made it fire.
        self.fired.sort_by_key(|b| (b.window_end, b.instrument));
        out.extend(self.fired.iter().map(|&b| Stamped { wm: b.window_end, rec: b }));
    }
}

impl Transform<Trade, Bar> for SimpleBars {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Bar>>) {
        for t in input {
            if t.wm > self.wm {
                self.fire(t.wm, out); // judge each trade against the watermark before it
            }
            let tr = t.rec;
            let start = tr.ts_event.div_euclid(self.width) * self.width;
            if start.saturating_add(self.width) <= t.wm {
                self.late += 1;
                continue;
            }
            let key = (tr.ts_event, tr.ts_recv);
            let e = self.open.entry((tr.instrument, start)).or_insert(Open {
                bar: Bar {
                    instrument: tr.instrument,
                    window_start: start,
                    window_end: start + self.width,
                    open: tr.price,
                    high: tr.price,
                    low: tr.price,
                    close: tr.price,
                    ..Bar::default()
                },
                notional: 0,
                first: key,
                last: key,
            });
            let b = &mut e.bar;
            if key < e.first {
                e.first = key;
                b.open = tr.price;
            }
            if key >= e.last {
                e.last = key;
                b.close = tr.price;
            }
            b.high = b.high.max(tr.price);
            b.low = b.low.min(tr.price);
            b.volume = b.volume.checked_add(tr.size.wide()).unwrap_or(Wide::from_raw(i128::MAX));
            b.trade_count += 1;
            e.notional += i128::from(tr.price.raw()) * i128::from(tr.size.raw());
        }
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Vec<Stamped<Bar>>) {
        self.fire(wm, out);
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        report(LATE, self.late);
    }
}

/// Formats a bar as a design.md §5 CSV row.
pub fn bar_csv(name: &str, b: &Bar) -> String {
    format!(
        "{name},{},{},{},{},{},{},{},{},{},{}",
        b.window_start, b.window_end, b.open, b.high, b.low, b.close, b.volume, b.trade_count, b.vwap, b.revision
    )
}

/// Replays `files` (merged by `ts_event`, ties in file order) through feed → bars → callback
/// sink on `shards` shards; returns the bar rows in `(window_end, instrument)` order and the
/// late-trade count.
pub fn run(files: &[PathBuf], width_ns: i64, shards: usize) -> Result<(Vec<String>, u64), Box<dyn Error>> {
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_capture(f)?);
    }
    rows.sort_by_key(|(_, t)| t.ts_event); // stable: ties keep file order

    let (tx, rx) = crossbeam_channel::unbounded::<Bar>();
    let mut g = DagBuilder::new();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Bar, _, _>("bars", move |_| SimpleBars::new(width_ns))
        .sink_shard::<Bar, _, _>("service", move |_shard| {
            let tx = tx.clone();
            move |bars: &[Stamped<Bar>]| {
                bars.iter().for_each(|b| {
                    let _ = tx.send(b.rec);
                })
            }
        })
        .connect("feed", "bars")
        .connect("bars", "service");
    let mut engine = Engine::start(g.build()?, Config::builder().shards(shards).build()?)?;
    let mut feed = engine.ingress::<Trade>("feed")?;
    let interner = engine.interner().clone();

    let feeder = std::thread::spawn(move || -> Result<(), ticklane::PushError> {
        let mut ids: HashMap<String, InstrumentId> = HashMap::new();
        for (name, mut t) in rows {
            t.instrument = match ids.get(&name) {
                Some(&id) => id,
                None => *ids.entry(name.clone()).or_insert(feed.intern(&name)?),
            };
            feed.push(t)?;
        }
        feed.finish()
    });
    feeder.join().map_err(|_| "feed thread panicked")??;
    let report = engine.join()?;
    let late = report.stats.counter("bars", LATE);

    let mut bars: Vec<(Timestamp, String, String)> = rx
        .try_iter()
        .map(|b| {
            let name = interner.name(b.instrument).unwrap_or_default().to_string();
            (b.window_end, name.clone(), bar_csv(&name, &b))
        })
        .collect();
    bars.sort();
    Ok((bars.into_iter().map(|(_, _, row)| row).collect(), late))
}

/// The bundled captures, relative to the repository root.
pub fn bundled() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    vec![
        root.join("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"),
        root.join("GLBX_ESH4_trades_2023-12-25.csv"),
    ]
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files = match args.first() {
        Some(f) => vec![PathBuf::from(f)],
        None => bundled(),
    };
    let secs: i64 = args.get(1).map_or(Ok(60), |s| s.parse()).map_err(|e| format!("BAR_SECONDS: {e}"))?;
    let shards: usize = args.get(2).map_or(Ok(2), |s| s.parse()).map_err(|e| format!("SHARDS: {e}"))?;
    let (rows, late) = run(&files, secs * 1_000_000_000, shards)?;
    println!("instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision");
    for r in &rows {
        println!("{r}");
    }
    eprintln!("{} bars, {late} late trades dropped", rows.len());
    Ok(())
}
