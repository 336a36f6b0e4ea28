//! Ticks/s of 1, 2 and 3 scale-out workers (`ticklane run --worker`, design.md §10) beside one
//! process reading the same partitioned stream (`ticklane run jetstream://…`), all into
//! PostgreSQL with acknowledgement after durable writes, against one throwaway `nats-server`
//! and one throwaway PostgreSQL on this machine.
//!
//! `target/release/worker_throughput [TICKS] [PARTITIONS] [RUNS]` (defaults 1,000,000, 8 and
//! 3). Needs `target/release/ticklane` (`cargo build --release -p ticklane-tools`), Debian's
//! `nats-server` and `postgresql` (started and removed by the program).
//!
//! The rate is measured from the consumers' own positions (the server's monitoring page,
//! polled every 20 ms): from the first tick delivered to the last, summed over the partition
//! consumers (or the one consumer). A consumer delivers only as fast as its run takes ticks
//! (the link stops pulling when the engine or the store is behind), so this is the rate at
//! which ticks become bars in flight to the table; start-up before the first delivery (process
//! start, the workers' two-beat settling, the consumers' creation) is left out, but not the
//! churn of several workers joining at once (the first to join holds every partition for a
//! moment), nor partitions starting a beat apart: for small TICKS these dominate.

#[path = "../../../tools/tests/common/nats.rs"]
#[allow(dead_code)]
mod nats;
#[path = "../../../tests/common/pg.rs"]
mod pg;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use ticklane_bench::procs::{http_get, median, ok, ticklane, Scratch};

/// Every run's flags (the effectively-once tests' ones).
const FLAGS: [&str; 7] = ["--kind", "trades", "--dedupe", "--max-delay", "500ms", "--bars", "1s"];

fn main() {
    let mut args = std::env::args().skip(1);
    let ticks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let partitions: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let bin = ticklane();
    let dir = Scratch::new("worker-bench");
    let capture = dir.join("ticks.csv");
    let rows = ticks.to_string();
    let gen = ["gen", "--rows", &rows, "--instruments", "1000", "--dup-fraction", "0.01", "--disorder", "300ms"];
    ok(Command::new(&bin).args(gen).args(["--spacing", "1ms", "--out"]).arg(&capture));
    let server = nats::NatsServer::start(dir.join("nats"));
    let db = pg::PgCluster::start();
    let url = format!("jetstream://{}/TICKS", server.addr());
    let p = partitions.to_string();
    ok(Command::new(&bin).args(["publish", "--format", "msgpack", "--partitions", &p, "--to", &url]).arg(&capture));
    println!("{ticks} ticks over 1,000 instruments in {partitions} partitions, into PostgreSQL; median of {runs}");
    println!("| readers | ticks/s | × one process |");
    println!("|---|---:|---:|");
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for run in 0..runs {
        for (k, r) in rates.iter_mut().enumerate() {
            let name = format!("r{run}k{k}");
            r.push(measure(&bin, &server, &db, &url, &name, k, partitions, ticks));
        }
    }
    let one = median(&mut rates[0]);
    println!("| one process, one consumer | {one:.0} | 1.00× |");
    for (k, r) in rates.iter_mut().enumerate().skip(1) {
        let m = median(r);
        println!("| {k} worker(s) | {m:.0} | {:.2}× |", m / one);
    }
}

/// One measurement: `workers` workers (0: one plain process) reading the stream through
/// consumers named after `name` into their own table; the ticks/s.
#[allow(clippy::too_many_arguments)]
fn measure(
    bin: &Path,
    server: &nats::NatsServer,
    db: &pg::PgCluster,
    url: &str,
    name: &str,
    workers: usize,
    partitions: u32,
    ticks: u64,
) -> f64 {
    let (db_url, table) = (db.url(), format!("bars_{name}"));
    let base = |c: &mut Command| {
        c.arg("run").args(FLAGS).args(["--sink-postgres", &db_url, "--pg-table", &table]);
        c.arg(format!("{url}/{name}")).stderr(Stdio::null()).stdout(Stdio::null());
    };
    let mut children: Vec<Child> = if workers == 0 {
        let mut c = Command::new(bin);
        base(&mut c);
        vec![c.spawn().expect("ticklane run")]
    } else {
        (0..workers)
            .map(|w| {
                let mut c = Command::new(bin);
                base(&mut c);
                c.args(["--worker", &format!("{name}-w{w}"), "--worker-ttl", "3s"]).spawn().expect("worker")
            })
            .collect()
    };
    let consumers: Vec<String> =
        if workers == 0 { vec![name.to_string()] } else { (0..partitions).map(|p| format!("{name}-p{p}")).collect() };
    let delivered = || -> u64 {
        consumers.iter().map(|c| server.consumer("TICKS", c)["delivered"]["consumer_seq"].as_u64().unwrap_or(0)).sum()
    };
    let t0 = Instant::now();
    let mut first: Option<(Instant, u64)> = None;
    let rate = loop {
        let n = delivered();
        let now = Instant::now();
        match first {
            None if n > 0 => first = Some((now, n)),
            Some((t, n0)) if n >= ticks => break (n - n0) as f64 / now.duration_since(t).as_secs_f64(),
            _ => {}
        }
        assert!(t0.elapsed() < Duration::from_secs(900), "the stream was never read to the end");
        std::thread::sleep(Duration::from_millis(20));
    };
    for c in &mut children {
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let _ = c.wait();
    }
    rate
}
