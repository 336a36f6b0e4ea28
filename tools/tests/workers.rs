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
use common::once::{capture, mix, replay_rows, seed, TICKS};
use common::workers::{assert_same, delivered, drain_when_read, wait_for, Worker};
use common::{run, s, tmp};
use std::time::Duration;

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
    wait_for("the workers to read a share", limit, &workers, || delivered(&servers) >= share);
    let victim = workers.remove((mix(seed + 1) % 3) as usize);
    let held = victim.owned();
    eprintln!("killing worker {} (holding {held} partitions) after {share} ticks were delivered", victim.id);
    victim.kill_9();
    workers.push(Worker::start("w4", &url, &db.url()));
    wait_for("the newcomer to take partitions over", limit, &workers, || workers[2].owned() > 0);

    let logs = drain_when_read(&servers, &mut workers, limit);
    assert!(held > 0, "the killed worker held partitions: its ticks were redelivered elsewhere");
    assert_same(&db.bars_csv("bars"), &replay_rows(&ticks), &logs);
}
