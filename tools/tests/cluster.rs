//! Effectively once on a 3-node NATS cluster (design.md §10, issue 15's fault schedule without
//! the workers yet): the ticks in a stream with 3 copies; a run is reading when one node is
//! stopped for some seconds and started again, and is then killed with SIGKILL; a second run,
//! connected to another node, reads the rest and drains. The PostgreSQL table must equal the
//! replay's CSV, and every tick must end acknowledged. `TICKLANE_FAULT_SEED` picks another
//! schedule (which node stops, when, when the run dies).
//!
//! Two failures this test found are fixed in the link:
//! - deliveries lost in flight when the run's own node went down were acknowledged by a later
//!   ack-all (the table ended 1 to 3 bars short); they are now read back by stream sequence;
//! - after that node restarted, its checkpoint saves were answered "no stream found" and the run
//!   crawled; the client now reconnects after 10 failed saves.
//!
//! It is kept out of the default suite (`#[ignore]`) until it has a record of passing under
//! CI's load as well. After those fixes, seeds 4, 5 and 9–16 passed here, 10 of 10. One more
//! run of seed 10 had timed out on the test's own reading of the consumer's positions (the max
//! of tuples, not of each position); that is fixed, and seed 10 then passed.
//! Run it with `cargo test -p ticklane-tools --test cluster -- --ignored`.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::NatsCluster;
use common::once::{capture, kill_9, mix, positions, read, replay_rows, seed, start, wait_for_run, TICKS};
use common::{run, s, tmp, wait_until};
use std::time::Duration;

/// The consumer's positions: the furthest any node reports of each (followers may lag or show
/// zeros).
fn positions_in(c: &NatsCluster) -> (u64, u64) {
    let all: Vec<(u64, u64)> = c.nodes.iter().map(|n| positions(n, "TICKS")).collect();
    (all.iter().map(|p| p.0).max().unwrap_or(0), all.iter().map(|p| p.1).max().unwrap_or(0))
}

#[test]
#[ignore = "needs a record under CI load first (see the file's doc); run with --ignored"]
fn a_node_down_and_a_run_killed_and_the_table_still_equals_the_replay() {
    let mut cluster = NatsCluster::start(tmp("cluster"), 3);
    let db = pg::PgCluster::start();
    let ticks = capture();
    let urls: Vec<String> = cluster.nodes.iter().map(|n| format!("jetstream://{}/TICKS", n.addr())).collect();
    let node = |i: usize| urls[i].clone();
    let o = run(&["publish", "--replicas", "3", "--format", "msgpack", "--to", &node(0), s(&ticks)]);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));

    let seed = seed();
    let (down, at, killed_at) = ((mix(seed) % 3) as usize, 10 + mix(seed + 1) % 30, 50 + mix(seed + 2) % 30);
    let (mut child, m) = start(&node(1), &db.url());
    wait_for_run("the run to read its first share", &mut child, || read(m) >= (TICKS * at / 100) as f64);
    cluster.nodes[down].stop();
    std::thread::sleep(Duration::from_secs(3));
    cluster.nodes[down].restart();
    wait_until("a JetStream leader again", || cluster.has_leader());
    wait_for_run("the run to read its second share", &mut child, || read(m) >= (TICKS * killed_at / 100) as f64);
    kill_9(child);
    let (delivered, acked) = positions_in(&cluster);
    eprintln!("node {down} down at {at}%, run killed at {killed_at}%: delivered {delivered}, acknowledged {acked}");

    let (mut child, m) = start(&node(2), &db.url());
    wait_for_run("the rest read", &mut child, || read(m) >= (TICKS - acked) as f64);
    let stderr = child.terminate();
    wait_until("every tick acknowledged", || positions_in(&cluster).1 == TICKS);

    let (want, table) = (replay_rows(&ticks), db.bars_csv("bars"));
    let (got_n, want_n) = (table.lines().count(), want.lines().count());
    if table != want {
        let (t, w): (Vec<&str>, Vec<&str>) = (table.lines().collect(), want.lines().collect());
        let diff: Vec<String> =
            t.iter().zip(&w).filter(|(a, b)| a != b).take(5).map(|(a, b)| format!("got  {a}\nwant {b}")).collect();
        eprintln!("first differences:\n{}", diff.join("\n"));
    }
    assert!(table == want, "the table differs from the replay ({got_n} vs {want_n} rows):\n{stderr}");
}
