//! `ticklane publish` → NATS → `ticklane run`, against a real `nats-server` started here
//! (tests/common/nats.rs): the run's bars equal `ticklane replay`'s of the same capture, over
//! core NATS (JSON) and over JetStream (MessagePack) through a server crash and restart
//! between the two halves of the stream (readiness goes down and up; nothing lost, and
//! anything delivered twice is dropped by dedupe). A stalled PostgreSQL store holds the
//! JetStream consumer back (it stops pulling; memory stays bounded) and loses nothing. A bus sink
//! is ready only while its server is up. Ticks after a quiet spell longer than a pull request's
//! life are read all the same.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::NatsServer;
use common::{data, free_port, http_get, replay, run, s, sample, tmp, wait_until, Running, BIN};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

const CAPTURE: &str = "binance_spot_btcusdt_20240808.stream.gz";
/// Trades in the capture.
const TRADES: f64 = 9_757.0;

/// `ticklane run` on `url` with dedupe, its bars to `out`, metrics on a free port.
fn start_run(url: &str, out: &Path, summary: &Path) -> (Running, SocketAddr) {
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(BIN)
        .args(["run", "--dedupe", "--metrics-addr", &metrics.to_string(), "--reconnect-max", "500ms"])
        .args(["--out", s(out), "--summary", s(summary), url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    (Running(Some(child)), metrics)
}

fn messages(metrics: SocketAddr) -> f64 {
    sample(&http_get(metrics, "/metrics"), "ticklane_link_messages_total")
}

fn ready(metrics: SocketAddr) -> bool {
    http_get(metrics, "/readyz").starts_with("HTTP/1.0 200")
}

fn publish(to: &str, format: &str, file: &Path) {
    let o = run(&["publish", "--to", to, "--format", format, s(file)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "publish: {err}");
    // The capture's quotes (and depth updates) stay behind, and the summary says so.
    let left = "records of other kinds not published (--kind quotes publishes the quotes)";
    if file.ends_with(CAPTURE) {
        assert!(err.contains(left), "{err}");
    } else if file.extension().is_some_and(|e| e == "csv") {
        assert!(!err.contains("not published"), "a trades-only capture: {err}");
    }
}

/// The replay's trade bars of the whole capture, with dedupe.
fn replay_bars() -> String {
    // Once per test process: the tests run in parallel and would otherwise rewrite the file
    // under each other's reads.
    static BARS: OnceLock<String> = OnceLock::new();
    BARS.get_or_init(|| {
        let out = tmp("replay.csv");
        let o = replay(&["--kind", "trades", "--dedupe", "--out", s(&out), s(&data(CAPTURE))]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let bars = std::fs::read_to_string(out).expect("replay bars");
        assert!(bars.lines().count() > 300);
        bars
    })
    .clone()
}

/// The capture's lines split into two plain stream captures at its middle line.
fn halves() -> (PathBuf, PathBuf) {
    let gz = std::fs::File::open(data(CAPTURE)).expect("capture");
    let lines: Vec<String> =
        std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gz)).lines().map(|l| l.expect("line")).collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let write = |name: &str, part: &[String]| {
        let p = tmp(name);
        let mut f = std::fs::File::create(&p).expect("half");
        for l in part {
            writeln!(f, "{l}").expect("write");
        }
        p
    };
    (write("first.stream", a), write("second.stream", b))
}

#[test]
fn core_nats_json_bars_equal_replay_bars() {
    let server = NatsServer::start(tmp("nats-core"));
    let url = format!("nats://{}/ticks.binance", server.addr());
    let (out, sum) = (tmp("core.csv"), tmp("core.json"));
    let before = server.subscriptions(); // the server's own
    let (child, metrics) = start_run(&url, &out, &sum);
    // Core NATS keeps nothing for absent subscribers: publish once the run's subscription is in.
    wait_until("the run's subscription", || server.subscriptions() > before);
    publish(&url, "json", &data(CAPTURE));
    wait_until("every tick read", || messages(metrics) >= TRADES);
    let stderr = child.terminate();
    let got = std::fs::read_to_string(&out).expect("run bars");
    assert!(got == replay_bars(), "core NATS bars differ from the replay's:\n{stderr}");
}

#[test]
fn jetstream_msgpack_survives_a_server_crash_mid_stream() {
    let mut server = NatsServer::start(tmp("nats-js"));
    let url = format!("jetstream://{}/TICKS", server.addr());
    let (first, second) = halves();
    publish(&url, "msgpack", &first);
    let (out, sum) = (tmp("js.csv"), tmp("js.json"));
    let (child, metrics) = start_run(&url, &out, &sum);
    wait_until("the first half read", || messages(metrics) > 0.0 && ready(metrics));
    let first_trades = messages_settled(metrics);

    server.stop(); // a crash: no goodbye
    wait_until("/readyz down", || {
        let r = http_get(metrics, "/readyz");
        r.starts_with("HTTP/1.0 503") && r.contains("down source jetstream://")
    });
    server.restart();
    wait_until("/readyz up again", || ready(metrics));
    publish(&url, "msgpack", &second);
    wait_until("every tick read", || messages(metrics) >= TRADES);
    let stderr = child.terminate();

    let got = std::fs::read_to_string(&out).expect("run bars");
    assert!(got == replay_bars(), "JetStream bars differ from the replay's:\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    let (accepted, dups) = (v["trades_accepted"].as_u64().unwrap_or(0), v["duplicates"].as_u64().unwrap_or(0));
    assert_eq!(accepted - dups, TRADES as u64, "every trade once, redeliveries dropped by dedupe: {v}");
    assert!(v["link"]["reconnects"].as_u64() >= Some(1), "{v}");
    assert!(first_trades > 0.0 && first_trades < TRADES, "the crash came mid-stream ({first_trades} read before it)");
}

/// A JetStream run reads through pull requests that lapse after 10 s (tools/src/live/nats/pulls.rs):
/// after the first half, the stream stays quiet past that; the second half published then is
/// read all the same, and the bars equal the replay's.
#[test]
fn jetstream_ticks_after_a_quiet_spell_longer_than_a_pull_request_are_read() {
    let server = NatsServer::start(tmp("nats-quiet"));
    let url = format!("jetstream://{}/QUIET", server.addr());
    let (first, second) = halves();
    publish(&url, "json", &first);
    let (out, sum) = (tmp("quiet.csv"), tmp("quiet.json"));
    let (child, metrics) = start_run(&url, &out, &sum);
    wait_until("the first half read", || messages(metrics) > 0.0);
    let first_trades = messages_settled(metrics);
    std::thread::sleep(std::time::Duration::from_secs(12));
    publish(&url, "json", &second);
    wait_until("every tick read", || messages(metrics) >= TRADES);
    let stderr = child.terminate();
    let got = std::fs::read_to_string(&out).expect("run bars");
    assert!(got == replay_bars(), "JetStream bars after a quiet spell differ from the replay's:\n{stderr}");
    assert!(first_trades < TRADES, "the second half came after the quiet spell");
}

/// A bus sink is ready only while its server is up: a run reading one server and writing its
/// bars to another reports `down sink --out nats://…` on `/readyz` (503) when the second stops,
/// with no bar due, and is ready again when it is back; its bars then still equal the replay's.
#[test]
fn a_bus_sink_is_ready_only_while_its_server_is_up() {
    let source = NatsServer::start(tmp("nats-sink-src"));
    let mut bus = NatsServer::start(tmp("nats-sink-bus"));
    let url = format!("nats://{}/ticks.binance", source.addr());
    let sink = format!("jetstream://{}/BARS", bus.addr());
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Running(Some(
        Command::new(BIN)
            .args(["run", "--dedupe", "--metrics-addr", &metrics.to_string(), "--reconnect-max", "500ms"])
            .args(["--format", "msgpack", "--out", &sink, &url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));
    let sink_line = |state: &str| format!("{state} sink --out {sink}");
    wait_until("ready", || ready(metrics) && http_get(metrics, "/readyz").contains(&sink_line("up")));
    bus.stop();
    wait_until("the sink down", || {
        let r = http_get(metrics, "/readyz");
        r.starts_with("HTTP/1.0 503") && r.contains(&sink_line("down")) && r.contains("up source nats://")
    });
    bus.restart();
    wait_until("ready again", || ready(metrics));
    publish(&url, "json", &data(CAPTURE)); // the run subscribed before it was first ready
    wait_until("every tick read", || messages(metrics) >= TRADES);
    let stderr = child.terminate();
    assert!(stderr.contains("0 malformed"), "{stderr}");
    assert!(
        bus.stream_messages("BARS") as usize + 1 == replay_bars().lines().count(),
        "every bar on the bus: {stderr}"
    );
}

/// Ticks in the stall test's capture: several times what the run can hold between the
/// consumer and the store (outlet chunks, pending records, rings, one pull).
const STALL_TICKS: u64 = 300_000;

/// The resident set of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
    kb.trim().trim_end_matches("kB").trim().parse::<u64>().expect("kB") * 1024
}

/// A generated capture of [`STALL_TICKS`] trades over 100 instruments, split into two files:
/// its first 20,000 trades and the rest.
fn stall_capture() -> (PathBuf, PathBuf, PathBuf) {
    let ticks = tmp("stall.csv");
    let o = run(&["gen", "--rows", &STALL_TICKS.to_string(), "--instruments", "100", "--out", s(&ticks)]);
    assert!(o.status.success(), "gen: {}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&ticks).expect("ticks");
    let (header, rows) = text.split_once('\n').expect("header");
    let cut = rows.match_indices('\n').nth(19_999).expect("20,000 rows").0 + 1;
    let (head, rest) = (tmp("stall-head.csv"), tmp("stall-rest.csv"));
    std::fs::write(&head, format!("{header}\n{}", &rows[..cut])).expect("head");
    std::fs::write(&rest, format!("{header}\n{}", &rows[cut..])).expect("rest");
    (ticks, head, rest)
}

/// The consumer's delivered count once it has not moved for a second while the stream still
/// holds ticks it has not delivered: the run stopped pulling.
fn stopped_pulling(server: &NatsServer, stream: &str) -> u64 {
    let delivered = |c: &serde_json::Value| c["delivered"]["stream_seq"].as_u64().unwrap_or(0);
    let mut last = server.consumer(stream, "ticklane");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = server.consumer(stream, "ticklane");
        let n = delivered(&now);
        if n > 0 && n == delivered(&last) && now["num_pending"].as_u64() > Some(0) {
            return n;
        }
        assert!(n < STALL_TICKS, "the consumer delivered every tick although the store was locked: {now}");
        last = now;
    }
}

#[test]
fn a_stalled_store_stops_the_jetstream_consumer_and_loses_nothing() {
    let server = NatsServer::start(tmp("nats-stall"));
    let db = pg::PgCluster::start();
    let (ticks, head, rest) = stall_capture();
    let url = format!("jetstream://{}/STALL", server.addr());
    publish(&url, "msgpack", &head);
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(BIN)
        .args(["run", "--dedupe", "--metrics-addr", &metrics.to_string(), "--sink-postgres", &db.url()])
        .args(["--pg-table", "stall_bars", "--pg-queue-high", "50", "--pg-queue-low", "10", &url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    let pid = child.id();
    let child = Running(Some(child));
    wait_until("bars in the table", || {
        db.psql("SELECT to_regclass('stall_bars') IS NOT NULL").trim() == "t"
            && db.psql("SELECT count(*) > 0 FROM stall_bars").trim() == "t"
    });

    // Every write now waits: the store's queue fills, the shards block, the reader stops
    // taking from the link, and the link stops pulling while the stream still holds ticks.
    let lock = db.lock("stall_bars");
    publish(&url, "msgpack", &rest);
    let delivered = stopped_pulling(&server, "STALL");
    let page = http_get(metrics, "/metrics");
    assert_eq!(sample(&page, "ticklane_store_pressure"), 1.0, "the store is under pressure while locked");
    assert!(delivered <= STALL_TICKS / 3, "the run took {delivered} of {STALL_TICKS} ticks while stalled: not bounded");
    let resident = rss(pid);
    eprintln!("stalled: the consumer delivered {delivered} of {STALL_TICKS} ticks; resident set {resident} bytes");
    assert!(resident < 256 << 20, "resident set while stalled: {resident} bytes");

    lock.release();
    wait_until("every tick read", || messages(metrics) >= STALL_TICKS as f64);
    let stderr = child.terminate();
    let want = replay(&["--kind", "trades", "--dedupe", s(&ticks)]);
    assert!(want.status.success());
    let want = String::from_utf8_lossy(&want.stdout);
    let want = want.split_once('\n').expect("header").1;
    let table = db.bars_csv("stall_bars");
    assert!(want.lines().count() > 1000);
    let (got_n, want_n) = (table.lines().count(), want.lines().count());
    assert!(table == want, "the table differs from the replay ({got_n} vs {want_n} rows):\n{stderr}");
}

/// SIGTERM while the store cannot write: the drain gives up at `--drain-timeout` (well before
/// `--pg-flush-timeout`), exits 1 and says how far the output and the store got.
#[test]
fn a_drain_past_its_timeout_exits_1_saying_what_the_store_holds() {
    let server = NatsServer::start(tmp("nats-drain"));
    let db = pg::PgCluster::start();
    let url = format!("jetstream://{}/DRAIN", server.addr());
    let (first, second) = halves();
    publish(&url, "msgpack", &first);
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let child = Command::new(BIN)
        .args(["run", "--dedupe", "--metrics-addr", &metrics.to_string(), "--drain-timeout", "1s"])
        .args(["--sink-postgres", &db.url(), "--pg-table", "drain_bars", "--pg-flush-timeout", "5m", &url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    let mut child = Running(Some(child));
    wait_until("bars in the table", || {
        db.psql("SELECT to_regclass('drain_bars') IS NOT NULL").trim() == "t"
            && db.psql("SELECT count(*) > 0 FROM drain_bars").trim() == "t"
    });
    let lock = db.lock("drain_bars");
    publish(&url, "msgpack", &second);
    wait_until("every tick read", || messages(metrics) >= TRADES);

    let c = child.0.take().expect("running");
    assert!(Command::new("kill").args(["-TERM", &c.id().to_string()]).status().expect("kill").success());
    let out = c.wait_with_output().expect("wait");
    lock.release();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{e}");
    assert!(e.contains("the drain took longer than --drain-timeout 1s"), "{e}");
    // "PostgreSQL holds W of the A bars handed to it, F were in a write that may still land, …"
    let said = e.split_once("PostgreSQL holds ").expect("what the store holds").1;
    let n: Vec<u64> = said.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).take(4).collect();
    let (written, accepted, in_flight, waiting) = (n[0], n[1], n[2], n[3]);
    let rows: u64 = db.psql("SELECT count(*) FROM drain_bars").trim().parse().expect("count");
    assert!(waiting > 0 && written + in_flight + waiting == accepted, "{e}");
    assert!((written..=written + in_flight).contains(&rows), "the table ({rows} rows) and the message: {e}");
}

/// A run whose database does not answer fails before its link pulls a message: the durable
/// consumer keeps every tick for the next run. (The peer accepts and stays silent for the
/// whole connect timeout: time in which a link started first would take the stream.)
#[test]
fn an_unreachable_store_fails_the_run_before_anything_is_pulled() {
    let server = NatsServer::start(tmp("nats-nostore"));
    let url = format!("jetstream://{}/NOSTORE", server.addr());
    publish(&url, "msgpack", &data(CAPTURE));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = silent.local_addr().expect("addr").port();
    let held = std::thread::spawn(move || {
        let conn = silent.accept();
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(conn);
    });
    let dsn = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=2");
    let o = run(&["run", "--sink-postgres", &dsn, &url]);
    let _ = held.join();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("--sink-postgres"), "{e}");
    let c = server.consumer("NOSTORE", "ticklane");
    assert_eq!(c["delivered"]["stream_seq"].as_u64().unwrap_or(0), 0, "nothing taken from the stream: {c}");
}

/// The message count once it stops moving for a moment (the first half fully read).
fn messages_settled(metrics: SocketAddr) -> f64 {
    let mut last = -1.0;
    loop {
        let now = messages(metrics);
        if now == last {
            return now;
        }
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(600));
    }
}

/// A bar message (JSON or MessagePack) as the bars CSV line it stands for.
fn csv_line(v: &serde_json::Value) -> String {
    let cols = common::HEADER.split(',');
    cols.map(|k| match &v[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
    .collect::<Vec<_>>()
    .join(",")
}

/// The replay's bars CSV lines (header dropped), with `--out` to the bus as well.
fn replay_lines() -> Vec<String> {
    replay_bars().lines().skip(1).map(str::to_string).collect()
}

#[test]
fn bars_onto_core_nats_as_json_and_jetstream_as_msgpack_equal_the_csv() {
    let server = NatsServer::start(tmp("nats-sink"));
    let want = replay_lines();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = rt.block_on(async_nats::connect(server.addr())).expect("connect");
    let mut sub = rt.block_on(client.subscribe("bars.>")).expect("subscribe");
    rt.block_on(client.flush()).expect("flush");

    // Core NATS, JSON, a subject per instrument.
    let out = format!("nats://{}/bars.{{instrument}}", server.addr());
    let o = replay(&["--kind", "trades", "--dedupe", "--out", &out, s(&data(CAPTURE))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut got = Vec::new();
    while got.len() < want.len() {
        let next = futures_util::StreamExt::next(&mut sub);
        let m = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(60), next).await });
        let m = m.expect("a bar within a minute").expect("subscription open");
        assert_eq!(m.subject.as_str(), "bars.binance:BTCUSDT");
        got.push(csv_line(&serde_json::from_slice(&m.payload).expect("JSON bar")));
    }
    assert_eq!(got, want, "core NATS JSON bars");

    // JetStream, MessagePack: every bar stored once, acknowledged before the run ended.
    let out = format!("jetstream://{}/BARS", server.addr());
    let o = replay(&["--kind", "trades", "--dedupe", "--format", "msgpack", "--out", &out, s(&data(CAPTURE))]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<String> = rt.block_on(async {
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("BARS").await.expect("stream");
        let n = stream.cached_info().state.messages;
        let mut lines = Vec::new();
        for seq in 1..=n {
            let m = stream.get_raw_message(seq).await.expect("message");
            let v: serde_json::Value = rmp_serde::from_slice(&m.payload).expect("MessagePack bar");
            lines.push(csv_line(&v));
        }
        lines
    });
    assert_eq!(got, want, "JetStream MessagePack bars");
}

/// One run, two outputs: every width to files and the 1-minute bars onto core NATS, a
/// subject per width and instrument; the bus carries exactly the 1-minute file's bars.
#[test]
fn bars_fan_out_to_files_and_the_bus_in_one_run() {
    let server = NatsServer::start(tmp("nats-fan"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = rt.block_on(async_nats::connect(server.addr())).expect("connect");
    let mut sub = rt.block_on(client.subscribe("bars.>")).expect("subscribe");
    rt.block_on(client.flush()).expect("flush");

    let files = tmp("fan_{bars}.csv");
    let bus = format!("1m=nats://{}/bars.{{bars}}.{{instrument}}", server.addr());
    let args = ["--kind", "trades", "--dedupe", "--bars", "1s,1m", "--out", s(&files), "--out", &bus];
    let o = replay(&[&args[..], &[s(&data(CAPTURE))]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |w: &str| std::fs::read_to_string(s(&files).replace("{bars}", w)).expect("bars file");
    assert_eq!(read("1s"), replay_bars(), "the 1-second file equals the replay's bars");
    let want: Vec<String> = read("1m").lines().skip(1).map(str::to_string).collect();
    assert!(want.len() > 5, "the capture spans minutes");
    let mut got = Vec::new();
    while got.len() < want.len() {
        let next = futures_util::StreamExt::next(&mut sub);
        let m = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(60), next).await });
        let m = m.expect("a bar within a minute").expect("subscription open");
        assert_eq!(m.subject.as_str(), "bars.1m.binance:BTCUSDT", "only the 1-minute bars go to the bus");
        got.push(csv_line(&serde_json::from_slice(&m.payload).expect("JSON bar")));
    }
    assert_eq!(got, want, "the bus's bars equal the 1-minute file's");
    let more = futures_util::StreamExt::next(&mut sub);
    let more = rt.block_on(async { tokio::time::timeout(std::time::Duration::from_millis(300), more).await });
    assert!(more.is_err(), "nothing more on the bus: {more:?}");
}

#[test]
fn bus_output_usage_errors_exit_2() {
    let f = data(CAPTURE);
    for (args, needle) in [
        (vec!["--format", "msgpack", "--out", "bars.bin"], "--format msgpack: only for"),
        (vec!["--format", "parquet", "--out", "nats://127.0.0.1:4222/bars"], "--format parquet: a bus"),
        (vec!["--out", "nats://127.0.0.1:4222"], "--out nats://127.0.0.1:4222: expected"),
    ] {
        let mut a = vec!["--kind", "trades"];
        a.extend(args.iter().copied());
        a.push(s(&f));
        let o = replay(&a);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e}");
    }
    // publish names what it takes, not what `run` reads (ws:// was offered).
    let o = run(&["publish", "--to", "http://127.0.0.1:4222/ticks", s(&f)]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("unknown URL scheme `http`; expected nats://HOST:PORT/SUBJECT or jetstream://"), "{e}");
    assert!(!e.contains("ws://"), "{e}");
}
