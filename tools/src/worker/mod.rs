//! `ticklane run --worker ID jetstream://…` (design.md §10): one worker of a group reading a
//! partitioned JetStream stream.
//!
//! Every beat (a fifth of the membership's time to live) the worker renews its membership
//! ([`Membership`]), reads the members, computes the partitions it owns by rendezvous hashing,
//! and makes its partition runs ([`runs`]) match:
//! - a partition it lost: its run is killed. The new owner resumes from what was acknowledged,
//!   which is only what is durably written (design.md §10), so nothing is lost, and the windows
//!   the killed run had open are rebuilt there from ticks all delivered again.
//! - a partition it gained: its run starts once the partition has been this worker's for two
//!   beats, by when the previous owner, if alive, has seen the same membership and killed its
//!   run: one reader per partition.
//! - a worker that cannot renew its membership for a quarter of the time to live kills its
//!   runs (fencing) before the others can count it gone and take over.
//!
//! SIGTERM leaves the group (runs killed, membership removed: the others take over at once);
//! SIGINT drains (each run's windows fire and are written and acknowledged, then it leaves).

mod gauges;
mod runs;

pub(crate) use runs::{exit_with_parent, PARENT_ENV};

use crate::cli::RunArgs;
use crate::outcome::{BadInput, Outcome};
use crate::plan::{Destination, Plan};
use anyhow::anyhow;
use runs::{Run, Template};
use signal_hook::consts::{SIGINT, SIGTERM};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane_tools::live::{LiveUrl, NatsTarget};
use ticklane_tools::scale::{Members, Membership, MembershipError, WorkerId};

/// Runs worker `args.worker` until SIGTERM (leave) or SIGINT (drain).
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let (id, server, stream) = check(args)?;
    let signal = watch_signals()?;
    let Some(bus) = join(&id, &server, &stream, args.worker_ttl, &signal)? else {
        return Ok(Outcome::Interrupted(signal.load(SeqCst)));
    };
    if bus.ttl() != args.worker_ttl {
        log::warn!("worker {id}: the membership stream's time to live is {:?}; it holds", bus.ttl());
    }
    if let Some(addr) = args.replay.metrics_addr {
        ticklane::serve_metrics(addr).map_err(|e| anyhow!("--metrics-addr {addr}: {e}"))?;
    }
    let gauges = args.replay.metrics_addr.map(|_| gauges::Gauges::start()).transpose()?;
    let mut w = Worker::new(id, bus, Template::from_env()?, gauges);
    log::info!("worker {}: joined; {} partitions of stream {stream}", w.id, w.partitions);
    let outcome = w.serve(&signal, args.drain_timeout);
    w.report();
    outcome
}

/// The signal received (0: none yet); a second one exits at once.
fn watch_signals() -> anyhow::Result<Arc<AtomicI32>> {
    let signal = Arc::new(AtomicI32::new(0));
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let got = signal.clone();
    std::thread::Builder::new().name("ticklane-signals".into()).spawn(move || {
        for sig in signals.forever() {
            if got.swap(sig, SeqCst) != 0 {
                std::process::exit(128 + sig); // a second signal: the runs go with their lifelines
            }
        }
    })?;
    Ok(signal)
}

/// The membership, opened with capped backoff while the bus does not answer (`None` when a
/// signal came first); a stream workers cannot share is bad input.
fn join(
    id: &WorkerId,
    server: &str,
    stream: &str,
    ttl: Duration,
    signal: &AtomicI32,
) -> anyhow::Result<Option<Membership>> {
    let mut backoff = ticklane_tools::live::Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
    while signal.load(SeqCst) == 0 {
        match Membership::open(server, stream, id, ttl) {
            Ok(m) => return Ok(Some(m)),
            Err(MembershipError::Stream(e)) => return Err(BadInput(format!("worker {id}: {e}")).into()),
            Err(MembershipError::Bus(e)) => {
                let wait = backoff.next_wait();
                log::warn!("worker {id}: {e}; joining again in {wait:?}");
                let until = Instant::now() + wait;
                while Instant::now() < until && signal.load(SeqCst) == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    Ok(None)
}

/// The worker's id, server and stream; bad usage for anything a worker cannot do.
fn check(args: &RunArgs) -> anyhow::Result<(WorkerId, String, String)> {
    let bad = |m: String| anyhow::Error::new(BadInput(m));
    if crate::spec::is_pipeline(&args.replay.files).is_some() {
        return Err(bad(
            "--worker: give the stream as jetstream://HOST:PORT/STREAM with flags, not a pipeline file".into()
        ));
    }
    let id = WorkerId::new(args.worker.as_deref().unwrap_or_default()).map_err(|e| bad(format!("--worker: {e}")))?;
    let mut problems = Vec::new();
    if args.partition.is_some() {
        problems.push("--partition: a worker reads the partitions it owns; give --worker or --partition".to_string());
    }
    if args.replay.summary.is_some() {
        problems.push("--summary: not with --worker (each partition's run reports on its own)".into());
    }
    if args.replay.ticks.ticks_out.is_some() {
        problems.push("--ticks-out: not with --worker (forward ticks from the feed handler, before the stream)".into());
    }
    if args.replay.metrics_linger.is_some() {
        problems.push("--metrics-linger: not with --worker (a worker serves its metrics until it leaves)".into());
    }
    let plan = Plan::from_run(args).map_err(|p| bad(p.to_string()))?;
    let o = &plan.outputs;
    let widths = o.coarser.iter().chain(&o.quote_coarser).flat_map(|(_, outs)| outs);
    let mut outs = o.bars.iter().chain(&o.quote_bars).chain(widths);
    if !args.replay.out.is_empty() && outs.any(|(d, _)| !matches!(d, Destination::Bus(..))) {
        problems
            .push("--out: a worker's bars go to --sink-postgres or a bus (nats://, jetstream://), not a file".into());
    }
    if plan.store.is_none() {
        problems.push(
            "--worker needs --sink-postgres: a tick is acknowledged once its bars are durably written, \
                       so that a partition moves without loss (design.md §10)"
                .into(),
        );
    }
    let target = match plan.live.map(|l| l.url) {
        Some(LiveUrl::Nats(NatsTarget::JetStream { server, stream, .. })) => Some((server, stream)),
        _ => {
            problems
                .push("--worker: workers read a partitioned stream: jetstream://HOST:PORT/STREAM[/CONSUMER]".into());
            None
        }
    };
    match target {
        Some((server, stream)) if problems.is_empty() => Ok((id, server, stream)),
        _ => Err(bad(problems.join("\n"))),
    }
}

/// What a worker counts (the summary and `ticklane_worker_*` metrics).
#[derive(Default)]
struct Counts {
    /// Partitions given up to another member.
    handoffs: u64,
    /// Partitions taken over (started).
    takeovers: u64,
    /// Times the runs were killed for want of a renewed membership.
    fenced: u64,
    /// Partition runs that ended by themselves and were started again.
    restarts: u64,
}

struct Worker {
    id: WorkerId,
    bus: Membership,
    partitions: u32,
    template: Template,
    runs: BTreeMap<u32, Run>,
    /// Partitions gained, since when (started once settled).
    gained: BTreeMap<u32, Instant>,
    /// When the last acknowledged heartbeat was sent.
    renewed: Option<Instant>,
    members: usize,
    counts: Counts,
    probe: ticklane::health::Probe,
    /// The runs' autoscaling gauges, gathered when the worker serves metrics.
    gauges: Option<gauges::Gauges>,
}

impl Worker {
    fn new(id: WorkerId, bus: Membership, template: Template, gauges: Option<gauges::Gauges>) -> Worker {
        let probe = ticklane::health::probe(&format!("worker {id}"));
        let partitions = bus.partitions();
        Worker {
            id,
            bus,
            partitions,
            template,
            runs: BTreeMap::new(),
            gained: BTreeMap::new(),
            renewed: None,
            members: 0,
            counts: Counts::default(),
            probe,
            gauges,
        }
    }

    /// The beat: a fifth of the time to live.
    fn beat(&self) -> Duration {
        self.bus.ttl() / 5
    }

    /// Beats until a signal; then leaves or drains.
    fn serve(&mut self, signal: &AtomicI32, drain_timeout: Duration) -> anyhow::Result<Outcome> {
        loop {
            match signal.load(SeqCst) {
                SIGINT => return Ok(self.drain(signal, drain_timeout)),
                0 => {}
                sig => return Ok(self.leave(sig)),
            }
            self.step()?;
            let next = Instant::now() + self.beat();
            while Instant::now() < next && signal.load(SeqCst) == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// One beat: renew, fence if the membership could not be renewed in time, else follow the
    /// assignment.
    fn step(&mut self) -> anyhow::Result<()> {
        let sent = Instant::now();
        match self.bus.beat() {
            Ok(()) => self.renewed = Some(sent),
            Err(e) => log::warn!("worker {}: {e}", self.id),
        }
        if self.renewed.is_none_or(|t| t.elapsed() >= self.bus.ttl() / 4) {
            self.fence();
            return Ok(());
        }
        self.probe.set(true);
        let members = match self.bus.members() {
            Ok(m) => m,
            Err(e) => {
                log::warn!("worker {}: {e}", self.id);
                return Ok(());
            }
        };
        self.reap()?;
        self.follow(&members);
        self.publish();
        Ok(())
    }

    /// Kills every run: this worker cannot show it is alive, and the others will soon take its
    /// partitions over.
    fn fence(&mut self) {
        self.probe.set(false);
        if !self.runs.is_empty() {
            log::error!(
                "worker {}: membership not renewed for {:?}: stopping its {} partition runs before the others take \
                 over",
                self.id,
                self.bus.ttl() / 4,
                self.runs.len()
            );
            self.counts.fenced += 1;
            for (p, r) in std::mem::take(&mut self.runs) {
                r.kill();
                self.forget(p);
            }
        }
        self.gained.clear();
    }

    /// Runs that ended by themselves: bad usage ends the worker (every run would fail alike);
    /// anything else is logged and the partition started again.
    fn reap(&mut self) -> anyhow::Result<()> {
        let mut ended = Vec::new();
        for (p, r) in &mut self.runs {
            if let Some(status) = r.ended() {
                ended.push((*p, status));
            }
        }
        for (p, status) in ended {
            self.runs.remove(&p);
            self.forget(p);
            if status.code() == Some(2) {
                return Err(
                    BadInput(format!("worker {}: partition {p}'s run refused its flags ({status})", self.id)).into()
                );
            }
            log::warn!("worker {}: partition {p}'s run ended ({status}); starting it again", self.id);
            self.counts.restarts += 1;
        }
        Ok(())
    }

    /// Kills the runs of partitions lost; starts those of partitions gained two beats ago.
    fn follow(&mut self, members: &Members) {
        let mut ids: Vec<&str> = members.ids().iter().map(WorkerId::as_str).collect();
        if !ids.contains(&self.id.as_str()) {
            ids.push(self.id.as_str()); // renewed just now: the listing lags
        }
        self.members = ids.len();
        let owned: BTreeSet<u32> = Members::new(&ids)
            .map(|m| m.owned_by(self.id.as_str(), self.partitions))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let lost: Vec<u32> = self.runs.keys().filter(|p| !owned.contains(p)).copied().collect();
        for p in lost {
            if let Some(r) = self.runs.remove(&p) {
                r.kill();
                self.forget(p);
                self.counts.handoffs += 1;
                log::info!("worker {}: partition {p} handed over", self.id);
            }
        }
        self.gained.retain(|p, _| owned.contains(p));
        let settle = self.beat() * 2;
        let missing: Vec<u32> = owned.into_iter().filter(|p| !self.runs.contains_key(p)).collect();
        for p in missing {
            let since = *self.gained.entry(p).or_insert_with(Instant::now);
            if since.elapsed() < settle {
                continue;
            }
            let metrics = self.gauges.as_ref().and_then(|g| g.address(p));
            match self.template.start(p, metrics) {
                Ok(r) => {
                    self.runs.insert(p, r);
                    self.gained.remove(&p);
                    self.counts.takeovers += 1;
                    log::info!("worker {}: partition {p} taken over", self.id);
                }
                Err(e) => log::error!("worker {}: cannot start partition {p}'s run: {e}", self.id),
            }
        }
    }

    /// Partition `p`'s run is gone: its gauges are no longer read.
    fn forget(&self, p: u32) {
        if let Some(g) = &self.gauges {
            g.forget(p);
        }
    }

    /// SIGTERM: the runs are killed and the membership removed; the others take over at once.
    fn leave(&mut self, sig: i32) -> Outcome {
        log::warn!("worker {}: signal {sig}: leaving; the other workers take its partitions over", self.id);
        self.counts.handoffs += self.runs.len() as u64;
        std::mem::take(&mut self.runs).into_values().for_each(Run::kill);
        if let Err(e) = self.bus.leave() {
            log::warn!("worker {}: {e}; its membership lapses by itself", self.id);
        }
        Outcome::Interrupted(sig)
    }

    /// SIGINT: every run drains (its windows fire, its bars are written and acknowledged) while
    /// the membership is kept, so that nobody takes a partition over meanwhile; then leaves.
    fn drain(&mut self, signal: &AtomicI32, timeout: Duration) -> Outcome {
        log::warn!("worker {}: draining its {} partition runs", self.id, self.runs.len());
        self.runs.values().for_each(Run::drain);
        let until = Instant::now() + timeout + self.bus.ttl();
        while !self.runs.is_empty() && Instant::now() < until {
            if let Err(e) = self.bus.beat() {
                log::warn!("worker {}: {e}", self.id);
            }
            self.runs.retain(|_, r| r.ended().is_none());
            std::thread::sleep(Duration::from_millis(100).min(self.beat()));
        }
        if !self.runs.is_empty() {
            log::error!("worker {}: {} partition runs did not drain in time: killed", self.id, self.runs.len());
            std::mem::take(&mut self.runs).into_values().for_each(Run::kill);
        }
        if let Err(e) = self.bus.leave() {
            log::warn!("worker {}: {e}; its membership lapses by itself", self.id);
        }
        Outcome::Interrupted(signal.load(SeqCst))
    }

    /// The worker's gauges and counters (once per beat).
    fn publish(&self) {
        let c = &self.counts;
        metrics::gauge!("ticklane_worker_partitions_owned").set(self.runs.len() as f64);
        metrics::gauge!("ticklane_worker_members").set(self.members as f64);
        metrics::counter!("ticklane_worker_handoffs_total").absolute(c.handoffs);
        metrics::counter!("ticklane_worker_takeovers_total").absolute(c.takeovers);
        metrics::counter!("ticklane_worker_fenced_total").absolute(c.fenced);
        metrics::counter!("ticklane_worker_restarts_total").absolute(c.restarts);
    }

    /// The worker's summary, on stderr.
    fn report(&self) {
        let c = &self.counts;
        eprintln!(
            "ticklane: worker {}: of {} partitions, {} taken over, {} handed over, {} runs restarted; fenced {} times",
            self.id, self.partitions, c.takeovers, c.handoffs, c.restarts, c.fenced
        );
    }
}
