//! The sharded runtime: [`Engine`] starts one thread per shard, each running its slice of the
//! [`Dag`] over bounded single-producer rings ([`ring`]) fed by [`Ingress`] handles.

pub(crate) mod config;
pub(crate) mod egress;
pub(crate) mod ingress;
#[cfg(feature = "prometheus")]
mod prometheus;
pub(crate) mod ring;
pub(crate) mod shard;
pub(crate) mod stats;

use crate::dag::{Dag, Role};
use crate::instrument::Interner;
use crate::operator::ShardContext;
use crate::record::{Batch, Inline, Kind, Record, Timestamp};
use config::{Config, ConfigError, Placement, WaitStrategy};
use crossbeam_channel::{bounded, Receiver, Sender};
use egress::Egress;
use ingress::Ingress;
use parking_lot::Mutex;
use shard::{Exit, Shard, SourceIn};
use stats::{Padded, ShardCell, SourceCell, Stats, StatsShared};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A message on an ingress → shard ring.
pub(crate) enum ToShard {
    /// A batch and the source watermark after it.
    Data { batch: Batch, wm: Timestamp },
    /// A single record inline (no buffer to follow or hand back) and the watermark after it.
    One { rec: Inline, wm: Timestamp },
    /// The source ended.
    End,
}

/// A message on a shard → egress channel.
pub(crate) struct EgressMsg {
    pub(crate) shard: usize,
    pub(crate) items: Batch,
    /// The shard's watermark: it will emit nothing stamped below this.
    pub(crate) progress: Timestamp,
    pub(crate) end: bool,
}

/// How a parked shard is woken: it raises `sleeping`, looks at its rings once more, and
/// parks; a producer that sends while it is raised (or the engine, to stop or abort) unparks
/// it. Only used under [`WaitStrategy::Park`]; a missed wake-up costs at most the park timeout.
#[derive(Default)]
pub(crate) struct Doorbell {
    pub(crate) sleeping: AtomicBool,
    pub(crate) thread: std::sync::OnceLock<std::thread::Thread>,
}

impl Doorbell {
    /// Unparks the shard (a no-op before its thread registered).
    pub(crate) fn wake(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// After a send: wakes the shard if it is (about to be) parked. The fence orders the
    /// slot's stamp before the `sleeping` load; the shard fences between raising `sleeping`
    /// and its last look at the rings, so one of the two sees the other's store.
    #[inline]
    pub(crate) fn ring_after_send(&self) {
        std::sync::atomic::fence(SeqCst);
        if self.sleeping.load(std::sync::atomic::Ordering::Relaxed) {
            self.wake();
        }
    }
}

/// The stop handshake between [`Engine::stop`] and one source's ingress.
#[derive(Default)]
pub(crate) struct Gate {
    /// Set by `stop`: sends that start after it are refused.
    pub(crate) stopped: AtomicBool,
    /// 1 while the source's (single) ingress is inside a send, else 0.
    pub(crate) in_send: AtomicUsize,
}

/// Why the engine could not start, hand out a handle, or finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No source node of that name.
    #[error("no source named '{0}'")]
    UnknownSource(String),
    /// No egress sink of that name.
    #[error("no egress sink named '{0}'")]
    UnknownEgress(String),
    /// The handle was already taken.
    #[error("the handle for '{0}' was already taken")]
    AlreadyTaken(String),
    /// The node carries another record kind.
    #[error("node '{node}' carries {actual} records, not {requested}")]
    WrongKind {
        /// Node.
        node: String,
        /// Its kind.
        actual: Kind,
        /// The kind asked for.
        requested: Kind,
    },
    /// A user operator or sink panicked.
    #[error("shard {shard}: node '{node}' panicked: {message}")]
    NodePanicked {
        /// Shard index.
        shard: usize,
        /// Node name (or `"<runtime>"` if the panic was outside any node).
        node: String,
        /// The panic message.
        message: String,
    },
    /// A shard thread could not be spawned.
    #[error("could not start shard thread {shard}: {source}")]
    Spawn {
        /// Shard index.
        shard: usize,
        /// OS error.
        source: std::io::Error,
    },
    /// The metrics endpoint could not start.
    #[error("metrics endpoint: {0}")]
    Metrics(String),
}

/// The record of a finished run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Final counters.
    pub stats: Stats,
    /// Whether the run was aborted (windows may not have fired).
    pub aborted: bool,
}

type Failure = Arc<Mutex<Option<EngineError>>>;

struct SourceParts {
    name: String,
    kind: Kind,
    index: usize,
    txs: Vec<ring::Producer<ToShard>>,
    recycle: Vec<Receiver<Batch>>,
}

/// A running engine. Start it with [`Engine::start`], take each source's [`Ingress`] and each
/// egress sink's [`Egress`], then finish with [`Engine::join`] (after dropping the ingresses),
/// [`Engine::stop`] (graceful) or [`Engine::abort`].
pub struct Engine {
    config: Config,
    dag: Dag,
    interner: Interner,
    handles: Vec<JoinHandle<()>>,
    /// Wakes a parked shard (to re-check `abort` and `stop`, or for new messages).
    doorbells: Vec<Arc<Doorbell>>,
    abort: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    failure: Failure,
    sources: Vec<Option<SourceParts>>,
    gates: Vec<Arc<Gate>>,
    egress: Vec<(usize, Option<Receiver<EgressMsg>>)>,
    stats: Arc<StatsShared>,
    publisher: Option<(JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Engine {
    /// Validates `config`, spawns the shard threads and returns the running engine.
    pub fn start(dag: Dag, config: Config) -> Result<Engine, EngineError> {
        config.validate()?;
        let shards = config.shards.get();
        let cap = config.ring_capacity.get();
        let n_nodes = dag.nodes.len();
        let source_nodes: Vec<usize> = (0..n_nodes).filter(|&i| matches!(dag.nodes[i].role, Role::Source)).collect();

        // Rings: one per (source, shard), plus a buffer-return ring each way.
        let mut parts = Vec::new();
        let mut shard_inputs: Vec<Vec<SourceIn>> = (0..shards).map(|_| Vec::new()).collect();
        let mut gates = Vec::new();
        for (si, &node) in source_nodes.iter().enumerate() {
            let mut txs = Vec::new();
            let mut recycle = Vec::new();
            for inputs in shard_inputs.iter_mut() {
                let (tx, rx) = ring::ring(cap);
                let (rtx, rrx) = bounded(cap + 2);
                txs.push(tx);
                recycle.push(rrx);
                inputs.push(SourceIn {
                    node,
                    rx,
                    recycle: rtx,
                    wm: i64::MIN,
                    ended: false,
                    last_seen: std::time::Instant::now(),
                    idle: false,
                });
            }
            parts.push(Some(SourceParts {
                name: dag.nodes[node].name.clone(),
                kind: dag.nodes[node].outputs[0],
                index: si,
                txs,
                recycle,
            }));
            gates.push(Arc::new(Gate::default()));
        }
        let mut egress_txs = Vec::new();
        let mut egress = Vec::new();
        for (i, n) in dag.nodes.iter().enumerate() {
            if matches!(n.role, Role::Egress) {
                let (tx, rx) = bounded(config.egress_capacity.get());
                egress_txs.push((i, tx));
                egress.push((i, Some(rx)));
            }
        }

        let stats = Arc::new(StatsShared {
            node_names: dag.nodes.iter().map(|n| n.name.clone()).collect(),
            source_names: source_nodes.iter().map(|&i| dag.nodes[i].name.clone()).collect(),
            shards: (0..shards).map(|_| Padded(ShardCell::new(n_nodes))).collect(),
            sources: source_nodes.iter().map(|_| Padded(SourceCell::new(shards))).collect(),
            ring_capacity: vec![(cap * source_nodes.len()) as u64; shards],
        });

        let cores = placement_cores(&config.placement, shards);
        let interner = Interner::new();
        let abort = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let failure: Failure = Arc::new(Mutex::new(None));
        let mut handles = Vec::with_capacity(shards);
        let doorbells: Vec<Arc<Doorbell>> = (0..shards).map(|_| Arc::new(Doorbell::default())).collect();
        for (i, inputs) in shard_inputs.into_iter().enumerate() {
            let ctx = ShardContext { shard: i, shards, interner: interner.clone() };
            let mut shard = Shard::new(
                ctx,
                &dag,
                inputs,
                doorbells[i].clone(),
                config.wait,
                config.idle_timeout,
                abort.clone(),
                stop.clone(),
                stats.clone(),
            );
            let dag_i = dag.clone();
            let egress_i: Vec<(usize, Sender<EgressMsg>)> = egress_txs.clone();
            let (abort_i, failure_i, core) = (abort.clone(), failure.clone(), cores.get(i).copied().flatten());
            let spawned = std::thread::Builder::new().name(format!("ticklane-shard-{i}")).spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        log::info!("shard {i}: pinning to core {} refused by the OS; running unpinned", core.id);
                    }
                }
                let r = catch_unwind(AssertUnwindSafe(|| {
                    shard.instantiate(&dag_i, &egress_i);
                    drop(egress_i);
                    shard.run()
                }));
                match r {
                    Ok(Exit::Done) | Ok(Exit::Aborted) => {}
                    Err(payload) => {
                        let node = shard
                            .current
                            .and_then(|k| shard.names.get(k).cloned())
                            .unwrap_or_else(|| "<runtime>".to_string());
                        let e = EngineError::NodePanicked { shard: i, node, message: panic_message(&*payload) };
                        log::error!("{e}");
                        failure_i.lock().get_or_insert(e);
                        abort_i.store(true, SeqCst);
                    }
                }
                // Dropping `shard` closes its rings: blocked producers get `ShardGone`.
            });
            match spawned {
                Ok(h) => handles.push(h),
                Err(source) => {
                    abort.store(true, SeqCst);
                    return Err(EngineError::Spawn { shard: i, source });
                }
            }
        }

        let mut engine = Engine {
            interner,
            handles,
            doorbells,
            abort,
            stop,
            failure,
            sources: parts,
            gates,
            egress,
            stats,
            publisher: None,
            config,
            dag,
        };
        engine.start_metrics()?;
        Ok(engine)
    }

    fn start_metrics(&mut self) -> Result<(), EngineError> {
        let mut interval = self.config.metrics_interval;
        if let Some(addr) = self.config.prometheus {
            #[cfg(feature = "prometheus")]
            {
                prometheus::serve(addr).map_err(EngineError::Metrics)?;
                interval = interval.or(Some(Duration::from_secs(1)));
            }
            #[cfg(not(feature = "prometheus"))]
            return Err(EngineError::Metrics(format!("cannot serve {addr}: built without the `prometheus` feature")));
        }
        let Some(every) = interval else { return Ok(()) };
        let stop = Arc::new(AtomicBool::new(false));
        let (stats, stop_p) = (self.stats.clone(), stop.clone());
        let h = std::thread::Builder::new()
            .name("ticklane-metrics".into())
            .spawn(move || {
                let mut prev: Option<Stats> = None;
                while !stop_p.load(SeqCst) {
                    let now = stats.snapshot();
                    stats::publish(&now, prev.as_ref());
                    prev = Some(now);
                    std::thread::park_timeout(every);
                }
                stats::publish(&stats.snapshot(), prev.as_ref());
            })
            .map_err(|e| EngineError::Metrics(e.to_string()))?;
        self.publisher = Some((h, stop));
        Ok(())
    }

    /// The engine's instrument table (shared with every ingress and egress).
    pub fn interner(&self) -> &Interner {
        &self.interner
    }

    /// The running graph.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the ingress of source `name` (once). Its record type must match the source kind.
    pub fn ingress<T: Record>(&mut self, name: &str) -> Result<Ingress<T>, EngineError> {
        let Some(slot) = self.sources.iter_mut().find(|p| p.as_ref().is_some_and(|p| p.name == name)) else {
            return Err(if self.dag.sources().contains(&name) {
                EngineError::AlreadyTaken(name.to_string())
            } else {
                EngineError::UnknownSource(name.to_string())
            });
        };
        let kind = slot.as_ref().map_or(T::KIND, |p| p.kind);
        if kind != T::KIND {
            return Err(EngineError::WrongKind { node: name.to_string(), actual: kind, requested: T::KIND });
        }
        let Some(p) = slot.take() else { return Err(EngineError::AlreadyTaken(name.to_string())) };
        let shards = p.txs.len();
        let bs = self.config.batch_size.get();
        Ok(Ingress {
            source: p.index,
            bufs: (0..shards).map(|_| Vec::with_capacity(bs)).collect(),
            sent_wm: vec![i64::MIN; shards],
            stash: (0..shards).map(|_| Vec::new()).collect(),
            txs: p.txs,
            recycle: p.recycle,
            max_ts: i64::MIN,
            wm: i64::MIN,
            max_delay: self.config.max_delay_ns(),
            pushed: 0,
            batch_size: bs,
            flush_every: self.config.flush_every.get(),
            since_flush: 0,
            shard_table: Vec::new(),
            holes: 0,
            interner: self.interner.clone(),
            doorbells: matches!(self.config.wait, WaitStrategy::Park { .. }).then(|| self.doorbells.clone()),
            gate: self.gates[p.index].clone(),
            stats: self.stats.clone(),
            finished: false,
        })
    }

    /// Takes the reader of egress sink `name` (once).
    pub fn egress<T: Record>(&mut self, name: &str) -> Result<Egress<T>, EngineError> {
        let Some(k) = self.dag.index_of(name).filter(|&k| matches!(self.dag.nodes[k].role, Role::Egress)) else {
            return Err(EngineError::UnknownEgress(name.to_string()));
        };
        let actual = self.dag.nodes[k].inputs[0];
        if actual != T::KIND {
            return Err(EngineError::WrongKind { node: name.to_string(), actual, requested: T::KIND });
        }
        let slot = self.egress.iter_mut().find(|(i, _)| *i == k).and_then(|(_, rx)| rx.take());
        let rx = slot.ok_or_else(|| EngineError::AlreadyTaken(name.to_string()))?;
        Ok(Egress::new(rx, self.config.shards.get(), self.interner.clone()))
    }

    /// A snapshot of every counter (cheap: relaxed loads).
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Waits for the run to end by itself: every source ended (its ingress finished or
    /// dropped; sources whose ingress was never taken end now), windows fired, sinks flushed.
    /// Returns the first node panic, if any.
    pub fn join(mut self) -> Result<RunReport, EngineError> {
        self.sources.iter_mut().for_each(|s| drop(s.take()));
        self.wake_all(); // parked shards see the rings of untaken sources closed
        self.finish()
    }

    /// Graceful stop: producers' next sends are refused ([`crate::PushError::Stopped`],
    /// counted), batches already sent are drained, every window fires (+∞ watermark), sinks
    /// flush, threads join.
    pub fn stop(mut self) -> Result<RunReport, EngineError> {
        for g in &self.gates {
            g.stopped.store(true, SeqCst);
        }
        // Wait out sends in flight (a blocked send completes: shards keep draining).
        for g in &self.gates {
            while g.in_send.load(SeqCst) != 0 {
                if self.abort.load(SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        self.stop.store(true, SeqCst);
        self.wake_all();
        self.sources.iter_mut().for_each(|s| drop(s.take()));
        self.finish()
    }

    /// Stops at once: shards exit without firing windows; producers get
    /// [`crate::PushError::ShardGone`]. Still reports a node panic that happened first.
    pub fn abort(mut self) -> Result<RunReport, EngineError> {
        self.abort.store(true, SeqCst);
        self.wake_all();
        self.sources.iter_mut().for_each(|s| drop(s.take()));
        self.finish()
    }

    fn wake_all(&self) {
        for d in &self.doorbells {
            d.wake();
        }
    }

    fn finish(&mut self) -> Result<RunReport, EngineError> {
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        if let Some((h, stop)) = self.publisher.take() {
            stop.store(true, SeqCst);
            h.thread().unpark();
            let _ = h.join();
        }
        if let Some(e) = self.failure.lock().take() {
            return Err(e);
        }
        Ok(RunReport { stats: self.stats.snapshot(), aborted: self.abort.load(SeqCst) })
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.handles.is_empty() {
            self.abort.store(true, SeqCst);
            self.wake_all();
            let _ = self.finish();
        }
    }
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Core for each shard, or `None` (unpinned), logging once why pinning is skipped.
fn placement_cores(p: &Placement, shards: usize) -> Vec<Option<core_affinity::CoreId>> {
    match p {
        Placement::Unpinned => vec![None; shards],
        Placement::PinIfPossible => {
            let ids = core_affinity::get_core_ids().unwrap_or_default();
            if ids.len() >= shards {
                ids.into_iter().take(shards).map(Some).collect()
            } else {
                log::info!("{shards} shards on {} cores: oversubscribed, running unpinned", ids.len());
                vec![None; shards]
            }
        }
        Placement::Cores(list) if !list.is_empty() => {
            (0..shards).map(|i| Some(core_affinity::CoreId { id: list[i % list.len()] })).collect()
        }
        Placement::Cores(_) => {
            log::info!("empty core list: running unpinned");
            vec![None; shards]
        }
    }
}
