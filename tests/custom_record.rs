//! A service's own record type through the engine (design.md §1, "your own records"): pushed
//! into a source of its kind, mapped and filtered by the library's generic operators, released
//! by an egress in `(stamp, instrument name)` order — identical at 1, 2 and 4 shards and equal
//! to the same job done in one loop; and asked for as another kind, refused by name.

use ticklane::operators::prelude::*;
use ticklane::{
    Config, CustomKind, CustomRecord, DagBuilder, Engine, EngineError, InstrumentId, Kind, Stamped, Timestamp, Trade,
};

/// A fill of one of our orders.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fill {
    ts_event: Timestamp,
    instrument: InstrumentId,
    order: u64,
    qty: i64,
}

static FILL: CustomKind = CustomKind::new::<Fill>("fill");

impl CustomRecord for Fill {
    const KIND: &'static CustomKind = &FILL;
    fn instrument(&self) -> InstrumentId {
        self.instrument
    }
    fn ts_event(&self) -> Timestamp {
        self.ts_event
    }
}

const NAMES: [&str; 5] = ["XNAS:AAPL", "XNAS:MSFT", "binance:BTCUSDT", "GLBX.MDP3:ESH4", "XEUR:FDAX"];

/// Fills out of order by up to 5 ms: `(name, ts_event, order, qty)`.
fn fills(n: u64) -> Vec<(&'static str, i64, u64, i64)> {
    (0..n)
        .map(|i| {
            let x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
            (NAMES[(x % 5) as usize], i as i64 * 1_000_000 - (x % 6) as i64 * 1_000_000, i, (x % 200) as i64 - 100)
        })
        .collect()
}

/// The job through the engine: fills with a positive quantity, doubled, in egress order.
fn engine(shards: usize, ring: usize, input: &[(&str, i64, u64, i64)]) -> Vec<(Timestamp, String, u64, i64)> {
    let mut g = DagBuilder::new();
    g.source("fills", Kind::Custom(&FILL))
        .filter("buys", |f: &Fill| f.qty > 0)
        .map("doubled", |f: &Fill| Fill { qty: 2 * f.qty, ..*f })
        .sink_egress("out", Kind::Custom(&FILL))
        .connect("fills", "buys")
        .connect("buys", "doubled")
        .connect("doubled", "out");
    let cfg = Config::builder().shards(shards).ring_capacity(ring).max_delay(std::time::Duration::from_millis(5));
    let mut engine = Engine::start(g.build().expect("graph"), cfg.build().expect("config")).expect("start");
    let (mut feed, mut out) =
        (engine.ingress::<Fill>("fills").expect("ingress"), engine.egress::<Fill>("out").expect("egress"));
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(s) = out.recv() {
            got.push((s.wm, out.name(s.rec.instrument).unwrap_or_default().to_string(), s.rec));
        }
        got
    });
    for &(name, ts, order, qty) in input {
        let instrument = feed.intern(name).expect("intern");
        feed.push(Fill { ts_event: ts, instrument, order, qty }).expect("push");
    }
    drop(feed);
    engine.join().expect("join");
    let got = reader.join().expect("reader");
    let stamps: Vec<(Timestamp, String)> = got.iter().map(|(wm, name, _)| (*wm, name.clone())).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "released in (stamp, instrument) order");
    got.into_iter().map(|(_, name, f)| (f.ts_event, name, f.order, f.qty)).collect()
}

/// The same job in one loop: each fill stamped with the watermark before it, kept if its
/// quantity is positive, doubled, ordered by (stamp, name, arrival).
fn one_loop(input: &[(&str, i64, u64, i64)]) -> Vec<(Timestamp, String, u64, i64)> {
    let mut max_ts = i64::MIN;
    let mut kept = Vec::new();
    for (k, &(name, ts, order, qty)) in input.iter().enumerate() {
        let wm = max_ts.saturating_sub(5_000_000);
        max_ts = max_ts.max(ts);
        if qty > 0 {
            kept.push((wm, name.to_string(), k, (ts, name.to_string(), order, 2 * qty)));
        }
    }
    kept.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    kept.into_iter().map(|k| k.3).collect()
}

#[test]
fn custom_records_flow_like_trades_at_any_shard_count() {
    let input = fills(20_000);
    let want = one_loop(&input);
    assert!(want.len() > 9_000, "about half are buys");
    for (shards, ring) in [(1, 1024), (2, 4), (4, 64)] {
        assert!(engine(shards, ring, &input) == want, "{shards} shard(s), rings of {ring}: differs from one loop");
    }
}

#[test]
fn a_custom_kind_is_refused_as_another_by_name() {
    let mut g = DagBuilder::new();
    g.source("fills", Kind::Custom(&FILL)).sink_egress("out", Kind::Custom(&FILL)).connect("fills", "out");
    let mut engine =
        Engine::start(g.build().expect("graph"), Config::builder().shards(1).build().expect("cfg")).expect("start");
    match engine.ingress::<Trade>("fills") {
        Err(e @ EngineError::WrongKind { .. }) => assert!(e.to_string().contains("fill"), "{e}"),
        other => panic!("expected WrongKind, got {:?}", other.map(|_| ())),
    }
    let mut g = DagBuilder::new();
    g.source("fills", Kind::Custom(&FILL)).sink_egress("out", Kind::Trade).connect("fills", "out");
    let e = g.build().expect_err("a fill edge into a trade port");
    assert!(e.to_string().contains("fill") && e.to_string().contains("trade"), "{e}");
    drop(engine.egress::<Fill>("out").expect("egress"));
    engine.join().expect("join");
}

#[test]
fn a_stamped_fill_fits_the_size_limit() {
    assert!(std::mem::size_of::<Stamped<Fill>>() <= ticklane::MAX_STAMPED_SIZE);
}
