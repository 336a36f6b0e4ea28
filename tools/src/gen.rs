//! `ticklane gen`: a deterministic synthetic trade capture for tests and benchmarks. The same
//! arguments always write the same bytes.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `ticklane gen`.
#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// Output file (ticklane CSV).
    #[arg(long)]
    pub out: PathBuf,
    /// Trades to write (duplicates included).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Number of instruments (`SYM0000` …).
    #[arg(long, default_value_t = 1000)]
    pub instruments: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fraction of rows that repeat an earlier row exactly (same trade_id), 0..1.
    #[arg(long, default_value_t = 0.0)]
    pub dup_fraction: f64,
    /// Bound on how far back in event time a row may be written (disorder).
    #[arg(long, value_parser = crate::duration::parse, default_value = "0s")]
    pub disorder: Duration,
    /// Mean gap between trades.
    #[arg(long, value_parser = crate::duration::parse, default_value = "100us")]
    pub spacing: Duration,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Writes the capture.
pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    anyhow::ensure!((0.0..1.0).contains(&a.dup_fraction), "--dup-fraction must be in [0, 1)");
    anyhow::ensure!(a.instruments > 0, "--instruments must be at least 1");
    let mut out = BufWriter::new(File::create(&a.out)?);
    writeln!(out, "ts_event,ts_recv,instrument,price,size,side,trade_id")?;
    let mut rng = Rng(a.seed);
    let spacing = a.spacing.as_nanos().max(1) as u64;
    let disorder = a.disorder.as_nanos() as u64;
    let mut clock: i64 = 1_700_000_000_000_000_000;
    let mut prices: Vec<i64> = (0..a.instruments).map(|i| 100_000 + i64::from(i) * 7).collect();
    let dup_threshold = (a.dup_fraction * u64::MAX as f64) as u64;
    let mut last = String::new();
    for id in 0..a.rows {
        if id > 0 && rng.next() < dup_threshold {
            out.write_all(last.as_bytes())?; // an exact repeat of the previous row
            continue;
        }
        clock += (rng.next() % (2 * spacing)) as i64;
        let back = if disorder > 0 { (rng.next() % (disorder + 1)) as i64 } else { 0 };
        let inst = (rng.next() % u64::from(a.instruments)) as usize;
        prices[inst] = (prices[inst] + (rng.next() % 5) as i64 - 2).max(1);
        let size = 1 + rng.next() % 1000;
        let side = if rng.next() % 2 == 0 { "buy" } else { "sell" };
        let ts = clock - back;
        last = format!(
            "{ts},{},SYM{inst:04},{}.{:02},{}.{:03},{side},{id}\n",
            ts + 150_000,
            prices[inst] / 100,
            prices[inst] % 100,
            size / 1000,
            size % 1000
        );
        out.write_all(last.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
