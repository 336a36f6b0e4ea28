//! Effectively once on one machine (design.md §10): with a PostgreSQL store, `ticklane run`
//! acknowledges a JetStream tick only once every bar it contributes to is durably written, and
//! a run resuming after `kill -9` raises its watermark to the checkpoint saved with the
//! acknowledgement. Whatever the crash points (`TICKLANE_FAULT_SEED` picks another schedule),
//! the table ends equal to the replay's CSV.

mod common;

#[path = "../../tests/common/pg.rs"]
mod pg;

use common::nats::NatsServer;
use common::once::{capture, kill_9, mix, positions, read, replay_rows, seed, start, wait_for_run, TICKS};
use common::{run, s, tmp};

#[test]
fn kill_9_at_any_point_and_the_table_still_equals_the_replay() {
    let server = NatsServer::start(tmp("nats"));
    let db = pg::PgCluster::start();
    let ticks = capture();
    let url = format!("jetstream://{}/TICKS", server.addr());
    let o = run(&["publish", "--format", "msgpack", "--to", &url, s(&ticks)]);
    assert!(o.status.success(), "publish: {}", String::from_utf8_lossy(&o.stderr));

    // Three runs killed with SIGKILL after reading a random share of what is left.
    let seed = seed();
    // The furthest acknowledged position (a consumer made anew that has acknowledged nothing
    // yet reports 0).
    let mut acked_at = 0;
    for round in 0..3u64 {
        let (mut child, m) = start(&url, &db.url());
        let (delivered0, _) = positions(&server, "TICKS");
        let want = (TICKS - delivered0) * (20 + mix(seed * 3 + round) % 60) / 100;
        wait_for_run("the run to read its share", &mut child, || read(m) >= want as f64);
        kill_9(child);
        let (delivered, acked) = positions(&server, "TICKS");
        eprintln!("round {round}: killed after {want} ticks; consumer delivered {delivered}, acknowledged {acked}");
        assert!(acked < delivered, "a tick is acknowledged only once its bars are written: {acked} of {delivered}");
        acked_at = acked_at.max(acked);
    }
    assert!(acked_at > 0, "durable bars were acknowledged along the way");

    // The last run reads the rest and drains.
    let acked = acked_at;
    let (mut child, m) = start(&url, &db.url());
    wait_for_run("the rest read", &mut child, || read(m) >= (TICKS - acked) as f64);
    let stderr = child.terminate();
    assert_eq!(positions(&server, "TICKS").1, TICKS, "after the drain every tick is acknowledged:\n{stderr}");

    let (want, table) = (replay_rows(&ticks), db.bars_csv("bars"));
    let (got_n, want_n) = (table.lines().count(), want.lines().count());
    assert!(table == want, "the table differs from the replay ({got_n} vs {want_n} rows):\n{stderr}");
}
