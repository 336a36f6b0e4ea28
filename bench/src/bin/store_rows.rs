//! Store throughput: rows/s written to PostgreSQL by the write coordinator at batch sizes 1,
//! 100 and 1000, beside a hand-written loop of single-row upserts on one connection, all in
//! one run against one throwaway server (default durability: `fsync` and
//! `synchronous_commit` on), interleaved, median of RUNS.
//!
//! `target/release/store_rows [ROWS] [RUNS]` (defaults 20000 and 3). Needs Debian's
//! `postgresql` package (the server is started and removed by the program).

#[path = "../../../tests/common/pg.rs"]
mod pg;

use std::time::{Duration, Instant};
use ticklane::operators::store::{PgStore, StoreConfig, StoreCoordinator, StoreRow};
use ticklane::{Bar, Fixed, InstrumentId, Wide};

fn bars(rows: usize) -> Vec<StoreRow> {
    (0..rows)
        .map(|i| {
            let px = Fixed::from_raw(1_000_000_000_000 + (i as i64 % 977) * 10_000_000);
            StoreRow {
                instrument: format!("SYM{:04}", i % 1000).into(),
                bar: Bar {
                    instrument: InstrumentId((i % 1000) as u32),
                    window_start: 1_700_000_000_000_000_000 + (i / 1000) as i64 * 1_000_000_000,
                    window_end: 1_700_000_000_000_000_000 + (i / 1000 + 1) as i64 * 1_000_000_000,
                    open: px,
                    high: px,
                    low: px,
                    close: px,
                    volume: Wide::from_raw(12_345_000_000),
                    trade_count: 7,
                    vwap: px,
                    ..Bar::default()
                },
            }
        })
        .collect()
}

/// The coordinator at `batch` rows per write (one writer; the sink side is the queue push).
fn coordinator(url: &str, table: &str, rows: &[StoreRow], batch: usize) -> Result<f64, String> {
    let store = PgStore::connect(url, table).map_err(|e| e.to_string())?;
    let cfg = StoreConfig::builder()
        .batch(batch, Duration::from_millis(50))
        .watermarks(rows.len(), rows.len() + 1)
        .build()
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let coord = StoreCoordinator::start(cfg, vec![store]).map_err(|e| e.to_string())?;
    // Without an engine there is no instrument table: rows are named "#id" (the baseline
    // writes the same names).
    coord.handle().push(rows.iter().map(|r| &r.bar));
    let report = coord.finish();
    let secs = t.elapsed().as_secs_f64();
    if report.written != rows.len() as u64 {
        return Err(format!("wrote {} of {} rows: {:?}", report.written, rows.len(), report.last_error));
    }
    Ok(rows.len() as f64 / secs)
}

/// The baseline: one prepared single-row upsert per bar, autocommit, one connection.
fn single_row_loop(url: &str, table: &str, rows: &[StoreRow]) -> Result<f64, String> {
    // Create the table with the store's schema, then write with plain statements.
    drop(PgStore::connect(url, table).map_err(|e| e.to_string())?);
    let mut c = postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
    let stmt = c
        .prepare(&format!(
            "INSERT INTO {table} (instrument, window_start, window_end, open, high, low, close, volume, trade_count, vwap, revision)
             VALUES ($1, $2, $3, $4::text::numeric, $5::text::numeric, $6::text::numeric, $7::text::numeric,
                     $8::text::numeric, $9, $10::text::numeric, $11)
             ON CONFLICT (instrument, window_start) DO UPDATE SET close = EXCLUDED.close, revision = EXCLUDED.revision
             WHERE {table}.revision <= EXCLUDED.revision"
        ))
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    for r in rows {
        let b = &r.bar;
        let name = format!("#{}", b.instrument.0);
        let (o, h, l, cl, v, vw) = (
            b.open.to_string(),
            b.high.to_string(),
            b.low.to_string(),
            b.close.to_string(),
            b.volume.to_string(),
            b.vwap.to_string(),
        );
        c.execute(
            &stmt,
            &[
                &name,
                &b.window_start,
                &b.window_end,
                &o,
                &h,
                &l,
                &cl,
                &v,
                &(b.trade_count as i64),
                &vw,
                &(b.revision as i32),
            ],
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(rows.len() as f64 / t.elapsed().as_secs_f64())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args.get(1).map_or(Ok(20_000), |s| s.parse()).map_err(|e| format!("ROWS: {e}"))?;
    let runs: usize = args.get(2).map_or(Ok(3), |s| s.parse()).map_err(|e| format!("RUNS: {e}"))?;
    let db = pg::PgCluster::start_with("");
    let url = db.url();
    let rows = bars(rows);
    let names = ["single-row loop", "coordinator batch 1", "coordinator batch 100", "coordinator batch 1000"];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for run in 0..runs.max(1) {
        for (i, rate) in rates.iter_mut().enumerate() {
            let table = format!("bench_{run}_{i}");
            rate.push(match i {
                0 => single_row_loop(&url, &table, &rows)?,
                1 => coordinator(&url, &table, &rows, 1)?,
                2 => coordinator(&url, &table, &rows, 100)?,
                _ => coordinator(&url, &table, &rows, 1000)?,
            });
        }
    }
    let base = median(&mut rates[0].clone());
    println!("store rows/s, {} rows per run, median of {} interleaved runs:", rows.len(), runs.max(1));
    for (name, r) in names.iter().zip(&mut rates) {
        let m = median(r);
        println!("  {name:<24} {m:>12.0} rows/s  {:>7.2}x the single-row loop", m / base);
    }
    Ok(())
}
