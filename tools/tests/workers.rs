//! Scale-out workers (design.md §10): three `ticklane run --worker` processes share a stream
//! partitioned 8 ways; one is killed with SIGKILL while they read and a fourth joins; the
//! others take the dead one's partitions over and hand some to the newcomer. Once everything
//! is read, every worker drains. The PostgreSQL table must equal the single-process replay's
//! CSV and every tick must end acknowledged. `TICKLANE_FAULT_SEED` picks another schedule
//! (which worker dies, when). The 3-node cluster version is tools/tests/workers_cluster.rs.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::NatsServer;
use common::once::{capture, capture_as, mix, replay_rows, seed, FLAGS, TICKS};
use common::workers::{assert_same, delivered, drain_when_read, wait_for, Worker};
use common::{run, s, tmp};
use std::process::Command;
use std::time::Duration;
use ticklane_tools::scale::partition_of;

#[test]
fn a_worker_killed_and_one_joining_and_the_table_still_equals_the_replay() {
    let server = NatsServer::start(tmp("nats"));
    let db = pg::PgCluster::start();
    let ticks = capture();
    let url = format!("jetstream://{}/TICKS", server.addr());
    let o = run(&["publish", "--partitions", "8", "--format", "msgpack", "--to", &url, s(&ticks)]);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));

    let (seed, servers, limit) = (seed(), [&server], Duration::from_secs(180));
    let mut workers: Vec<Worker> = ["w1", "w2", "w3"].iter().map(|id| Worker::start(id, &url, &db.url())).collect();
    let share = TICKS * (20 + mix(seed) % 50) / 100;
    wait_for("the workers to read a share", limit, &workers, || delivered(&servers, TICKS) >= share);
    let victim = workers.remove((mix(seed + 1) % 3) as usize);
    let held = victim.owned();
    eprintln!("killing worker {} (holding {held} partitions) after {share} ticks were delivered", victim.id);
    victim.kill_9();
    workers.push(Worker::start("w4", &url, &db.url()));
    wait_for("the newcomer to take partitions over", limit, &workers, || workers[2].owned() > 0);
    // The runs' autoscaling gauges, gathered on each worker's own endpoint.
    for name in ["ticklane_worker_saturation", "ticklane_worker_store_pressure"] {
        wait_for(name, limit, &workers, || workers.iter().all(|w| (0.0..=1.0).contains(&w.gauge(name))));
    }

    let logs = drain_when_read(&servers, &mut workers, limit);
    assert!(held > 0, "the killed worker held partitions: its ticks were redelivered elsewhere");
    assert_same(&db.bars_csv("bars"), &replay_rows(&ticks), &logs);
}

/// A partition run whose consumer another run makes anew (two owners for a moment: what the
/// workers' settling and fencing prevent) stops at once without draining: its open windows
/// would be written partly over the other run's whole ones. The other run's table is exact.
#[test]
fn a_run_whose_consumer_is_taken_over_exits_without_draining() {
    let server = NatsServer::start(tmp("nats-taken"));
    let db = pg::PgCluster::start();
    let ticks = capture_as("ticks-taken.csv");
    let url = format!("jetstream://{}/TICKS", server.addr());
    let o = run(&["publish", "--partitions", "8", "--format", "msgpack", "--to", &url, s(&ticks)]);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));
    let db_url = db.url();
    let start = |log: &str| {
        // One shard: the timing under which the superseded run's normal windows once landed
        // after the other run's (before writes were fenced by the claim).
        let args = [
            &FLAGS[..],
            &["--shards", "1", "--partition", "2", "--sink-postgres", &db_url, "--pg-table", "bars", &url],
        ]
        .concat();
        let log = std::fs::File::create(tmp(log)).expect("log");
        Command::new(common::BIN).arg("run").args(args).stderr(log).spawn().expect("ticklane run")
    };
    let delivered = || server.consumer("TICKS", "ticklane-p2")["delivered"]["consumer_seq"].as_u64().unwrap_or(0);
    let mut first = common::Running(Some(start("first.log")));
    common::wait_until("the first run reading", || delivered() > 1000);
    let second = common::Running(Some(start("second.log")));
    let t0 = std::time::Instant::now();
    let code = loop {
        if let Some(status) = first.0.as_mut().and_then(|c| c.try_wait().expect("wait")) {
            break status.code();
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the first run went on after its consumer was taken over");
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = std::fs::read_to_string(tmp("first.log")).unwrap_or_default();
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("another run took this run's consumer over: exiting without draining"), "{said}");

    common::wait_until("the second run read everything", || {
        let c = server.consumer("TICKS", "ticklane-p2");
        c["num_pending"].as_u64() == Some(0) && c["delivered"]["consumer_seq"].as_u64() > Some(0)
    });
    std::thread::sleep(Duration::from_secs(1));
    let stderr = second.terminate();
    let want: String = replay_rows(&ticks)
        .lines()
        .filter(|l| l.split(',').next().is_some_and(|name| partition_of(name, 8) == 2))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_same(&db.bars_csv("bars"), &want, &stderr);
}
