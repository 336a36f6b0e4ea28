//! `ticklane run ws://…` against a WebSocket server written here that serves the real Binance
//! capture (`data/binance_spot_btcusdt_20240808.stream.gz`) frame by frame, over several
//! connections with faults between them: a connection dropped abruptly after garbage frames,
//! one that stalls, one answering a ping. The live run's trade bars equal `ticklane replay`'s
//! bars of the same capture byte for byte (the overlap re-sent after each reconnection is
//! dropped by dedupe on trade id), and every fault is counted. The same run also writes its
//! bars to a PostgreSQL server started here: the table equals the replay's CSV too. Forwarded
//! through the same faults onto a partitioned JetStream stream (`--ticks-out`), the trades are
//! there once each. A capture file beside the live feed makes the replay's bars of the whole
//! capture; live quote bars (quotes with a venue time) equal the replay's through the same
//! faults (the re-sent quotes dropped by dedupe on their book update id).

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::{data, free_port, http_get, replay, s, sample, tmp, wait_until, Running, BIN};
use std::io::BufRead;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use tungstenite::Message;

/// The JSON of every line of the capture (its receive time stripped: a live peer sends only
/// the message).
fn frames() -> Vec<String> {
    capture_lines().iter().map(|l| message(l).to_string()).collect()
}

/// The capture's lines, `<receive ns> <json>` each.
fn capture_lines() -> Vec<String> {
    let gz = std::fs::File::open(data("binance_spot_btcusdt_20240808.stream.gz")).expect("capture");
    std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gz)).lines().map(|l| l.expect("line")).collect()
}

/// A capture line's message (its receive time stripped).
fn message(line: &str) -> &str {
    line.split_once(' ').expect("<ns> <json>").1
}

/// A server sending `frames` over one connection — once the test sets `go`, when `gated` —
/// and holding it open until the test is `done`: its URL, what it did, and its thread.
fn serve_once(frames: Vec<String>, gated: bool) -> (String, Arc<Served>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("ws://{}/stream?streams=btcusdt@trade/btcusdt@bookTicker", listener.local_addr().expect("addr"));
    let served = Arc::new(Served::default());
    let server = {
        let served = served.clone();
        std::thread::spawn(move || {
            let (tcp, _) = listener.accept().expect("accept");
            let mut ws = tungstenite::accept(tcp).expect("handshake");
            if gated {
                wait_until("the go-ahead", || served.go.load(SeqCst));
            }
            send_range(&mut ws, &frames, &served);
            served.all_sent.store(true, SeqCst);
            wait_until("the run done", || served.done.load(SeqCst));
        })
    };
    (url, served, server)
}

/// Waits until the server has sent everything and the run (serving metrics on `metrics`) has
/// read every message, then stops the run (SIGTERM: it drains) and the server; the run's stderr.
fn read_all_then_stop(
    child: Running,
    served: &Served,
    server: std::thread::JoinHandle<()>,
    metrics: SocketAddr,
) -> String {
    wait_until("everything sent", || served.all_sent.load(SeqCst));
    let texts = served.texts.load(SeqCst) as f64;
    wait_until("every message read", || sample(&get(metrics, "/metrics"), "ticklane_link_messages_total") >= texts);
    let stderr = child.terminate();
    served.done.store(true, SeqCst);
    server.join().expect("server");
    stderr
}

fn get(addr: SocketAddr, path: &str) -> String {
    http_get(addr, path)
}

/// What the server did, for the test to check and to wait on.
#[derive(Default)]
struct Served {
    /// Text frames sent over all connections.
    texts: AtomicUsize,
    /// Trade messages sent twice (the overlaps after reconnections).
    resent_trades: AtomicUsize,
    /// The client answered the ping on the last connection.
    pong: AtomicBool,
    /// The stalled connection was given up by the client.
    stall_seen: AtomicBool,
    /// The test saw `/readyz` go down: the last connection may be accepted.
    go: AtomicBool,
    /// Everything was sent on the last connection.
    all_sent: AtomicBool,
    done: AtomicBool,
}

fn send_range(ws: &mut tungstenite::WebSocket<TcpStream>, frames: &[String], served: &Served) {
    for f in frames {
        ws.write(Message::text(f.clone())).expect("write");
        served.texts.fetch_add(1, SeqCst);
    }
    ws.flush().expect("flush");
}

/// Connection 0: the first third, two garbage frames, then the socket dropped without a close.
/// Connection 1: from 50 frames back to two thirds, then silence (the client must give up).
/// Connection 2 (accepted once the test saw `/readyz` down): from 50 back to the end, a ping.
fn serve(listener: TcpListener, frames: Vec<String>, served: Arc<Served>) {
    let n = frames.len();
    let (a, b) = (n / 3, 2 * n / 3);
    let trades = |r: std::ops::Range<usize>| frames[r].iter().filter(|f| f.contains("@trade\"")).count();
    served.resent_trades.store(trades(a - 50..a) + trades(b - 50..b), SeqCst);
    for conn in 0..3 {
        if conn == 2 {
            wait_until("/readyz down between connections", || served.go.load(SeqCst));
        }
        let (tcp, _) = listener.accept().expect("accept");
        let mut ws = tungstenite::accept(tcp).expect("handshake");
        match conn {
            0 => {
                send_range(&mut ws, &frames[..a], &served);
                send_range(&mut ws, &["{not json".to_string()], &served);
                ws.send(Message::binary(vec![0xff, 0xfe, 0x00])).expect("binary");
                drop(ws); // abrupt: no close frame
            }
            1 => {
                send_range(&mut ws, &frames[a - 50..b], &served);
                ws.get_mut().set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
                // Silent; the client closes or drops the connection when its stall timeout passes.
                loop {
                    match ws.read() {
                        Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                        Ok(_) => {}
                    }
                }
                served.stall_seen.store(true, SeqCst);
            }
            _ => {
                send_range(&mut ws, &frames[b - 50..], &served);
                ws.send(Message::Ping(b"still there?".to_vec().into())).expect("ping");
                ws.get_mut().set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
                served.all_sent.store(true, SeqCst);
                while !served.done.load(SeqCst) {
                    match ws.read() {
                        Ok(Message::Pong(p)) if &p[..] == b"still there?" => served.pong.store(true, SeqCst),
                        Ok(Message::Close(_)) | Err(tungstenite::Error::ConnectionClosed) => break,
                        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

/// Waits for the run at `metrics` to go through the server's faults and read everything.
fn through_the_faults(served: &Served, metrics: SocketAddr) {
    wait_until("the stall", || served.stall_seen.load(SeqCst));
    wait_until("/readyz down", || {
        let r = get(metrics, "/readyz");
        r.starts_with("HTTP/1.0 503") && r.contains("down source ws://")
    });
    served.go.store(true, SeqCst);
    wait_until("everything sent", || served.all_sent.load(SeqCst));
    let texts = served.texts.load(SeqCst) as f64;
    wait_until("every message read", || sample(&get(metrics, "/metrics"), "ticklane_link_messages_total") >= texts);
    wait_until("the pong", || served.pong.load(SeqCst));
}

/// The capture's replay bars (trades, deduplicated), as CSV.
fn replay_bars() -> String {
    let capture = data("binance_spot_btcusdt_20240808.stream.gz");
    let r = replay(&["--kind", "trades", "--dedupe", "--out", "-", s(&capture)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    String::from_utf8(r.stdout).expect("utf-8")
}

#[test]
fn live_bars_equal_replay_bars_through_drops_garbage_and_a_stall() {
    let frames = frames();
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("ws://{}/stream?streams=btcusdt@trade/btcusdt@bookTicker", listener.local_addr().expect("addr"));
    let served = Arc::new(Served::default());
    let db = pg::PgCluster::start();
    let server = {
        let served = served.clone();
        std::thread::spawn(move || serve(listener, frames, served))
    };
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (live, sum) = (tmp("live.csv"), tmp("live.json"));
    let child = Running(Some(
        Command::new(BIN)
            .args(["run", "--kind", "trades", "--dedupe", "--stall-timeout", "1s", "--reconnect-max", "1s"])
            .args(["--metrics-addr", &metrics.to_string(), "--out", s(&live), "--summary", s(&sum)])
            .args(["--sink-postgres", &db.url(), "--pg-table", "ws_bars", &url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));

    through_the_faults(&served, metrics);
    let ready = get(metrics, "/readyz");
    assert!(ready.starts_with("HTTP/1.0 200") && ready.contains("up source ws://"), "{ready}");
    assert!(get(metrics, "/healthz").starts_with("HTTP/1.0 200"));

    let stderr = child.terminate();
    served.done.store(true, SeqCst);
    server.join().expect("server");

    let (got, want) = (std::fs::read_to_string(&live).expect("live"), replay_bars());
    assert!(want.lines().count() > 300, "the capture makes hundreds of bars");
    assert!(got == want, "live bars differ from the replay's:\n{stderr}");
    let table = db.bars_csv("ws_bars");
    assert!(table == want.split_once('\n').expect("header").1, "the table differs from the replay's CSV:\n{stderr}");

    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    let resent = served.resent_trades.load(SeqCst) as u64;
    assert!(resent > 0);
    assert_eq!(v["duplicates"], resent, "each re-sent trade dropped once: {v}");
    assert_eq!(v["trades_accepted"], 9_757 + resent, "{v}");
    assert_eq!(v["malformed_total"], 2, "the garbage text and binary frames: {v}");
    assert_eq!(v["link"]["reconnects"], 2, "{v}");
    assert_eq!(v["link"]["stalls"], 1, "{v}");
    assert_eq!(v["link"]["messages"], served.texts.load(SeqCst) as u64, "{v}");
}

/// The feed handler of a scale-out: `ticklane run ws://… --ticks-out jetstream://…` forwards
/// the live trades, through the same faults, onto a partitioned stream without dedupe of its
/// own: the trades re-sent after each reconnection carry their ids (`Nats-Msg-Id`) and are
/// stored once. A run over the stream then makes the replay's bars of the capture.
#[test]
fn a_live_feed_forwarded_to_a_partitioned_stream_holds_each_trade_once() {
    let bus = common::nats::NatsServer::start(tmp("nats-ws-forward"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("ws://{}/stream?streams=btcusdt@trade/btcusdt@bookTicker", listener.local_addr().expect("addr"));
    let served = Arc::new(Served::default());
    let server = {
        let served = served.clone();
        std::thread::spawn(move || serve(listener, frames(), served))
    };
    let (metrics, sum): (SocketAddr, _) = (([127, 0, 0, 1], free_port()).into(), tmp("forward.json"));
    let stream = format!("jetstream://{}/LIVE", bus.addr());
    let child = Running(Some(
        Command::new(BIN)
            .args(["run", "--kind", "trades", "--stall-timeout", "1s", "--reconnect-max", "1s", "--summary", s(&sum)])
            .args(["--metrics-addr", &metrics.to_string(), "--ticks-out", &stream, "--ticks-partitions", "4", &url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));
    through_the_faults(&served, metrics);
    let stderr = child.terminate();
    served.done.store(true, SeqCst);
    server.join().expect("server");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    let resent = served.resent_trades.load(SeqCst) as u64;
    assert_eq!(v["ticks_forwarded"], 9_757 + resent, "every trade received, re-sent ones too: {v}\n{stderr}");
    assert_eq!(v["link"]["reconnects"], 2, "{v}");
    assert_eq!(bus.stream_messages("LIVE"), 9_757, "each trade once on the stream");

    let (out, metrics) = (tmp("forwarded.csv"), free_port());
    let reader = Running(Some(
        Command::new(BIN)
            .args(["run", "--metrics-addr", &format!("127.0.0.1:{metrics}"), "--out", s(&out), &stream])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));
    let read = || sample(&get(([127, 0, 0, 1], metrics).into(), "/metrics"), "ticklane_link_messages_total");
    wait_until("the stream read", || read() >= 9_757.0);
    let stderr = reader.terminate();
    let got = std::fs::read_to_string(&out).expect("bars");
    assert!(got == replay_bars(), "the forwarded trades' bars differ from the replay's:\n{stderr}");
}

/// A capture beside a live feed (`ticklane run CAPTURE URL`): the first half of the capture as a
/// file, the rest (from 50 messages before the cut) over the WebSocket once the file is in; the
/// overlap is dropped by dedupe and the bars equal the replay's of the whole capture.
#[test]
fn a_capture_then_the_live_feed_make_the_replays_bars() {
    let lines = capture_lines();
    let half = lines.len() / 2;
    let first = tmp("first-half.stream");
    std::fs::write(&first, lines[..half].join("\n") + "\n").expect("first half");
    let rest: Vec<String> = lines[half - 50..].iter().map(|l| message(l).to_string()).collect();
    let in_file = lines[..half].iter().filter(|l| l.contains("@trade\"")).count() as f64;
    let (url, served, server) = serve_once(rest, true);
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (out, sum) = (tmp("backfilled.csv"), tmp("backfilled.json"));
    let child = Running(Some(
        Command::new(BIN)
            .args(["run", "--kind", "trades", "--dedupe", "--metrics-addr", &metrics.to_string()])
            .args(["--out", s(&out), "--summary", s(&sum), s(&first), &url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));
    let events_in = |node: &str| {
        let page = get(metrics, "/metrics");
        page.lines()
            .filter(|l| l.starts_with("ticklane_events_in_total{") && l.contains(&format!("node=\"{node}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    // The file first, so that the overlap's file copies are the ones kept (the two copies differ
    // in their receive time, which orders trades of one millisecond).
    wait_until("the capture in the graph", || events_in("dedupe") >= in_file);
    served.go.store(true, SeqCst);
    let stderr = read_all_then_stop(child, &served, server, metrics);

    let got = std::fs::read_to_string(&out).expect("bars");
    assert!(got == replay_bars(), "capture + live bars differ from the replay's:\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    let overlap = lines[half - 50..half].iter().filter(|l| l.contains("@trade\"")).count() as u64;
    assert!(overlap > 0, "the overlap holds trades");
    assert_eq!(v["duplicates"], overlap, "{v}");
    assert_eq!(v["trades_accepted"], 9_757 + overlap, "{v}");
}

/// Live quote bars equal the replay's, through the same faults: the capture's `bookTicker`
/// messages given a venue time `T` (as Binance futures send; spot sends none, so a live run
/// would stamp quotes with its own receive time and no replay could match it). The quotes
/// re-sent after each reconnection carry their book update id (`u`) and are dropped by dedupe
/// although their receive times are new; the run's quote bars equal `ticklane replay`'s of the
/// same messages as a capture file.
#[test]
fn live_quote_bars_equal_replay_quote_bars_through_the_faults() {
    let lines: Vec<String> = capture_lines()
        .into_iter()
        .map(|l| {
            let (ns, json) = l.split_once(' ').expect("<ns> <json>");
            let ms = ns.parse::<i64>().expect("ns") / 1_000_000;
            format!(
                "{ns} {}",
                json.replacen("@bookTicker\",\"data\":{", &format!("@bookTicker\",\"data\":{{\"T\":{ms},"), 1)
            )
        })
        .collect();
    let capture = tmp("timed-quotes.stream");
    std::fs::write(&capture, lines.join("\n") + "\n").expect("capture");
    let frames: Vec<String> = lines.iter().map(|l| message(l).to_string()).collect();
    assert!(frames.iter().filter(|f| f.contains("\"T\":")).count() > 20_000, "quotes with a venue time");
    let (a, b) = (frames.len() / 3, 2 * frames.len() / 3);
    let quotes = |r: std::ops::Range<usize>| frames[r].iter().filter(|f| f.contains("@bookTicker\"")).count();
    let resent = (quotes(a - 50..a) + quotes(b - 50..b)) as u64;
    assert!(resent > 0, "the overlaps hold quotes");

    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let url = format!("ws://{}/stream?streams=btcusdt@bookTicker", listener.local_addr().expect("addr"));
    let served = Arc::new(Served::default());
    let server = {
        let served = served.clone();
        std::thread::spawn(move || serve(listener, frames, served))
    };
    let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let (out, sum) = (tmp("live-quote-bars.csv"), tmp("live-quotes.json"));
    let child = Running(Some(
        Command::new(BIN)
            .args(["run", "--kind", "quotes", "--dedupe", "--stall-timeout", "1s", "--reconnect-max", "1s"])
            .args(["--metrics-addr", &metrics.to_string(), "--out", s(&out), "--summary", s(&sum), &url])
            .stderr(Stdio::piped())
            .spawn()
            .expect("ticklane run"),
    ));
    through_the_faults(&served, metrics);
    let stderr = child.terminate();
    served.done.store(true, SeqCst);
    server.join().expect("server");

    let r = replay(&["--kind", "quotes", "--out", "-", s(&capture)]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let (got, want) = (std::fs::read_to_string(&out).expect("quote bars"), String::from_utf8(r.stdout).expect("utf-8"));
    assert!(want.lines().count() > 300, "the capture makes hundreds of quote bars");
    assert!(got == want, "live quote bars differ from the replay's:\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    assert_eq!(v["quotes"]["duplicates"].as_u64(), Some(resent), "each re-sent quote dropped once: {v}");
    assert_eq!(v["quotes"]["quotes_accepted"].as_u64(), Some(28_040 + resent), "{v}");
}

/// `ticklane run`'s usage errors exit 2 before anything connects, each naming what is wrong.
#[test]
fn run_usage_errors_exit_2_naming_the_input_or_flag() {
    let file = data("GLBX_ESH4_trades_2023-12-25.csv");
    let ws = "ws://127.0.0.1:9/stream?streams=btcusdt@trade";
    for (args, needle) in [
        (vec![s(&file)], "INPUT: "),
        (vec![ws, ws], "exactly one live URL"),
        (
            vec!["--out", "b_{kind}.csv", s(&file), "ws://127.0.0.1:9/stream?streams=a@trade/a@bookTicker"],
            "trades only",
        ),
        (vec!["nats://127.0.0.1:4222"], "nats://HOST:PORT/SUBJECT"),
        (vec!["http://127.0.0.1/x"], "unknown URL scheme"),
        (vec!["--speed", "10", ws], "--speed"),
        (vec!["--stall-timeout", "soon", ws], "--stall-timeout"),
        (vec!["--kind", "auto", "ws://127.0.0.1:9/stream?streams=a@trade/a@bookTicker"], "{kind}"),
    ] {
        let o = Command::new(BIN).arg("run").args(&args).output().expect("run");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(needle), "{args:?}: {e:?}");
    }
}
