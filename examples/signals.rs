//! A record type of your own through the engine: trades go in, a user-written operator turns
//! them into `Signal`s (a record type this example defines), a filter keeps the strong ones,
//! and an egress hands them back in `(stamp, instrument)` order — the same at any shard count.
//!
//! ```text
//! cargo run --release --example signals -- [SHARDS]
//! ```

use std::error::Error;
use ticklane::operators::FilterExt;
use ticklane::{
    Config, CustomKind, CustomRecord, DagBuilder, Engine, Fixed, InstrumentId, Kind, Stamped, Timestamp, Trade,
    Transform,
};

/// A momentum signal: how many of an instrument's last price moves went up, minus down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// When (the trade that moved it).
    pub ts_event: Timestamp,
    /// For which instrument.
    pub instrument: InstrumentId,
    /// Up moves minus down moves, over the instrument's trades so far.
    pub score: i32,
}

static SIGNAL: CustomKind = CustomKind::new::<Signal>("signal");

impl CustomRecord for Signal {
    const KIND: &'static CustomKind = &SIGNAL;
    fn instrument(&self) -> InstrumentId {
        self.instrument
    }
    fn ts_event(&self) -> Timestamp {
        self.ts_event
    }
}

/// Trade → signal, per instrument (state is shard-local: an instrument lives on one shard).
#[derive(Default)]
struct Momentum {
    last: Vec<Option<(Fixed, i32)>>,
}

impl Transform<Trade, Signal> for Momentum {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Signal>>) {
        for t in input {
            let i = t.rec.instrument.0 as usize;
            if self.last.len() <= i {
                self.last.resize(i + 1, None);
            }
            let (px, score) = self.last[i].unwrap_or((t.rec.price, 0));
            let score = score + (t.rec.price.raw() - px.raw()).signum() as i32;
            self.last[i] = Some((t.rec.price, score));
            // Keep the trade's stamp: the egress orders by it.
            out.push(Stamped {
                wm: t.wm,
                rec: Signal { ts_event: t.rec.ts_event, instrument: t.rec.instrument, score },
            });
        }
    }
}

/// A signal as printed: `(ts_event, instrument name, score)`.
pub type Row = (Timestamp, String, i32);

/// The signals with `|score| >= 3`, in the egress's order.
pub fn run(shards: usize, trades: &[(String, Trade)]) -> Result<Vec<Row>, Box<dyn Error>> {
    let mut g = DagBuilder::new();
    g.source("trades", Kind::Trade)
        .transform::<Trade, Signal, _, _>("momentum", |_| Momentum::default())
        .filter("strong", |s: &Signal| s.score.abs() >= 3)
        .sink_egress("signals", Kind::Custom(&SIGNAL))
        .connect("trades", "momentum")
        .connect("momentum", "strong")
        .connect("strong", "signals");
    let mut engine = Engine::start(g.build()?, Config::builder().shards(shards).build()?)?;
    let (mut feed, mut out) = (engine.ingress::<Trade>("trades")?, engine.egress::<Signal>("signals")?);
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(s) = out.recv() {
            got.push((s.rec, out.name(s.rec.instrument).map(str::to_string)));
        }
        got
    });
    for (name, t) in trades {
        let instrument = feed.intern(name)?;
        feed.push(Trade { instrument, ..*t })?;
    }
    drop(feed);
    engine.join()?;
    let got = reader.join().map_err(|_| "the reader panicked")?;
    Ok(got.into_iter().map(|(s, name)| (s.ts_event, name.unwrap_or_default(), s.score)).collect())
}

/// Deterministic trades: three instruments, prices on a pseudo-random walk.
pub fn trades(n: usize) -> Vec<(String, Trade)> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = ["binance:BTCUSDT", "binance:ETHUSDT", "GLBX.MDP3:ESH4"][(x % 3) as usize];
            let price = Fixed::from_raw(100_000_000_000 + (x >> 50) as i64 * 1_000_000);
            (name.to_string(), Trade { ts_event: i as i64 * 1_000_000, price, size: Fixed::ONE, ..Trade::default() })
        })
        .collect()
}

fn main() -> Result<(), Box<dyn Error>> {
    let shards = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(2);
    let signals = run(shards, &trades(10_000))?;
    println!("ts_event,instrument,score");
    for (ts, name, score) in signals.iter().take(10) {
        println!("{ts},{name},{score}");
    }
    eprintln!("{} strong signals from 10000 trades on {shards} shard(s)", signals.len());
    Ok(())
}
