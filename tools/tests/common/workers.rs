//! What the scale-out tests share (tools/tests/workers.rs): `ticklane run --worker` processes
//! into PostgreSQL, their gauges, and the per-partition consumers' state.

use super::nats::NatsServer;
use super::once::FLAGS;
use super::{free_port, http_get, sample, tmp, BIN};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Partitions of the test stream.
pub const PARTITIONS: u32 = 8;
/// The membership's time to live in the tests (a kill -9 moves partitions within about this).
pub const TTL: &str = "3s";

/// A worker process, its metrics address and log file; killed when dropped (its partition runs
/// follow: their lifelines close).
pub struct Worker {
    pub id: String,
    pub child: Option<Child>,
    pub metrics: SocketAddr,
    pub log: std::path::PathBuf,
}

impl Worker {
    /// `ticklane run --worker ID` of `url` into the table `bars` at `db_url`.
    pub fn start(id: &str, url: &str, db_url: &str) -> Worker {
        let metrics: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = tmp(&format!("worker-{id}-{}.log", free_port()));
        let child = Command::new(BIN)
            .arg("run")
            .args(FLAGS)
            .args(["--worker", id, "--worker-ttl", TTL, "--metrics-addr", &metrics.to_string()])
            .args(["--sink-postgres", db_url, "--pg-table", "bars", url])
            .env("RUST_LOG", "warn,ticklane=info,ticklane_tools=info")
            .stderr(std::fs::File::create(&log).expect("log file"))
            .stdout(Stdio::null())
            .spawn()
            .expect("ticklane run --worker");
        Worker { id: id.to_string(), child: Some(child), metrics, log }
    }

    /// The partition runs it has now (0 while it cannot be asked).
    pub fn owned(&self) -> u64 {
        let body = std::panic::catch_unwind(|| http_get(self.metrics, "/metrics")).unwrap_or_default();
        sample(&body, "ticklane_worker_partitions_owned") as u64
    }

    /// A sample of the worker's own `/metrics` (NaN while it cannot be asked or lacks it).
    pub fn gauge(&self, name: &str) -> f64 {
        let body = std::panic::catch_unwind(|| http_get(self.metrics, "/metrics")).unwrap_or_default();
        let line = body.lines().find(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ')));
        line.and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(f64::NAN)
    }

    /// SIGKILL: the worker and (through their lifelines) its runs die without a word.
    pub fn kill_9(mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("wait");
        }
    }

    /// SIGINT, then waits: the worker drains its runs and exits 130. Returns its log.
    pub fn drain(mut self) -> String {
        let mut c = self.child.take().expect("running");
        assert!(Command::new("kill").args(["-INT", &c.id().to_string()]).status().expect("kill").success());
        let status = c.wait().expect("wait");
        let log = self.log_text();
        assert_eq!(status.code(), Some(130), "a drained worker exits 130:\n{log}");
        log
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            eprintln!("worker {} (killed by the test's end) had said:\n{}", self.id, self.log_text());
        }
    }
}

/// Each partition consumer's (`ticklane-pN`) state as the running `servers` report it:
/// (delivered: the furthest any reports; pending and ack pending: the least, a follower may
/// lag); zeros while it does not exist.
pub fn partitions(servers: &[&NatsServer]) -> Vec<(u64, u64, u64)> {
    (0..PARTITIONS)
        .map(|p| {
            let name = format!("ticklane-p{p}");
            let each: Vec<serde_json::Value> = servers
                .iter()
                .filter_map(|s| std::panic::catch_unwind(|| s.consumer("TICKS", &name)).ok())
                .filter(|c| !c.is_null())
                .collect();
            let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
            let delivered = each.iter().map(|c| n(&c["delivered"]["consumer_seq"])).max().unwrap_or(0);
            let pending = each.iter().map(|c| n(&c["num_pending"])).min().unwrap_or(u64::MAX);
            let ack_pending = each.iter().map(|c| n(&c["num_ack_pending"])).min().unwrap_or(u64::MAX);
            (delivered, pending, ack_pending)
        })
        .collect()
}

/// Ticks of the `total` in the stream delivered so far over all partitions: the total less what
/// each consumer has left (0 until every partition's consumer exists). Not the consumers'
/// delivery counts: a consumer made anew counts from 1 again.
pub fn delivered(servers: &[&NatsServer], total: u64) -> u64 {
    let left: Option<u64> =
        partitions(servers).iter().map(|&(_, pending, _)| (pending != u64::MAX).then_some(pending)).sum();
    left.map_or(0, |l| total.saturating_sub(l))
}

/// Waits for `f`, at most `limit`; the workers' logs in the failure.
pub fn wait_for(what: &str, limit: Duration, workers: &[Worker], mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        if t0.elapsed() > limit {
            let logs: Vec<String> = workers.iter().map(|w| format!("--- {}:\n{}", w.id, w.log_text())).collect();
            panic!("timed out waiting for {what}; the workers said:\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every partition is read by one live run, and nothing is left to deliver.
pub fn all_read(servers: &[&NatsServer], workers: &[Worker]) -> bool {
    let owned: u64 = workers.iter().map(Worker::owned).sum();
    owned == u64::from(PARTITIONS) && partitions(servers).iter().all(|&(d, pending, _)| d > 0 && pending == 0)
}

/// Once everything is read (seen twice a second apart), every worker drains; then every tick
/// must be acknowledged. The workers' logs.
pub fn drain_when_read(servers: &[&NatsServer], workers: &mut Vec<Worker>, limit: Duration) -> String {
    wait_for("every partition read to the end", limit, workers, || all_read(servers, workers));
    std::thread::sleep(Duration::from_secs(1));
    wait_for("every partition read to the end, still", limit, workers, || all_read(servers, workers));
    let logs: Vec<String> =
        workers.drain(..).map(|w| (w.id.clone(), w.drain())).map(|(id, l)| format!("--- {id}:\n{l}")).collect();
    let logs = logs.join("\n");
    let acked = || partitions(servers).iter().all(|&(_, pending, ack_pending)| pending == 0 && ack_pending == 0);
    let t0 = Instant::now();
    while !acked() {
        assert!(t0.elapsed() < Duration::from_secs(30), "unacknowledged: {:?}\n{logs}", partitions(servers));
        std::thread::sleep(Duration::from_millis(100));
    }
    logs
}

/// The table equals the replay's rows; the first differences and the logs otherwise.
pub fn assert_same(table: &str, want: &str, logs: &str) {
    if table != want {
        let (t, w): (Vec<&str>, Vec<&str>) = (table.lines().collect(), want.lines().collect());
        let diff: Vec<String> =
            t.iter().zip(&w).filter(|(a, b)| a != b).take(5).map(|(a, b)| format!("got  {a}\nwant {b}")).collect();
        eprintln!("first differences:\n{}", diff.join("\n"));
    }
    let (got_n, want_n) = (table.lines().count(), want.lines().count());
    assert!(table == want, "the table differs from the replay ({got_n} vs {want_n} rows):\n{logs}");
}
