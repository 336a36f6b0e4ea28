//! `ticklane gen`: a deterministic synthetic trade capture for tests and benchmarks. The same
//! arguments always write the same bytes. ticklane CSV (`SYM0000` … names, or venue-prefixed
//! ones of 15–25 bytes with `--names venue`; numeric trade ids)
//! or DBN (`trades` schema, dataset `SYNTH`, instrument ids `1..=N` without symbology, so
//! replays name them `SYNTH:<id>`; DBN carries no trade id, so `--dedupe` cannot see its
//! duplicates). A `.zst` suffix on a DBN output compresses it.

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
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: GenFormat,
    /// Instrument names (CSV only).
    #[arg(long, value_enum, default_value = "short")]
    pub names: GenNames,
}

/// How `gen` names instruments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenNames {
    /// `SYM0000` … (7 bytes).
    Short,
    /// Venue-prefixed, 15 to 25 bytes: `binance-futures:S0519USDT`, `bybit:S0520USDT`, …
    Venue,
}

/// The venues of `--names venue`.
const VENUES: [&str; 5] = ["binance-futures", "bybit", "okex-swap", "coinbase", "kraken"];

impl GenNames {
    /// The name of instrument `i`.
    fn name(self, i: usize) -> String {
        match self {
            GenNames::Short => format!("SYM{i:04}"),
            GenNames::Venue => format!("{}:S{i:04}USDT", VENUES[i % VENUES.len()]),
        }
    }
}

/// What `gen` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenFormat {
    /// ticklane CSV.
    Csv,
    /// Databento DBN, `trades` schema.
    Dbn,
}

/// One generated trade.
struct Row {
    ts: i64,
    inst: usize,
    /// Price in cents.
    cents: i64,
    /// Size in thousandths.
    milli: u64,
    buy: bool,
    id: u64,
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

impl GenArgs {
    /// Checks the flags clap cannot: every problem, one per line (bad usage: exit 2).
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !(0.0..1.0).contains(&self.dup_fraction) {
            problems.push("--dup-fraction must be in [0, 1)");
        }
        if self.instruments == 0 {
            problems.push("--instruments must be at least 1");
        }
        if self.names != GenNames::Short && self.format == GenFormat::Dbn {
            problems.push("--names applies to CSV output: DBN names instruments by id (SYNTH:<id>)");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Writes the capture (flags checked with [`GenArgs::validate`] first); a failure names the
/// file.
pub fn run(a: &GenArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    a.validate().map_err(anyhow::Error::msg)?;
    write(a).with_context(|| format!("--out {}", a.out.display()))
}

fn write(a: &GenArgs) -> anyhow::Result<()> {
    match a.format {
        GenFormat::Csv => {
            let mut out = BufWriter::new(File::create(&a.out)?);
            writeln!(out, "ts_event,ts_recv,instrument,price,size,side,trade_id")?;
            let names: Vec<String> = (0..a.instruments as usize).map(|i| a.names.name(i)).collect();
            rows(a, |r| {
                writeln!(
                    out,
                    "{},{},{},{}.{:02},{}.{:03},{},{}",
                    r.ts,
                    r.ts + 150_000,
                    names[r.inst],
                    r.cents / 100,
                    r.cents % 100,
                    r.milli / 1000,
                    r.milli % 1000,
                    if r.buy { "buy" } else { "sell" },
                    r.id
                )
            })?;
            out.flush()?;
        }
        GenFormat::Dbn => {
            use dbn::encode::{DbnEncoder, EncodeRecord};
            let meta = dbn::Metadata::builder()
                .dataset("SYNTH".to_string())
                .schema(Some(dbn::Schema::Trades))
                .start(1_700_000_000_000_000_000)
                .stype_in(Some(dbn::SType::InstrumentId))
                .stype_out(dbn::SType::InstrumentId)
                .build();
            let file = BufWriter::new(File::create(&a.out)?);
            let zstd = a.out.extension().is_some_and(|e| e == "zst");
            let write = |enc: &mut dyn FnMut(&dbn::TradeMsg) -> dbn::Result<()>| -> anyhow::Result<()> {
                rows(a, |r| {
                    let t = dbn::TradeMsg {
                        hd: dbn::RecordHeader::new::<dbn::TradeMsg>(
                            dbn::rtype::MBP_0,
                            1,
                            r.inst as u32 + 1,
                            r.ts as u64,
                        ),
                        price: r.cents * 10_000_000,          // cents → 1e-9 units
                        size: (r.milli / 1000).max(1) as u32, // DBN sizes are whole contracts
                        action: b'T' as std::os::raw::c_char,
                        side: (if r.buy { b'B' } else { b'A' }) as std::os::raw::c_char,
                        ts_recv: r.ts as u64 + 150_000,
                        sequence: r.id as u32,
                        ..Default::default()
                    };
                    enc(&t).map_err(std::io::Error::other)
                })
            };
            if zstd {
                let mut enc = DbnEncoder::with_zstd(file, &meta)?;
                write(&mut |t| enc.encode_record(t))?;
            } else {
                let mut enc = DbnEncoder::new(file, &meta)?;
                write(&mut |t| enc.encode_record(t))?;
                enc.get_mut().flush()?;
            }
        }
    }
    Ok(())
}

/// Feeds every generated row (duplicates included) to `emit`, in file order.
fn rows(a: &GenArgs, mut emit: impl FnMut(&Row) -> std::io::Result<()>) -> anyhow::Result<()> {
    let mut rng = Rng(a.seed);
    let spacing = a.spacing.as_nanos().max(1) as u64;
    let disorder = a.disorder.as_nanos() as u64;
    let mut clock: i64 = 1_700_000_000_000_000_000;
    let mut prices: Vec<i64> = (0..a.instruments).map(|i| 100_000 + i64::from(i) * 7).collect();
    let dup_threshold = (a.dup_fraction * u64::MAX as f64) as u64;
    let mut last: Option<Row> = None;
    for id in 0..a.rows {
        if let Some(prev) = last.as_ref().filter(|_| rng.next() < dup_threshold) {
            emit(prev)?; // an exact repeat of the previous row
            continue;
        }
        clock += (rng.next() % (2 * spacing)) as i64;
        let back = if disorder > 0 { (rng.next() % (disorder + 1)) as i64 } else { 0 };
        let inst = (rng.next() % u64::from(a.instruments)) as usize;
        prices[inst] = (prices[inst] + (rng.next() % 5) as i64 - 2).max(1);
        let milli = 1 + rng.next() % 1000;
        let buy = rng.next().is_multiple_of(2);
        let row = Row { ts: clock - back, inst, cents: prices[inst], milli, buy, id };
        emit(&row)?;
        last = Some(row);
    }
    Ok(())
}
