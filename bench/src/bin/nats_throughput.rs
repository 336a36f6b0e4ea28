//! Ticks/s from NATS JetStream into bars (`ticklane run --dedupe jetstream://…`) beside a plain
//! subscribe-and-count loop with the same client and the same settings (async-nats: a durable
//! pull consumer read through pull requests of 1,000 messages published by hand, ack-all every
//! 512 messages, as ticklane's link does), in one run against one throwaway
//! `nats-server`, interleaved, median of RUNS, for MessagePack and JSON ticks; the ratio both
//! of the medians and as the median of each run's pair (with their range).
//!
//! `target/release/nats_throughput [TICKS] [RUNS] [--apart]` (defaults 1,000,000 and 5; the
//! environment variable `TICKLANE_RUN_ARGS` adds flags to ticklane's command, e.g. `--shards
//! 1`). By default the server and the two readers share every core, so a reader's CPU is taken
//! from the server feeding it; `--apart` gives the server the first core and the readers the
//! others (util-linux's `taskset`), as when the server is another machine. Needs
//! `target/release/ticklane` (`cargo build --release -p ticklane-tools`) and Debian's
//! `nats-server` (started and removed by the program).
//!
//! ticklane's rate is taken from its own `ticklane_link_messages_total` (published every
//! 250 ms; polled every 5 ms from shortly before each publish is due, so each sample's time
//! is known to 5 ms and a scrape's CPU is not spent 100 times a second): the steady rate
//! between the first publish showing messages and the last one before the count reaches
//! TICKS, both in mid-stream. The baseline's rate is measured from its first message to its
//! last, so start-up costs (process start, connecting, the consumer's creation) are left out
//! of both.

// The tests' throwaway server (it reaches `super::http_get` for its monitoring page).
#[path = "../../../tools/tests/common/nats.rs"]
#[allow(dead_code)]
mod nats;

use futures_util::StreamExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use ticklane_bench::procs::{http_get, median, ok, ticklane, Scratch};

fn main() {
    let (flags, args): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|a| a.starts_with("--"));
    let apart = match flags.as_slice() {
        [] => false,
        [f] if f == "--apart" => true,
        other => panic!("unknown flags {other:?}: expected [TICKS] [RUNS] [--apart]"),
    };
    let mut args = args.into_iter();
    let ticks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let bin = ticklane();
    let dir = Scratch::new("nats-bench");
    let capture = dir.join("ticks.csv");
    let rows = ticks.to_string();
    ok(Command::new(&bin).args(["gen", "--rows", &rows, "--instruments", "1000", "--out"]).arg(&capture));
    let server = if apart { apart_server(&dir) } else { nats::NatsServer::start(dir.join("nats")) };
    let cores =
        if apart { "the server on a core of its own, the readers on the others" } else { "all sharing every core" };
    println!("{ticks} ticks over 1,000 instruments, JetStream file storage, {runs} interleaved runs each, {cores}");
    println!("| ticks as | subscribe-and-count (ticks/s) | ticklane run → 1 s bars (ticks/s) | ratio of medians | median of pair ratios (range) |");
    println!("|---|---:|---:|---:|---:|");
    for format in ["msgpack", "json"] {
        let stream = format!("TICKS_{}", format.to_uppercase());
        let to = format!("jetstream://{}/{stream}", server.addr());
        ok(Command::new(&bin).args(["publish", "--to", &to, "--format", format]).arg(&capture));
        let (mut plain, mut engine) = (Vec::new(), Vec::new());
        for run in 0..runs {
            plain.push(count(&server.addr(), &stream, &format!("count{run}"), ticks));
            engine.push(ticklane_run(&bin, &format!("{to}/run{run}"), ticks, &dir));
        }
        // Each run's pair ran seconds apart: their ratio is steadier than the medians' on a
        // machine whose speed drifts.
        let mut ratios: Vec<f64> = engine.iter().zip(&plain).map(|(e, p)| e / p).collect();
        let (low, high) = ratios.iter().fold((f64::MAX, 0f64), |(l, h), &r| (l.min(r), h.max(r)));
        let (p, e, r) = (median(&mut plain), median(&mut engine), median(&mut ratios));
        println!("| {format} | {p:.0} | {e:.0} | {:.2}× | {r:.2}× ({low:.2}–{high:.2}) |", e / p);
    }
}

/// A server started on the first core this process may use; this process, and so the
/// readers, then on the others.
fn apart_server(dir: &Path) -> nats::NatsServer {
    let ids: Vec<String> = core_affinity::get_core_ids().unwrap_or_default().iter().map(|c| c.id.to_string()).collect();
    assert!(ids.len() >= 2, "--apart needs 2 cores or more, found {}", ids.len());
    let pin = |cores: &str| {
        let me = std::process::id().to_string();
        ok(Command::new("taskset").args(["--all-tasks", "--cpu-list", "-p", cores, &me]));
    };
    // The server inherits the mask it is started with.
    pin(&ids[0]);
    let server = nats::NatsServer::start(dir.join("nats"));
    pin(&ids[1..].join(","));
    server
}

/// Reads `ticks` messages through a new durable consumer, acking every 512 (ack-all); the
/// steady rate from the first ack at least [`WARM_UP`] after the first message to the last
/// message (ticklane's first sample, its first publish, comes up to as long after its start).
/// The deliveries are read as the client's plain messages from an inbox of our own, with pull
/// requests published by hand (as ticklane's link does, tools/src/live/nats/pulls.rs): the
/// client's `pull::Stream` makes a `jetstream::Message`, with a clone of the JetStream
/// context, per delivery, which made this loop slower than ticklane's link.
fn count(addr: &str, stream: &str, consumer: &str, ticks: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
        let client = async_nats::connect(addr).await.expect("connect");
        let js = jetstream::new(client.clone());
        let s = js.get_stream(stream).await.expect("stream");
        let config =
            pull::Config { durable_name: Some(consumer.into()), ack_policy: AckPolicy::All, ..Default::default() };
        let _: jetstream::consumer::PullConsumer = s.create_consumer(config).await.expect("consumer");
        let inbox = async_nats::Subject::from(client.new_inbox());
        let mut deliveries = client.subscribe(inbox.clone()).await.expect("subscribe");
        let next = async_nats::Subject::from(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"));
        // The pull settings of ticklane's link: 1,000 per request, another when half are left.
        let ask =
            || client.publish_with_reply(next.clone(), inbox.clone(), r#"{"batch":1000,"expires":10000000000}"#.into());
        ask().await.expect("pull");
        let (mut asked, mut n, mut first, mut from) = (1000u64, 0u64, None, None);
        while n < ticks {
            let m = deliveries.next().await.expect("open");
            if m.status.is_some_and(|s| s != async_nats::StatusCode::OK) {
                asked = 0; // a lapsed request (none lapse in a run this short)
            } else {
                let t = *first.get_or_insert_with(Instant::now);
                (n, asked) = (n + 1, asked.saturating_sub(1));
                if n % 512 == 0 || n == ticks {
                    // The clock is read here only, once per 512 messages.
                    if from.is_none() && t.elapsed() >= WARM_UP {
                        from = Some((n, Instant::now()));
                    }
                    client.publish(m.reply.expect("a reply subject"), "".into()).await.expect("ack");
                }
            }
            if asked <= 500 {
                ask().await.expect("pull");
                asked += 1000;
            }
        }
        let (n0, t0) = from.expect("too few ticks for a steady rate: use more");
        (ticks - n0) as f64 / t0.elapsed().as_secs_f64()
    })
}

/// The start-up a rate leaves out: ticklane publishes its first count 250 ms after its link
/// starts.
const WARM_UP: Duration = Duration::from_millis(250);

/// `ticklane run --dedupe` on `url` until its link has read `ticks` messages; the steady rate.
fn ticklane_run(bin: &Path, url: &str, ticks: u64, dir: &Path) -> f64 {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let metrics = format!("127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .args(["run", "--kind", "trades", "--dedupe", "--metrics-addr", &metrics])
        .args(std::env::var("TICKLANE_RUN_ARGS").unwrap_or_default().split_whitespace())
        .arg("--out")
        .arg(dir.join("bars.csv"))
        .arg(url)
        .stderr(Stdio::null())
        .spawn()
        .expect("ticklane run");
    let rate = steady_rate(ticks, || messages(&metrics));
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    rate
}

/// The steady rate of a counter that `count` reads, which its process publishes every 250 ms:
/// between the first publish that shows messages and the last one before the count reaches
/// `ticks`. Both ends are publishes in mid-stream (the counter's value is the count at that
/// instant), seen within one poll. The publish that reaches `ticks` comes up to 250 ms after
/// the last message, so ending there would count that idle time (up to a tenth of a
/// 2-second run). A scrape costs ticklane's process about 180 µs of CPU (1,000 scrapes, from
/// `/proc`): polled every 2 ms (the first harness) that was 9% of a core on the machine it
/// measures, every 10 ms 2%; so after each publish seen the poll sleeps until shortly before
/// the next is due ([`QUIET`]), then looks every 5 ms (about 20 scrapes a second).
fn steady_rate(ticks: u64, mut count: impl FnMut() -> f64) -> f64 {
    let t0 = Instant::now();
    // The first and the latest sample that showed more messages: when, and the count.
    let (mut first, mut last) = (None::<(Instant, f64)>, None::<(Instant, f64)>);
    loop {
        let n = count();
        let now = Instant::now();
        if n >= ticks as f64 {
            break;
        }
        let seen = n > 0.0 && last.is_none_or(|(_, m)| n > m);
        if seen {
            first.get_or_insert((now, n));
            last = Some((now, n));
        }
        assert!(t0.elapsed() < Duration::from_secs(600), "ticklane run never read every tick");
        std::thread::sleep(if seen { QUIET } else { Duration::from_millis(5) });
    }
    let ((t1, n1), (t2, n2)) = (first.expect("a publish"), last.expect("a publish"));
    assert!(n2 > n1, "too few ticks for two publishes in mid-stream: use more");
    (n2 - n1) / t2.duration_since(t1).as_secs_f64()
}

/// After a publish is seen, the time before the next one may come: publishes are at least
/// 250 ms apart (`tools/src/live/mod.rs`, `PUBLISH_EVERY`), and this one was seen up to a
/// poll (5 ms) late.
const QUIET: Duration = Duration::from_millis(240);

/// `ticklane_link_messages_total` on the metrics page (0 when not up yet).
fn messages(addr: &str) -> f64 {
    let page = http_get(addr, "/metrics");
    let line = page.lines().find(|l| l.starts_with("ticklane_link_messages_total"));
    line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}
