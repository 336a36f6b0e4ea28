//! One shard: its instances of every node, fused in topological order, driven by a polling
//! loop over its input rings. Nothing here locks or allocates per record.

use super::config::WaitStrategy;
use super::ring::{Consumer, TryRecv};
use super::stats::{bump, OpCounters, ShardCell, StatsShared};
use super::{Doorbell, EgressMsg, ToShard};
use crate::dag::{Dag, Role};
use crate::operator::{AnySink, Operator, Outputs, ShardContext};
use crate::record::{Batch, Kind, Timestamp, WM_END};
use crossbeam_channel::{Sender, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

enum Node {
    Source,
    Op(Box<dyn Operator>),
    Callback(Box<dyn AnySink>),
    Egress(EgressOut),
}

struct EgressOut {
    tx: Sender<EgressMsg>,
    kind: Kind,
    pending: Batch,
    sent_progress: Timestamp,
}

pub(crate) struct SourceIn {
    pub(crate) node: usize,
    pub(crate) rx: Consumer<ToShard>,
    pub(crate) recycle: Sender<Batch>,
    pub(crate) wm: Timestamp,
    pub(crate) ended: bool,
    /// The shard's coarse clock when this source last sent something.
    pub(crate) last_seen: Instant,
    /// Idle past `idle_timeout`: not holding the minimum back until it sends again.
    pub(crate) idle: bool,
}

/// How a shard's run ended.
pub(crate) enum Exit {
    /// Input ended or a graceful stop: everything fired and flushed.
    Done,
    /// The engine aborted this shard.
    Aborted,
}

pub(crate) struct Shard {
    pub(crate) ctx: ShardContext,
    nodes: Vec<Node>,
    upstream: Vec<Vec<Vec<(usize, usize)>>>,
    bufs: Vec<Vec<Batch>>,
    sources: Vec<SourceIn>,
    /// Wake-ups for a parked shard.
    doorbell: Arc<Doorbell>,
    wm: Timestamp,
    wait: WaitStrategy,
    idle_timeout: Option<std::time::Duration>,
    /// A coarse clock: refreshed every 64 messages and while idle, never per message.
    now: Instant,
    abort: Arc<AtomicBool>,
    /// Graceful stop requested: set only after every accepted batch is in the rings.
    stop: Arc<AtomicBool>,
    stats: Arc<StatsShared>,
    started: Instant,
    /// The node being called, for panic reports.
    pub(crate) current: Option<usize>,
    pub(crate) names: Vec<String>,
    messages_since_sample: u32,
    /// Whether any node is an egress (set when the nodes are built).
    has_egress: bool,
    /// Polling-loop iterations, published with the other counters (not per iteration).
    iterations: u64,
}

impl Shard {
    /// Declares the shard; node instances are built by [`Shard::instantiate`] on the shard
    /// thread itself (so their memory is first touched there), where a panic is caught.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        ctx: ShardContext,
        dag: &Dag,
        sources: Vec<SourceIn>,
        doorbell: Arc<Doorbell>,
        wait: WaitStrategy,
        idle_timeout: Option<std::time::Duration>,
        abort: Arc<AtomicBool>,
        stop: Arc<AtomicBool>,
        stats: Arc<StatsShared>,
    ) -> Shard {
        Shard {
            ctx,
            nodes: Vec::new(),
            upstream: dag.nodes.iter().map(|n| n.upstream.clone()).collect(),
            bufs: dag.nodes.iter().map(|n| n.outputs.iter().map(|&k| Batch::empty(k)).collect()).collect(),
            sources,
            doorbell,
            wm: i64::MIN,
            wait,
            idle_timeout,
            now: Instant::now(),
            abort,
            stop,
            stats,
            started: Instant::now(),
            current: None,
            names: dag.nodes.iter().map(|n| n.name.clone()).collect(),
            messages_since_sample: 0,
            has_egress: false,
            iterations: 0,
        }
    }

    fn cell(&self) -> &ShardCell {
        &self.stats.shards[self.ctx.shard]
    }

    pub(crate) fn instantiate(&mut self, dag: &Dag, egress: &[(usize, Sender<EgressMsg>)]) {
        for (i, n) in dag.nodes.iter().enumerate() {
            self.current = Some(i);
            let node = match &n.role {
                Role::Source => Node::Source,
                Role::Operator(f) => Node::Op(f(self.ctx.clone())),
                Role::Callback(f) => Node::Callback(f(self.ctx.clone())),
                Role::Egress => {
                    let tx = egress.iter().find(|(k, _)| *k == i).map(|(_, tx)| tx.clone());
                    let Some(tx) = tx else { panic!("egress channel for node {i} missing") };
                    Node::Egress(EgressOut {
                        tx,
                        kind: n.inputs[0],
                        pending: Batch::empty(n.inputs[0]),
                        sent_progress: i64::MIN,
                    })
                }
            };
            self.nodes.push(node);
        }
        self.current = None;
        self.has_egress = self.nodes.iter().any(|n| matches!(n, Node::Egress(_)));
        // Register operator counters once: names fixed for the run, one slot each, in node
        // order (sampling reports them in the same order).
        let mut names = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Op(op) = n {
                op.counters(&mut |name, _| names.push((i, name)));
            }
        }
        let values = (0..names.len()).map(|_| AtomicU64::new(0)).collect();
        let _ = self.cell().op_counters.set(OpCounters { names, values });
    }

    /// Copies operator counters into their shared slots (off the per-record path: every 64
    /// messages, when idle, and at the end).
    fn sample_counters(&mut self) {
        self.messages_since_sample = 0;
        let Some(oc) = self.stats.shards[self.ctx.shard].op_counters.get() else { return };
        let mut slot = 0;
        for n in &self.nodes {
            if let Node::Op(op) = n {
                op.counters(&mut |_, v| {
                    // An operator reporting more names than it registered is ignored past them.
                    if let Some(cell) = oc.values.get(slot) {
                        cell.store(v, Relaxed);
                    }
                    slot += 1;
                });
            }
        }
        let depth: usize = self.sources.iter().map(|s| s.rx.len()).sum();
        self.now = Instant::now();
        let c = self.cell();
        c.ring_depth.store(depth as u64, Relaxed);
        c.alive_ns.store(self.now.duration_since(self.started).as_nanos() as u64, Relaxed);
        c.loop_iterations.store(self.iterations, Relaxed);
    }

    /// One fused pass over the DAG in topological order: each node gets the batches its
    /// upstream nodes produced (one `dyn` call per batch), then the new watermark if any.
    fn pass(&mut self, new_wm: Option<Timestamp>) {
        for i in 0..self.nodes.len() {
            let (before, rest) = self.bufs.split_at_mut(i);
            let Some(outs) = rest.first_mut() else { break };
            let c = &self.stats.shards[self.ctx.shard];
            self.current = Some(i);
            let mut delivered = 0usize;
            match &mut self.nodes[i] {
                Node::Source => continue,
                Node::Op(op) => {
                    for (port, ups) in self.upstream[i].iter().enumerate() {
                        for &(u, up) in ups {
                            let b = &before[u][up];
                            if !b.is_empty() {
                                delivered += b.len();
                                op.on_batch(port, b, &mut Outputs::new(outs));
                            }
                        }
                    }
                    if let Some(wm) = new_wm {
                        op.on_watermark(wm, &mut Outputs::new(outs));
                    }
                    let produced: usize = outs.iter().map(Batch::len).sum();
                    if produced > 0 {
                        bump(c.events_out.get(i), produced as u64);
                    }
                }
                Node::Callback(sink) => {
                    for ups in &self.upstream[i] {
                        for &(u, up) in ups {
                            let b = &before[u][up];
                            if !b.is_empty() {
                                delivered += b.len();
                                sink.on_batch(b);
                            }
                        }
                    }
                }
                Node::Egress(e) => {
                    for ups in &self.upstream[i] {
                        for &(u, up) in ups {
                            let b = &before[u][up];
                            if !b.is_empty() {
                                delivered += b.len();
                                append(&mut e.pending, b);
                            }
                        }
                    }
                }
            }
            if delivered > 0 {
                bump(c.events_in.get(i), delivered as u64);
            }
        }
        self.current = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if !matches!(node, Node::Source) {
                for b in &mut self.bufs[i] {
                    b.clear();
                }
            }
        }
    }

    /// The minimum watermark over the sources that hold it back: ended ones do not (+∞), and
    /// under `idle_timeout` idle ones do not either — unless every open source is idle, when
    /// the furthest of them is used (never +∞ while a source is open).
    fn effective_wm(&self) -> Timestamp {
        let active = self.sources.iter().filter(|s| !s.ended && !s.idle).map(|s| s.wm).min();
        match active {
            Some(wm) => wm,
            None => self.sources.iter().filter(|s| !s.ended).map(|s| s.wm).max().unwrap_or(WM_END),
        }
    }

    /// Marks sources idle past the timeout (by the coarse clock); returns whether any changed.
    fn mark_idle(&mut self) -> bool {
        let Some(timeout) = self.idle_timeout else { return false };
        let mut changed = false;
        for s in &mut self.sources {
            if !s.ended && !s.idle && self.now.duration_since(s.last_seen) >= timeout {
                s.idle = true;
                changed = true;
            }
        }
        changed
    }

    fn handle(&mut self, k: usize, msg: ToShard) {
        self.sources[k].last_seen = self.now;
        self.sources[k].idle = false;
        match msg {
            ToShard::Data { mut batch, wm } => {
                // The batch takes the source's output slot for the pass; the slot's own buffer
                // (the one inline records are delivered in) waits in `batch` meanwhile.
                let node = self.sources[k].node;
                std::mem::swap(&mut self.bufs[node][0], &mut batch);
                self.deliver(k, wm);
                std::mem::swap(&mut self.bufs[node][0], &mut batch);
                batch.clear();
                // Hand the buffer back to the producer; if its pool is full, drop it.
                if let Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) =
                    self.sources[k].recycle.try_send(batch)
                {
                    drop(b);
                }
            }
            ToShard::One { rec, wm } => {
                // Delivered in place, in the source's output slot (allocated on first use).
                let node = self.sources[k].node;
                let slot = &mut self.bufs[node][0];
                if !rec.push_into(slot) {
                    // Unreachable (an ingress is typed by its source's kind), but never lose it.
                    *slot = Batch::with_capacity(rec.kind(), 1);
                    rec.push_into(slot);
                }
                self.deliver(k, wm);
                self.bufs[node][0].clear();
            }
            ToShard::End => {
                self.sources[k].ended = true;
                self.step();
            }
        }
        bump(&self.cell().messages, 1);
        self.messages_since_sample += 1;
        if self.messages_since_sample >= 64 {
            self.sample_counters();
            if self.mark_idle() {
                self.step();
            }
        }
    }

    /// Runs the batch in source `k`'s output slot through the DAG, with the source watermark
    /// `wm` after it.
    fn deliver(&mut self, k: usize, wm: Timestamp) {
        let node = self.sources[k].node;
        if self.sources.len() > 1 {
            // Several inputs: a record's stamp is the minimum over all inputs.
            let others = (0..self.sources.len())
                .filter(|&j| j != k)
                .map(|j| {
                    let o = &self.sources[j];
                    if o.ended || o.idle {
                        WM_END
                    } else {
                        o.wm
                    }
                })
                .min()
                .unwrap_or(WM_END);
            clamp_stamps(&mut self.bufs[node][0], others);
        }
        let n = self.bufs[node][0].len() as u64;
        let c = &self.stats.shards[self.ctx.shard];
        bump(c.events_in.get(node), n);
        bump(c.events_out.get(node), n);
        if wm > self.sources[k].wm {
            self.sources[k].wm = wm;
        }
        self.step();
    }

    /// Runs a pass for what arrived, with the watermark if it advanced, then ships egress.
    fn step(&mut self) {
        let wm = self.effective_wm();
        let advanced = wm > self.wm;
        if advanced {
            self.wm = wm;
            self.cell().watermark.store(wm, Relaxed);
        }
        self.pass(advanced.then_some(wm));
        self.ship_egress(false);
    }

    fn ship_egress(&mut self, end: bool) {
        if !self.has_egress {
            return; // no egress node: no progress to compute (one `hold` call per operator)
        }
        // Progress: nothing below it will be emitted — the watermark, lowered by any operator
        // that still holds older output back (see `Operator::hold`).
        let mut wm = self.wm;
        if !end {
            for n in &self.nodes {
                if let Node::Op(op) = n {
                    wm = wm.min(op.hold());
                }
            }
        }
        let shard = self.ctx.shard;
        for n in &mut self.nodes {
            let Node::Egress(e) = n else { continue };
            if e.pending.is_empty() && wm <= e.sent_progress && !end {
                continue;
            }
            let items = std::mem::replace(&mut e.pending, Batch::empty(e.kind));
            e.sent_progress = wm;
            let msg = EgressMsg { shard, items, progress: wm, end };
            let msg = match e.tx.try_send(msg) {
                Ok(()) => continue,
                Err(TrySendError::Disconnected(_)) => continue, // reader gone: nobody to tell
                Err(TrySendError::Full(m)) => m,
            };
            let t0 = Instant::now();
            // Blocks until the reader catches up; an abort drops the reader's hope anyway.
            let _ = e.tx.send(msg);
            bump(&self.stats.shards[shard].egress_wait_ns, t0.elapsed().as_nanos() as u64);
        }
    }

    fn finish(&mut self) {
        self.sources.iter_mut().for_each(|s| s.ended = true);
        self.step(); // fires everything at +∞
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Node::Callback(s) = n {
                self.current = Some(i);
                s.on_end();
            }
        }
        self.current = None;
        self.ship_egress(true);
        self.sample_counters();
    }

    /// The polling loop. Returns when every source ended, on a graceful stop (after draining
    /// what is already in the rings), or on abort.
    pub(crate) fn run(&mut self) -> Exit {
        // Polls without a message after which the shard counts itself idle (before parking,
        // for the park strategy).
        const IDLE_SETTLE: u32 = 256;
        let settle = match self.wait {
            WaitStrategy::Park { spins, .. } => spins.min(IDLE_SETTLE),
            _ => IDLE_SETTLE,
        };
        let _ = self.doorbell.thread.set(std::thread::current());
        let mut stopping = false;
        let mut idle: u32 = 0;
        let mut rr = 0usize;
        let n_src = self.sources.len();
        // Busy time is read from the clock only when the shard turns busy or idle, never per
        // message, and never between a message's arrival and its delivery.
        let mut busy_since: Option<Instant> = None;
        loop {
            self.iterations += 1;
            if self.abort.load(Relaxed) {
                return Exit::Aborted;
            }
            if !stopping && self.stop.load(Acquire) {
                stopping = true;
            }
            let mut got = false;
            // Round robin from `rr`, wrapping by comparison (a division per poll would sit in
            // front of every message's detection).
            let mut k = rr;
            for _ in 0..n_src {
                k += 1;
                if k >= n_src {
                    k = 0;
                }
                if self.sources[k].ended {
                    continue;
                }
                let msg = match self.sources[k].rx.try_recv() {
                    Ok(msg) => msg,
                    Err(TryRecv::Empty) => continue,
                    Err(TryRecv::Disconnected) => ToShard::End,
                };
                got = true;
                self.handle(k, msg);
                // The clock is read after the message that ends an idle spell, not before:
                // before, it would sit on that message's latency. A busy spell is therefore
                // timed from the end of its first message (one message's work uncounted per
                // spell; negligible when the ratio matters, near saturation).
                if busy_since.is_none() {
                    busy_since = Some(Instant::now());
                }
            }
            rr += 1;
            if rr >= n_src {
                rr = 0;
            }
            if self.sources.iter().all(|s| s.ended) || (stopping && !got) {
                // Input ended, or a graceful stop found the rings empty (every accepted batch
                // was in them before the stop flag was set).
                self.finish();
                self.account_busy(busy_since.take());
                return Exit::Done;
            }
            if got {
                idle = 0;
                continue;
            }
            // A spell of busy time ends, and counters are sampled, once the shard has been
            // idle for `settle` polls — not at the first empty poll: at high rates the
            // shard goes idle between most messages, and a clock read plus a ring-depth sample
            // (cache lines the producer writes) there would sit in front of the next message.
            // Busy time therefore includes idle gaps shorter than `settle` polls.
            if idle == settle {
                if let Some(t) = busy_since.take() {
                    self.account_busy(Some(t));
                }
            }
            let parked = matches!(self.wait, WaitStrategy::Park { spins, .. } if idle > spins);
            if idle == settle || (self.idle_timeout.is_some() && (parked || idle % 64 == 0)) {
                self.sample_counters();
                if self.mark_idle() {
                    self.step(); // a quiet source stopped holding time back: fire what is due
                }
            }
            idle = idle.saturating_add(1);
            self.wait_idle(idle);
        }
    }

    fn account_busy(&mut self, since: Option<Instant>) {
        if let Some(t) = since {
            bump(&self.cell().busy_ns, t.elapsed().as_nanos() as u64);
        }
    }

    fn wait_idle(&mut self, idle: u32) {
        match self.wait {
            WaitStrategy::BusySpin => std::hint::spin_loop(),
            WaitStrategy::SpinThenYield { spins } => {
                if idle < spins {
                    std::hint::spin_loop()
                } else {
                    std::thread::yield_now()
                }
            }
            WaitStrategy::Park { spins, timeout } => {
                if idle < spins {
                    std::hint::spin_loop();
                    return;
                }
                // Raise the flag, fence, look once more, and park unless something arrived.
                // The fence pairs with the one in `Doorbell::ring_after_send` (slot stamp,
                // fence, flag): either this look sees the message or the producer sees the flag.
                self.doorbell.sleeping.store(true, Relaxed);
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                let ready = self.sources.iter().any(|s| !s.ended && s.rx.ready());
                if !ready && !self.abort.load(Acquire) && !self.stop.load(Acquire) {
                    std::thread::park_timeout(timeout);
                }
                self.doorbell.sleeping.store(false, Relaxed);
            }
        }
    }
}

fn append(dst: &mut Batch, src: &Batch) {
    match (dst, src) {
        (Batch::Trade(d), Batch::Trade(s)) => d.extend_from_slice(s),
        (Batch::Quote(d), Batch::Quote(s)) => d.extend_from_slice(s),
        (Batch::Bar(d), Batch::Bar(s)) => d.extend_from_slice(s),
        // Unreachable for a validated graph: edges join ports of one kind.
        _ => {}
    }
}

fn clamp_stamps(b: &mut Batch, bound: Timestamp) {
    match b {
        Batch::Trade(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
        Batch::Quote(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
        Batch::Bar(v) => v.iter_mut().for_each(|r| r.wm = r.wm.min(bound)),
    }
}
