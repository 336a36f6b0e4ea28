//! Issue 15's acceptance schedule (design.md §10): a 3-node NATS cluster (three nats-server
//! processes with routes; the stream keeps 3 copies), a real capture and a generated 1M-tick
//! capture over 1,000 instruments in 8 partitions, and 3 workers, each on its own node. While
//! they read, one worker is killed with SIGKILL and a fourth joins, and one NATS node is
//! stopped for some seconds. Once everything is read every worker drains. The PostgreSQL
//! table must equal the single-process replay's CSV (so no duplicate and no missing key) and
//! every tick must end acknowledged. `TICKLANE_FAULT_SEED` picks the schedule (which worker
//! dies and when, which node stops, when and how long); `TICKLANE_WORKER_TICKS` the generated
//! capture's size.
//!
//! Minutes per schedule on two cores, so it is not in the default suite: run it with
//! `cargo test --release -p ticklane-tools --test workers_cluster -- --ignored --nocapture`.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::{NatsCluster, NatsServer};
use common::once::{mix, seed, FLAGS};
use common::workers::{assert_same, delivered, drain_when_read, wait_for, Worker};
use common::{data, replay, run, s, tmp, wait_until};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The generated capture: `TICKLANE_WORKER_TICKS` trades (default 1M) over 1,000 instruments,
/// 1% repeated, up to 300 ms out of order.
fn generated() -> (PathBuf, u64) {
    let rows: u64 = std::env::var("TICKLANE_WORKER_TICKS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let f = tmp("gen-1m.csv");
    let n = rows.to_string();
    let args = ["gen", "--rows", &n, "--instruments", "1000", "--dup-fraction", "0.01", "--disorder", "300ms"];
    let o = run(&[&args[..], &["--spacing", "1ms", "--out", s(&f)]].concat());
    assert!(o.status.success(), "gen: {}", String::from_utf8_lossy(&o.stderr));
    (f, rows)
}

/// The replay's rows of every capture, merged by time (without the header).
fn replay_rows(files: &[PathBuf]) -> String {
    let names: Vec<&str> = files.iter().map(|f| s(f)).collect();
    let o = replay(&[&FLAGS[..], &["--kind", "trades"], &names[..]].concat());
    assert!(o.status.success(), "replay: {}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    text.split_once('\n').expect("header").1.to_string()
}

#[test]
#[ignore = "minutes per schedule: run with --release --ignored (see the file's doc)"]
fn workers_and_nodes_fail_and_the_table_still_equals_the_replay() {
    let t0 = Instant::now();
    let mut cluster = NatsCluster::start(tmp("cluster"), 3);
    let db = pg::PgCluster::start();
    let (gen, rows) = generated();
    let files = vec![data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"), gen];
    let urls: Vec<String> = cluster.nodes.iter().map(|n| format!("jetstream://{}/TICKS", n.addr())).collect();
    let mut args = vec!["publish", "--replicas", "3", "--partitions", "8", "--format", "msgpack", "--to", &urls[0]];
    args.extend(files.iter().map(|f| s(f)));
    let o = run(&args);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));
    let total = rows + 9_999;
    eprintln!("published {total} ticks in {:?}", t0.elapsed());

    let seed = seed();
    let (victim, killed_at) = ((mix(seed) % 3) as usize, 15 + mix(seed + 1) % 40);
    let (down, down_at, down_for) = ((mix(seed + 2) % 3) as usize, 10 + mix(seed + 3) % 60, 2 + mix(seed + 4) % 5);
    eprintln!(
        "schedule {seed}: worker w{} killed at {killed_at}%, node {down} down at {down_at}% for {down_for} s",
        victim + 1
    );
    let limit = Duration::from_secs(900);
    let mut workers: Vec<Worker> = (0..3).map(|i| Worker::start(&format!("w{}", i + 1), &urls[i], &db.url())).collect();
    let running = |c: &NatsCluster, skip: Option<usize>| -> Vec<usize> {
        (0..c.nodes.len()).filter(|&i| Some(i) != skip).collect()
    };
    let mut events = [(killed_at, 0u8), (down_at, 1u8)];
    events.sort();
    for (at, what) in events {
        let share = total * at / 100;
        let nodes: Vec<&NatsServer> = running(&cluster, None).into_iter().map(|i| &cluster.nodes[i]).collect();
        wait_for(&format!("{at}% delivered"), limit, &workers, || delivered(&nodes, total) >= share);
        if what == 0 {
            let w = workers.remove(workers.iter().position(|w| w.id == format!("w{}", victim + 1)).expect("victim"));
            eprintln!("{:?}: killing worker {} holding {} partitions", t0.elapsed(), w.id, w.owned());
            w.kill_9();
            workers.push(Worker::start("w4", &urls[victim], &db.url()));
        } else {
            eprintln!("{:?}: stopping node {down} for {down_for} s", t0.elapsed());
            cluster.nodes[down].stop();
            std::thread::sleep(Duration::from_secs(down_for));
            cluster.nodes[down].restart();
            wait_until("a JetStream leader again", || cluster.has_leader());
        }
    }
    let nodes: Vec<&NatsServer> = cluster.nodes.iter().collect();
    let logs = drain_when_read(&nodes, &mut workers, limit);
    eprintln!("{:?}: drained", t0.elapsed());
    let summaries: Vec<&str> = logs.lines().filter(|l| l.contains(" taken over, ")).collect();
    eprintln!("{}", summaries.join("\n"));
    assert_same(&db.bars_csv("bars"), &replay_rows(&files), &logs);
    eprintln!("{:?}: the table equals the replay", t0.elapsed());
}
