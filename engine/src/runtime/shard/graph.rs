//! A shard's instance of the graph: every node's instance fused in topological order, the
//! batches between them, and the egress outputs. One pass delivers what arrived to each node
//! with one `dyn` call per batch.

use super::super::stats::{bump, OpCounters, ShardCell};
use super::super::wire::{Budget, EgressLink, EgressMsg};
use crate::dag::{Dag, Role};
use crate::operator::{DynShardSink, Operator, Outputs, ShardContext};
use crate::record::{Batch, Kind, Timestamp};
use crossbeam_channel::{Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

enum Node {
    Source,
    Op(Box<dyn Operator>),
    ShardSink(Box<dyn DynShardSink>),
    Egress(EgressOut),
}

struct EgressOut {
    tx: Sender<EgressMsg>,
    /// Tokens for the records sent (see [`Budget`]).
    credits: Sender<()>,
    budget: Budget,
    kind: Kind,
    pending: Batch,
    /// The highest progress sent: the egress holds this shard's records stamped at or above it.
    sent_progress: Timestamp,
    /// The greatest stamp of any record sent.
    sent_max_stamp: Timestamp,
    /// This is the engine's only shard: nobody else's records wait for its progress.
    sole: bool,
}

impl EgressOut {
    fn new(link: EgressLink, kind: Kind, sole: bool) -> EgressOut {
        let (sent_progress, sent_max_stamp) = (Timestamp::MIN, Timestamp::MIN);
        let (tx, credits, budget) = (link.tx, link.credits, link.budget);
        EgressOut { tx, credits, budget, kind, pending: Batch::empty(kind), sent_progress, sent_max_stamp, sole }
    }

    /// Takes the credits for `n` records about to be sent, waiting while the reader has too
    /// many of ours not yet taken (the time waited is counted); a reader gone waits for nobody.
    fn take_credits(&self, n: usize, c: &ShardCell) {
        let mut t0 = None;
        for _ in 0..self.budget.tokens_for(n) {
            match self.credits.try_send(()) {
                Ok(()) => {}
                Err(TrySendError::Disconnected(())) => break,
                Err(TrySendError::Full(())) => {
                    t0.get_or_insert_with(Instant::now);
                    if self.credits.send(()).is_err() {
                        break;
                    }
                }
            }
        }
        if let Some(t0) = t0 {
            bump(&c.egress_wait_ns, t0.elapsed().as_nanos() as u64);
        }
    }

    /// Whether a message with progress `wm` and nothing else would release anything: it must
    /// raise the progress, and some record must be waiting for it (any shard's, unless this
    /// is the only shard; then only those this shard sent stamped at or above its progress).
    /// Saves waking the egress's reader once per batch for nothing (bench/README.md, NATS).
    fn progress_matters(&self, wm: Timestamp) -> bool {
        wm > self.sent_progress && (!self.sole || self.sent_max_stamp >= self.sent_progress)
    }
}

/// The node instances of one shard and their output buffers.
pub(super) struct Graph {
    nodes: Vec<Node>,
    /// Per node, per input port: the `(node, output port)` pairs feeding it.
    upstream: Vec<Vec<Vec<(usize, usize)>>>,
    /// Per node, per output port: what it emitted in the current pass.
    bufs: Vec<Vec<Batch>>,
    /// Per node: the one `(node, output port)` feeding it, when it may take that batch over
    /// as its own output (see [`pass_through_feeds`]).
    takes_over: Vec<Option<(usize, usize)>>,
    names: Vec<String>,
    /// The node being called, for panic reports.
    current: Option<usize>,
    /// Whether any node is an egress (set when the nodes are built).
    has_egress: bool,
    /// Whether any node is a shard sink.
    has_sinks: bool,
    /// The progress last given to the shard sinks.
    sink_progress: Timestamp,
}

impl Graph {
    /// The graph's shape; instances come from [`Graph::instantiate`].
    pub(super) fn declare(dag: &Dag) -> Graph {
        Graph {
            nodes: Vec::new(),
            upstream: dag.nodes.iter().map(|n| n.upstream.clone()).collect(),
            bufs: dag.nodes.iter().map(|n| n.outputs.iter().map(|&k| Batch::empty(k)).collect()).collect(),
            takes_over: pass_through_feeds(dag),
            names: dag.nodes.iter().map(|n| n.name.clone()).collect(),
            current: None,
            has_egress: false,
            has_sinks: false,
            sink_progress: Timestamp::MIN,
        }
    }

    /// Builds every node's instance for this shard (a factory's panic is attributed to its
    /// node); egress node `i` sends on the channel paired with `i` in `egress`.
    pub(super) fn instantiate(&mut self, dag: &Dag, ctx: &ShardContext, mut egress: Vec<EgressLink>) {
        for (i, n) in dag.nodes.iter().enumerate() {
            self.current = Some(i);
            let node = match &n.role {
                Role::Source => Node::Source,
                Role::Operator(f) => Node::Op(f(ctx.clone())),
                Role::ShardSink(f) => Node::ShardSink(f(ctx.clone())),
                Role::Egress => {
                    let at = egress.iter().position(|l| l.node == i);
                    let Some(at) = at else { panic!("egress channel for node {i} missing") };
                    Node::Egress(EgressOut::new(egress.swap_remove(at), n.inputs[0], ctx.shards == 1))
                }
            };
            self.nodes.push(node);
        }
        self.current = None;
        self.has_egress = self.nodes.iter().any(|n| matches!(n, Node::Egress(_)));
        self.has_sinks = self.nodes.iter().any(|n| matches!(n, Node::ShardSink(_)));
    }

    /// The name of the node being called, if any (for panic reports).
    pub(super) fn current_name(&self) -> Option<&str> {
        self.current.and_then(|k| self.names.get(k)).map(String::as_str)
    }

    /// The output buffer of source node `node` (where its ring's records are delivered).
    #[inline]
    pub(super) fn source_slot(&mut self, node: usize) -> &mut Batch {
        &mut self.bufs[node][0]
    }

    /// Operator counters, registered once: names fixed for the run, one slot each, in node
    /// order (sampling reports them in the same order).
    pub(super) fn register_counters(&self) -> OpCounters {
        let mut names = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Op(op) = n {
                op.counters(&mut |c, _| names.push((i, c)));
            }
        }
        let values = (0..names.len()).map(|_| AtomicU64::new(0)).collect();
        OpCounters { names, values }
    }

    /// Copies operator counters into their registered slots.
    pub(super) fn sample_counters(&self, oc: &OpCounters) {
        let mut slot = 0;
        for n in &self.nodes {
            if let Node::Op(op) = n {
                op.counters(&mut |_, v| {
                    // An operator reporting more counters than it registered is ignored past them.
                    if let Some(cell) = oc.values.get(slot) {
                        cell.store(v, Relaxed);
                    }
                    slot += 1;
                });
            }
        }
    }

    /// One fused pass in topological order: each node gets the batches its upstream nodes
    /// produced (one `dyn` call per batch), then the new watermark if any.
    pub(super) fn pass(&mut self, new_wm: Option<Timestamp>, c: &ShardCell) {
        for i in 0..self.nodes.len() {
            let (before, rest) = self.bufs.split_at_mut(i);
            let Some(outs) = rest.first_mut() else { break };
            self.current = Some(i);
            let ups = &self.upstream[i];
            let delivered = match &mut self.nodes[i] {
                Node::Source => continue,
                Node::Op(op) => {
                    let n = match self.takes_over[i] {
                        Some((u, up)) => pass_or_process(op.as_mut(), &mut before[u][up], outs),
                        None => each_input(ups, before, |port, b| op.on_batch(port, b, &mut Outputs::new(outs))),
                    };
                    if let Some(wm) = new_wm {
                        op.on_watermark(wm, &mut Outputs::new(outs));
                    }
                    let produced: usize = outs.iter().map(Batch::len).sum();
                    if produced > 0 {
                        bump(c.events_out.get(i), produced as u64);
                    }
                    n
                }
                Node::ShardSink(sink) => each_input(ups, before, |_, b| sink.on_batch(b)),
                Node::Egress(e) => match self.takes_over[i] {
                    Some((u, up)) if e.pending.is_empty() => take_whole(&mut e.pending, &mut before[u][up]),
                    _ => each_input(ups, before, |_, b| crate::record::append(&mut e.pending, b)),
                },
            };
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

    /// Ships what the egress nodes collected, with the shard's progress: the watermark `wm`,
    /// lowered by any operator that still holds older output back (see `Operator::hold`),
    /// unless this is the `end`.
    pub(super) fn ship_egress(&mut self, shard: usize, wm: Timestamp, end: bool, c: &ShardCell) {
        if !self.has_egress && !self.has_sinks {
            return; // nobody to tell: no progress to compute (one `hold` call per operator)
        }
        let mut wm = wm;
        if !end {
            for n in &self.nodes {
                if let Node::Op(op) = n {
                    wm = wm.min(op.hold());
                }
            }
        }
        if self.has_sinks && wm > self.sink_progress {
            self.sink_progress = wm;
            self.tell_sinks(wm);
        }
        for n in &mut self.nodes {
            let Node::Egress(e) = n else { continue };
            if e.pending.is_empty() && !e.progress_matters(wm) && !end {
                continue;
            }
            let items = std::mem::replace(&mut e.pending, Batch::empty(e.kind));
            e.sent_max_stamp = e.sent_max_stamp.max(items.max_stamp().unwrap_or(Timestamp::MIN));
            e.sent_progress = e.sent_progress.max(wm);
            e.take_credits(items.len(), c);
            let msg = EgressMsg { shard, items, progress: wm, end };
            let msg = match e.tx.try_send(msg) {
                Ok(()) => continue,
                Err(TrySendError::Disconnected(_)) => continue, // reader gone: nobody to tell
                Err(TrySendError::Full(m)) => m,
            };
            let t0 = Instant::now();
            // Blocks until the reader catches up; an abort drops the reader's hope anyway.
            let _ = e.tx.send(msg);
            bump(&c.egress_wait_ns, t0.elapsed().as_nanos() as u64);
        }
    }

    /// Input ended: the shard sinks learn the final progress `wm` (holds no longer count).
    pub(super) fn end_progress(&mut self, wm: Timestamp) {
        if self.has_sinks && wm > self.sink_progress {
            self.sink_progress = wm;
            self.tell_sinks(wm);
        }
    }

    /// Every shard sink learns the shard's progress.
    fn tell_sinks(&mut self, progress: Timestamp) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Node::ShardSink(s) = n {
                self.current = Some(i);
                s.on_progress(progress);
            }
        }
        self.current = None;
    }

    /// Input ended: every shard sink flushes.
    pub(super) fn end_sinks(&mut self) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Node::ShardSink(s) = n {
                self.current = Some(i);
                s.on_end();
            }
        }
        self.current = None;
    }
}

/// Per node: its one feed `(node, output port)` when nobody else reads that feed and the node
/// may take the fed batch over instead of copying it: an operator with one input fed from one
/// place and one output of the kind it is fed (it hands the batch on when it passes it whole,
/// [`crate::Operator::on_batch_or_pass`]), or an egress (it ships the batch as it is).
fn pass_through_feeds(dag: &Dag) -> Vec<Option<(usize, usize)>> {
    let readers = |feed: (usize, usize)| {
        dag.nodes.iter().flat_map(|n| n.upstream.iter().flatten()).filter(|&&f| f == feed).count()
    };
    dag.nodes
        .iter()
        .map(|n| {
            let [feeds] = &n.upstream[..] else { return None };
            let &[(u, up)] = &feeds[..] else { return None };
            let kind_kept = match (&n.role, &n.outputs[..]) {
                (Role::Operator(_), [kind]) => dag.nodes[u].outputs.get(up) == Some(kind),
                (Role::Egress, _) => true,
                _ => false,
            };
            (kind_kept && readers((u, up)) == 1).then_some((u, up))
        })
        .collect()
}

/// An egress node's pending output takes over the batch `fed` whole when nothing is pending
/// (the usual case: each pass's output is shipped after the pass): a swap, not a copy. `fed`
/// gets a buffer of the same size for the next pass (what the copy would have allocated).
/// Returns the records delivered.
fn take_whole(pending: &mut Batch, fed: &mut Batch) -> usize {
    let n = fed.len();
    if n > 0 {
        std::mem::swap(pending, fed);
        *fed = Batch::with_capacity(fed.kind(), n);
    }
    n
}

/// Gives operator `op` the batch `fed` (if any): when the operator passes it whole, the batch
/// becomes its output by a swap with its (empty) output buffer. Returns the records delivered.
#[inline]
fn pass_or_process(op: &mut dyn Operator, fed: &mut Batch, outs: &mut [Batch]) -> usize {
    if fed.is_empty() {
        return 0;
    }
    let n = fed.len();
    if op.on_batch_or_pass(0, fed, &mut Outputs::new(outs)) {
        debug_assert!(outs[0].is_empty(), "an operator passed a batch whole and also wrote output");
        std::mem::swap(fed, &mut outs[0]);
    }
    n
}

/// Calls `f(port, batch)` for every non-empty batch reaching a node whose input ports are fed
/// by `ups`, from the outputs of earlier nodes `before`; returns the records delivered.
#[inline]
fn each_input(ups: &[Vec<(usize, usize)>], before: &[Vec<Batch>], mut f: impl FnMut(usize, &Batch)) -> usize {
    let mut delivered = 0;
    for (port, feeds) in ups.iter().enumerate() {
        for &(u, up) in feeds {
            let b = &before[u][up];
            if !b.is_empty() {
                delivered += b.len();
                f(port, b);
            }
        }
    }
    delivered
}
