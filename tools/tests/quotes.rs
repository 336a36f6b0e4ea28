//! Quotes end to end through the real binary (design.md §3, §5, §6): quote bars of the bundled
//! Tardis quotes capture and of the Binance stream capture (and that capture's trade bars),
//! each equal to bars computed here from the raw file with plain integer arithmetic — not from
//! ticklane's earlier output — and byte-identical at 1, 2 and 4 shards.

mod common;

use common::quote_oracle::{dec, quote_bars, quote_bars_at, round, text, Q, QUOTE_HEADER, SECOND};
use common::{data, refused, replay, s, tmp, HEADER};
use std::collections::BTreeMap;
use std::io::Read;

/// One trade: `(ts_event, ts_recv, price, size)`, in file order.
type T = (i64, i64, i128, i128);

/// The bars CSV of `trades` (one instrument) at 1 s, computed the plain way.
fn trade_bars(name: &str, trades: &[T]) -> String {
    let mut windows: BTreeMap<i64, Vec<(usize, T)>> = BTreeMap::new();
    for (k, t) in trades.iter().enumerate() {
        windows.entry(t.0.div_euclid(SECOND) * SECOND).or_default().push((k, *t));
    }
    let mut out = format!("{HEADER}\n");
    for (start, mut ts) in windows {
        ts.sort_by_key(|(k, t)| (t.0, t.1, *k));
        let px: Vec<i128> = ts.iter().map(|(_, t)| t.2).collect();
        let volume: i128 = ts.iter().map(|(_, t)| t.3).sum();
        let notional: i128 = ts.iter().map(|(_, t)| t.2 * t.3).sum();
        out += &format!(
            "{name},{start},{},{},{},{},{},{},{},{},0\n",
            start + SECOND,
            text(px[0]),
            text(*px.iter().max().expect("one")),
            text(*px.iter().min().expect("one")),
            text(px[px.len() - 1]),
            text(volume),
            ts.len(),
            text(round(notional, volume)),
        );
    }
    out
}

/// The bundled Binance stream capture's trades and quotes, read the plain way.
fn binance() -> (Vec<T>, Vec<Q>) {
    let mut gz = flate2::read::MultiGzDecoder::new(
        std::fs::File::open(data("binance_spot_btcusdt_20240808.stream.gz")).expect("capture"),
    );
    let mut body = String::new();
    gz.read_to_string(&mut body).expect("gunzip");
    let (mut trades, mut quotes) = (Vec::new(), Vec::new());
    for line in body.lines() {
        let (recv, json) = line.split_once(' ').expect("two parts");
        let recv: i64 = recv.parse().expect("receive time");
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        let (Some(stream), d) = (v["stream"].as_str(), &v["data"]) else { continue };
        let str_of = |k: &str| d[k].as_str().expect("string field").to_string();
        if stream.ends_with("@trade") {
            let t = d["T"].as_i64().expect("T") * 1_000_000;
            trades.push((t, recv, dec(&str_of("p")), dec(&str_of("q"))));
        } else if stream.ends_with("@bookTicker") {
            let side = |p: &str, q: &str| Some(dec(&str_of(p))).filter(|&x| x != 0 || dec(&str_of(q)) != 0);
            quotes.push((recv, recv, side("b", "B"), side("a", "A")));
        }
    }
    (trades, quotes)
}

/// The Tardis quotes capture, read the plain way.
fn tardis_quotes() -> Vec<Q> {
    let body = std::fs::read_to_string(data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv")).expect("capture");
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let side = |p: &str| (!p.is_empty()).then(|| dec(p));
            (
                f[2].parse::<i64>().expect("ts") * 1_000,
                f[3].parse::<i64>().expect("recv") * 1_000,
                side(f[6]),
                side(f[5]),
            )
        })
        .collect()
}

fn summary(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary")).expect("json")
}

#[test]
fn tardis_quote_bars_equal_the_plain_computation_at_every_shard_count() {
    let quotes = tardis_quotes();
    assert_eq!(quotes.len(), 9_999);
    let want = quote_bars("binance-futures:BTCUSDT", &quotes);
    let file = data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv");
    for shards in ["1", "2", "4"] {
        let (out, sum) = (tmp(&format!("tq{shards}.csv")), tmp(&format!("tq{shards}.json")));
        // The capture's event times go back by up to a second or so: wait long enough that
        // nothing is late, so every quote is in its bar.
        let args = ["--max-delay", "60s", "--shards", shards, "--out", s(&out), "--summary", s(&sum), s(&file)];
        let o = replay(&args);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(std::fs::read_to_string(&out).expect("out") == want, "{shards} shard(s): quote bars differ");
        let q = &summary(&sum)["quotes"];
        assert_eq!((q["quotes_accepted"].as_u64(), q["late"]["total"].as_u64()), (Some(9_999), Some(0)));
    }
}

#[test]
fn binance_stream_trade_and_quote_bars_equal_the_plain_computation() {
    let (trades, quotes) = binance();
    assert_eq!((trades.len(), quotes.len()), (9_757, 28_040), "the capture as SOURCES.md describes it");
    let want_trades = trade_bars("binance:BTCUSDT", &trades);
    let want_quotes = quote_bars("binance:BTCUSDT", &quotes);
    assert!(quotes.iter().all(|q| q.2.is_some() && q.3.is_some()), "spot book tickers are two-sided here");
    let file = data("binance_spot_btcusdt_20240808.stream.gz");
    for shards in ["1", "2", "4"] {
        let (out, sum) = (tmp(&format!("bn{shards}_{{kind}}.csv")), tmp(&format!("bn{shards}.json")));
        let args = ["--max-delay", "10s", "--shards", shards, "--out", s(&out), "--summary", s(&sum), s(&file)];
        let o = replay(&args);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let read = |kind: &str| std::fs::read_to_string(s(&out).replace("{kind}", kind)).expect("out");
        assert!(read("trades") == want_trades, "{shards} shard(s): trade bars differ");
        assert!(read("quotes") == want_quotes, "{shards} shard(s): quote bars differ");
        let v = summary(&sum);
        assert_eq!((v["trades_accepted"].as_u64(), v["late"]["total"].as_u64()), (Some(9_757), Some(0)));
        // Every line is a trade, a quote, or skipped and counted: 41,249 lines.
        assert_eq!(v["records_skipped"].as_u64(), Some(41_249 - 9_757));
        assert_eq!(v["quotes"]["records_skipped"].as_u64(), Some(41_249 - 28_040));
    }
}

/// `--bars 1s,1m,1h` on quotes: the 1 m and 1 h quote bars are resampled inside the DAG from
/// the 1 s ones (design.md §3), and every resolution equals the plain computation at its width
/// — the time-weighted spread included, whose last quote weighs on across fine windows — at 1,
/// 2 and 4 shards; with a Binance stream the trade bars get the same resolutions beside them.
#[test]
fn quote_bars_at_every_resolution_equal_the_plain_computation() {
    let (_, stream) = binance();
    let cases = [
        ("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv", "binance-futures:BTCUSDT", tardis_quotes(), "60s"),
        ("binance_spot_btcusdt_20240808.stream.gz", "binance:BTCUSDT", stream, "10s"),
    ];
    let widths = [("1s", SECOND), ("1m", 60 * SECOND), ("1h", 3_600 * SECOND)];
    let wants: Vec<Vec<String>> =
        cases.iter().map(|(_, name, q, _)| widths.iter().map(|w| quote_bars_at(name, q, w.1)).collect()).collect();
    assert!(wants.iter().all(|w| w[1].lines().count() > 2), "more than one minute: the 1 m bars compose");
    for ((file, _, _, delay), want) in cases.iter().zip(&wants) {
        for shards in ["1", "2", "4"] {
            let out = tmp(&format!("qr{shards}_{{kind}}_{{bars}}.csv"));
            let args = ["--bars", "1s,1m,1h", "--max-delay", delay, "--shards", shards, "--out", s(&out)];
            let o = replay(&[&args[..], &[s(&data(file))]].concat());
            assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
            for ((w, _), want) in widths.iter().zip(want) {
                let path = s(&out).replace("{bars}", w);
                let got = std::fs::read_to_string(path.replace("{kind}", "quotes")).expect("quote bars");
                assert!(&got == want, "{file} at {shards} shard(s): the {w} quote bars differ");
                if file.ends_with(".gz") {
                    assert!(std::fs::metadata(path.replace("{kind}", "trades")).is_ok(), "{w} trade bars written");
                }
            }
        }
    }
}

/// A trades file beside a quotes file (`--kind auto`): each is read for the kind it holds, so
/// the trade bars are those of the trades file alone and the quote bars those of the quotes
/// file alone, whatever the order of the files.
#[test]
fn a_trades_file_beside_a_quotes_file_gives_each_kinds_bars() {
    let (trades, quotes) = (
        data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"),
        data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv"),
    );
    let alone = |kind: &str, file: &std::path::Path| {
        let o = replay(&["--kind", kind, "--bars", "1s", s(file)]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let (want_t, want_q) = (alone("trades", &trades), alone("quotes", &quotes));
    for (order, files) in [("tq", [&trades, &quotes]), ("qt", [&quotes, &trades])] {
        let out = tmp(&format!("mixed-{order}-{{kind}}.csv"));
        let o = replay(&["--bars", "1s", "--out", s(&out), s(files[0]), s(files[1])]);
        assert_eq!(o.status.code(), Some(0), "{order}: {}", String::from_utf8_lossy(&o.stderr));
        let got = |kind: &str| std::fs::read(s(&out).replace("{kind}", kind)).expect("bars");
        assert!(want_t.len() > 100 && got("trades") == want_t, "{order}: the trade bars differ");
        assert!(want_q.len() > 100 && got("quotes") == want_q, "{order}: the quote bars differ");
    }
}

#[test]
fn the_venue_names_the_instruments_and_kind_picks_one() {
    let file = data("binance_spot_btcusdt_20240808.stream.gz");
    let o = replay(&["--venue", "binance-us", "--kind", "quotes", "--bars", "1m", s(&file)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with(QUOTE_HEADER), "{out}");
    assert!(out.lines().skip(1).all(|l| l.starts_with("binance-us:BTCUSDT,")), "{out}");
    assert_eq!(out.lines().count(), 1 + 6, "the minutes 23:54 … 23:59 of the receive clock");
    let o = replay(&["--kind", "trades", "--input-format", "binance-stream", s(&file)]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with(HEADER));
}

#[test]
fn bad_quote_options_and_lines_are_named() {
    let file = data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv");
    for (args, needle) in [
        (vec!["--kind", "bogus"], "invalid value 'bogus' for '--kind <KIND>'"),
        (vec!["--input-format", "binance"], "invalid value 'binance' for '--input-format <INPUT_FORMAT>'"),
        (vec!["--venue", "a:b"], "--venue <NAME>"),
        (vec!["--tick-bars", "5"], "--tick-bars: applies to trades, and the input holds quotes"),
        (vec!["--sink-postgres", "postgresql://x@127.0.0.1:1/x"], "--sink-postgres: the store takes trade bars"),
        (vec!["--late", "side"], "--late side needs --late-out FILE"),
        (vec!["--bars", "1s,1m", "--out", "q.csv"], "--bars 1s,1m: --out needs a {bars} placeholder"),
    ] {
        refused(&args, &file, needle);
    }
    let bad = tmp("bad_quotes.csv");
    std::fs::write(
        &bad,
        "ts_event,instrument,bid_px,bid_sz,ask_px,ask_sz\n1,X,1,1,2,1\n2,X,abc,1,2,1\n3,X,,,2,-1\n4,X,,,,\n",
    )
    .expect("write");
    let o = replay(&[s(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad_quotes.csv:3: bid price \"abc\""), "{err}");
    let sum = tmp("bad_quotes.json");
    let o = replay(&["--on-error", "skip", "--summary", s(&sum), s(&bad)]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let q = &summary(&sum)["quotes"];
    assert_eq!((q["quotes_accepted"].as_u64(), q["malformed_total"].as_u64()), (Some(2), Some(2)));
    // A quote with no side at all still counts (and a bar of it has no prices).
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.lines().nth(1), Some("X,0,1000000000,1,1,1,1,2,2,2,2,1,1,1,2,0,0"), "{out}");
}

#[test]
fn bbo_conflation_keeps_the_latest_quote_of_each_interval() {
    let (_, quotes) = binance();
    // The latest quote (in file order) of each 1 s interval of the receive clock.
    let mut latest: BTreeMap<i64, Q> = BTreeMap::new();
    for q in &quotes {
        latest.insert(q.0.div_euclid(SECOND), *q);
    }
    let kept: Vec<Q> = latest.into_values().collect();
    let want = quote_bars("binance:BTCUSDT", &kept);
    let file = data("binance_spot_btcusdt_20240808.stream.gz");
    for shards in ["1", "2"] {
        let sum = tmp(&format!("bbo{shards}.json"));
        let args =
            ["--kind", "quotes", "--throttle", "0/1s:conflate", "--shards", shards, "--summary", s(&sum), s(&file)];
        let o = replay(&args);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout) == want, "{shards} shard(s): conflated quote bars differ");
        let q = &summary(&sum)["quotes"];
        assert_eq!(q["throttled"].as_u64(), Some((quotes.len() - kept.len()) as u64), "every other quote counted");
    }
    let o = replay(&["--throttle", "0/1s", s(&file)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected N/INTERVAL[:drop|conflate]"));
}

/// `--dedupe` on quotes keys each by everything it holds: the Tardis quotes capture merged with
/// itself makes exactly the quote bars of the capture alone, every second copy counted as a
/// duplicate; without `--dedupe` the copies double the quote counts. With a Binance stream
/// (trades and quotes) the trades are deduplicated by id and the quotes by content.
#[test]
fn dedupe_drops_a_quote_delivered_twice() {
    let q = data("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv");
    let (once, twice, sum) = (tmp("q-once.csv"), tmp("q-twice.csv"), tmp("q-twice.json"));
    assert!(replay(&["--out", s(&once), s(&q)]).status.success());
    let o = replay(&["--dedupe", "--shards", "3", "--summary", s(&sum), "--out", s(&twice), s(&q), s(&q)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (std::fs::read_to_string(&once).expect("once"), std::fs::read_to_string(&twice).expect("twice"));
    assert!(a.lines().count() > 10 && a == b, "the capture twice, deduplicated, is the capture once");
    let v = summary(&sum);
    let quotes = v["quotes"]["quotes_accepted"].as_u64().expect("accepted");
    assert_eq!(v["quotes"]["duplicates"].as_u64(), Some(quotes / 2), "{}", v["quotes"]);
    let o = replay(&["--out", "-", s(&q), s(&q)]);
    assert!(o.status.success() && o.stdout != a.as_bytes(), "without --dedupe the copies count");

    let cap = data("binance_spot_btcusdt_20240808.stream.gz");
    let (once, twice) = (tmp("b-once_{kind}.csv"), tmp("b-twice_{kind}.csv"));
    assert!(replay(&["--out", s(&once), s(&cap)]).status.success());
    let o = replay(&["--dedupe", "--summary", s(&sum), "--out", s(&twice), s(&cap), s(&cap)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for kind in ["trades", "quotes"] {
        let read = |p: &std::path::Path| std::fs::read_to_string(s(p).replace("{kind}", kind)).expect("bars");
        assert!(read(&once) == read(&twice), "{kind}: the capture twice, deduplicated, is the capture once");
    }
    let v = summary(&sum);
    assert_eq!(v["duplicates"].as_u64(), Some(9_757), "every trade's second copy: {v}");
    assert_eq!(v["quotes"]["duplicates"].as_u64(), v["quotes"]["quotes_accepted"].as_u64().map(|n| n / 2), "{v}");
}

/// The Binance capture merged with a copy of itself received 1 ms later (a resend after a
/// reconnect: the same messages, new receive times — and, for spot quotes, new event times):
/// with `--dedupe` the quotes are dropped by their book update id `u`, and the quote bars are
/// the capture's alone; keyed by content they would all count twice.
#[test]
fn dedupe_keys_binance_quotes_by_their_update_id() {
    let (_, quotes) = binance();
    let cap = data("binance_spot_btcusdt_20240808.stream.gz");
    let mut gz = flate2::read::MultiGzDecoder::new(std::fs::File::open(&cap).expect("capture"));
    let mut body = String::new();
    gz.read_to_string(&mut body).expect("gunzip");
    let later: String = body
        .lines()
        .map(|l| {
            let (recv, json) = l.split_once(' ').expect("two parts");
            format!("{} {json}\n", recv.parse::<i64>().expect("receive time") + 1_000_000)
        })
        .collect();
    let copy = tmp("later.stream");
    std::fs::write(&copy, later).expect("write");
    let sum = tmp("resent.json");
    let o = replay(&["--kind", "quotes", "--dedupe", "--summary", s(&sum), "--out", "-", s(&cap), s(&copy)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout) == quote_bars("binance:BTCUSDT", &quotes), "the copy counted");
    let q = &summary(&sum)["quotes"];
    assert_eq!((q["quotes_accepted"].as_u64(), q["duplicates"].as_u64()), (Some(2 * 28_040), Some(28_040)), "{q}");
}
