//! DBN top of book through the real binary: an MBP-1 file (written here with the `dbn`
//! crate's own encoder, plain and zstd) holds trades and quotes, so `replay` builds both; the
//! quote bars equal the plain computation over the records' top of book, the trade bars take
//! only the trade events; a BBO-1s file holds quotes only; a TBBO file's records are trades.

mod common;

use common::quote_oracle::{quote_bars, Q};
use common::{replay, s, tmp, HEADER};
use dbn::encode::{DbnEncoder, EncodeRecord};
use dbn::{BidAskPair, Mbp1Msg, RecordHeader};

const T0: u64 = 1_700_000_000_000_000_000;

/// Records of instrument 42 (`ESH4`): every 7th a trade, every 5th with no ask.
fn mbp1(n: u64, rtype: u8) -> Vec<Mbp1Msg> {
    (0..n)
        .map(|i| {
            let bid = 4_800_000_000_000 + (i % 13) as i64 * 250_000_000;
            let ask = if i % 5 == 0 { dbn::UNDEF_PRICE } else { bid + 250_000_000 * (1 + (i % 3) as i64) };
            Mbp1Msg {
                hd: RecordHeader::new::<Mbp1Msg>(rtype, 1, 42, T0 + i * 37_000_000),
                ts_recv: T0 + i * 37_000_000 + 1_000,
                action: (if i % 7 == 0 || rtype == dbn::rtype::TBBO { b'T' } else { b'A' }) as _,
                side: b'B' as _,
                price: bid,
                size: 2,
                levels: [BidAskPair { bid_px: bid, ask_px: ask, bid_sz: 10, ask_sz: 12, ..Default::default() }],
                ..Default::default()
            }
        })
        .collect()
}

fn write<R: dbn::encode::DbnEncodable>(name: &str, schema: dbn::Schema, recs: &[R]) -> std::path::PathBuf {
    let meta = dbn::Metadata::builder()
        .dataset("GLBX.MDP3".to_string())
        .schema(Some(schema))
        .start(T0)
        .stype_in(Some(dbn::SType::InstrumentId))
        .stype_out(dbn::SType::InstrumentId)
        .build();
    let path = tmp(name);
    let file = std::fs::File::create(&path).expect("create");
    if name.ends_with(".zst") {
        let mut enc = DbnEncoder::with_zstd(file, &meta).expect("encoder");
        recs.iter().for_each(|r| enc.encode_record(r).expect("encode"));
    } else {
        let mut enc = DbnEncoder::new(file, &meta).expect("encoder");
        recs.iter().for_each(|r| enc.encode_record(r).expect("encode"));
    }
    path
}

fn quotes_of(recs: &[Mbp1Msg]) -> Vec<Q> {
    let px = |p: i64| (p != dbn::UNDEF_PRICE).then_some(i128::from(p));
    recs.iter()
        .map(|m| (m.hd.ts_event as i64, m.ts_recv as i64, px(m.levels[0].bid_px), px(m.levels[0].ask_px)))
        .collect()
}

#[test]
fn mbp1_gives_quote_bars_and_trade_bars() {
    let recs = mbp1(2_000, dbn::rtype::MBP_1);
    let want = quote_bars("GLBX.MDP3:42", &quotes_of(&recs));
    for name in ["book.mbp1.dbn", "book.mbp1.dbn.zst"] {
        let file = write(name, dbn::Schema::Mbp1, &recs);
        for shards in ["1", "2"] {
            let out = tmp(&format!("{name}_{shards}_{{kind}}.csv"));
            let o = replay(&["--shards", shards, "--out", s(&out), s(&file)]);
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            let read = |kind: &str| std::fs::read_to_string(s(&out).replace("{kind}", kind)).expect("output");
            assert!(read("quotes") == want, "{name} at {shards} shard(s): quote bars differ");
            let trades = read("trades");
            let counted: u64 =
                trades.lines().skip(1).map(|l| l.split(',').nth(8).expect("count").parse::<u64>().expect("n")).sum();
            assert!(trades.starts_with(HEADER));
            assert_eq!(counted, recs.iter().filter(|m| m.action == b'T' as std::os::raw::c_char).count() as u64);
        }
    }
}

#[test]
fn bbo_holds_quotes_and_tbbo_trades() {
    let recs = mbp1(500, dbn::rtype::MBP_1);
    let bbo: Vec<dbn::BboMsg> = recs
        .iter()
        .map(|m| dbn::BboMsg {
            hd: RecordHeader::new::<dbn::BboMsg>(dbn::rtype::BBO_1S, 1, 42, m.hd.ts_event),
            ts_recv: m.ts_recv,
            levels: m.levels.clone(),
            ..dbn::BboMsg::default_for_schema(dbn::Schema::Bbo1S)
        })
        .collect();
    let file = write("book.bbo1s.dbn", dbn::Schema::Bbo1S, &bbo);
    let o = replay(&[s(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout) == quote_bars("GLBX.MDP3:42", &quotes_of(&recs)),
        "BBO-1s: quote bars only"
    );
    let tbbo = mbp1(500, dbn::rtype::TBBO);
    let file = write("book.tbbo.dbn", dbn::Schema::Tbbo, &tbbo);
    let o = replay(&["--kind", "trades", s(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let counted: u64 = String::from_utf8_lossy(&o.stdout)
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(8).expect("count").parse::<u64>().expect("n"))
        .sum();
    assert_eq!(counted, 500, "every TBBO record is a trade");
    let o = replay(&[s(&file)]);
    assert_eq!(o.status.code(), Some(2), "TBBO holds both: --out needs {{kind}}");
}
