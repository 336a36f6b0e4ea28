//! One shard: a thread running its instance of the graph ([`graph`]) over its input rings
//! ([`inputs`]) in a polling loop. Nothing here locks or allocates per record.

mod graph;
mod inputs;

pub(crate) use inputs::SourceIn;

use super::config::WaitStrategy;
use super::control::Control;
use super::doorbell::Doorbell;
use super::error::{panic_message, EngineError};
use super::placement::place_shard;
use super::ring::TryRecv;
use super::stats::{bump, ShardCell, StatsShared};
use super::wire::{EgressLink, ToShard};
use crate::dag::Dag;
use crate::operator::ShardContext;
use crate::record::Timestamp;
use crossbeam_channel::TrySendError;
use graph::Graph;
use inputs::Inputs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything one shard thread needs, built in one place ([`super::wiring`]).
pub(crate) struct ShardWiring {
    pub(crate) ctx: ShardContext,
    pub(crate) inputs: Vec<SourceIn>,
    /// This shard's link to every egress node of the graph.
    pub(crate) egress: Vec<EgressLink>,
    pub(crate) doorbell: Arc<Doorbell>,
    pub(crate) control: Arc<Control>,
    pub(crate) stats: Arc<StatsShared>,
    pub(crate) wait: WaitStrategy,
    pub(crate) idle_timeout: Option<Duration>,
}

/// How a shard's run ended.
enum Exit {
    /// Input ended or a graceful stop: everything fired and flushed.
    Done,
    /// The engine aborted this shard.
    Aborted,
}

/// Polls without a message after which the shard counts itself idle (before parking, for
/// the park strategy).
const IDLE_SETTLE: u32 = 256;

pub(crate) struct Shard {
    ctx: ShardContext,
    graph: Graph,
    inputs: Inputs,
    /// Taken when the graph is instantiated.
    egress: Vec<EgressLink>,
    /// Wake-ups for a parked shard.
    doorbell: Arc<Doorbell>,
    control: Arc<Control>,
    stats: Arc<StatsShared>,
    wait: WaitStrategy,
    idle_timeout: Option<Duration>,
    wm: Timestamp,
    /// A coarse clock: refreshed every 64 messages and while idle, never per message.
    now: Instant,
    started: Instant,
    messages_since_sample: u32,
    /// Polling-loop iterations, published with the other counters (not per iteration).
    iterations: u64,
    /// A message taken from source `.0`'s ring behind single records, waiting for their pass
    /// (here rather than on the stack, so that if the pass panics it is counted, not lost).
    held: Option<(usize, ToShard)>,
}

/// Spawns shard `w.ctx.shard` on its own thread (pinned to `core` if given, a batch thread when
/// `batch`: [`crate::ConfigBuilder::batch_threads`]). Node instances
/// are built on that thread (so their memory is first touched there); a panic there or in
/// the loop is caught, recorded as the run's failure, and aborts the other shards.
pub(crate) fn spawn(
    w: ShardWiring,
    dag: &Dag,
    core: Option<core_affinity::CoreId>,
    batch: bool,
) -> Result<JoinHandle<()>, EngineError> {
    let i = w.ctx.shard;
    let dag = dag.clone();
    let control = w.control.clone();
    let mut shard = Shard::new(w, &dag);
    std::thread::Builder::new()
        .name(format!("ticklane-shard-{i}"))
        .spawn(move || {
            place_shard(i, core, batch);
            let r = catch_unwind(AssertUnwindSafe(|| {
                shard.instantiate(&dag);
                shard.run()
            }));
            if let Err(payload) = r {
                let node = shard.graph.current_name().unwrap_or("<runtime>").to_string();
                let e = EngineError::NodePanicked { shard: i, node, message: panic_message(&*payload) };
                log::error!("{e}");
                control.fail(e);
            }
            // Blocked producers get `ShardGone`; what was still in the rings is counted.
            shard.close_inputs();
        })
        .map_err(|source| EngineError::Spawn { shard: i, source })
}

impl Shard {
    fn new(w: ShardWiring, dag: &Dag) -> Shard {
        Shard {
            ctx: w.ctx,
            graph: Graph::declare(dag),
            inputs: Inputs(w.inputs),
            egress: w.egress,
            doorbell: w.doorbell,
            control: w.control,
            stats: w.stats,
            wait: w.wait,
            idle_timeout: w.idle_timeout,
            wm: i64::MIN,
            now: Instant::now(),
            started: Instant::now(),
            messages_since_sample: 0,
            iterations: 0,
            held: None,
        }
    }

    fn cell(&self) -> &ShardCell {
        &self.stats.shards[self.ctx.shard]
    }

    fn instantiate(&mut self, dag: &Dag) {
        let egress = std::mem::take(&mut self.egress);
        self.graph.instantiate(dag, &self.ctx, egress);
        let _ = self.cell().op_counters.set(self.graph.register_counters());
    }

    /// Copies operator counters into their shared slots (off the per-record path: every 64
    /// messages, when idle, and at the end).
    fn sample_counters(&mut self) {
        self.messages_since_sample = 0;
        if let Some(oc) = self.cell().op_counters.get() {
            self.graph.sample_counters(oc);
        }
        let depth = self.inputs.depth();
        self.now = Instant::now();
        let c = self.cell();
        c.ring_depth.store(depth as u64, Relaxed);
        c.alive_ns.store(self.now.duration_since(self.started).as_nanos() as u64, Relaxed);
        c.loop_iterations.store(self.iterations, Relaxed);
    }

    /// Marks sources idle past the timeout (by the coarse clock); returns whether any changed.
    fn mark_idle(&mut self) -> bool {
        match self.idle_timeout {
            Some(timeout) => self.inputs.mark_idle(self.now, timeout),
            None => false,
        }
    }

    fn handle(&mut self, k: usize, msg: ToShard) {
        self.inputs[k].last_seen = self.now;
        self.inputs[k].idle = false;
        let node = self.inputs[k].node;
        match msg {
            ToShard::Data { mut batch, wm } => {
                // The batch takes the source's output slot for the pass; the slot's own buffer
                // (the one inline records are delivered in) waits in `batch` meanwhile.
                std::mem::swap(self.graph.source_slot(node), &mut batch);
                self.deliver(k, wm);
                std::mem::swap(self.graph.source_slot(node), &mut batch);
                batch.clear();
                // Hand the buffer back to the producer; if its pool is full, drop it.
                if let Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) =
                    self.inputs[k].recycle.try_send(batch)
                {
                    drop(b);
                }
            }
            ToShard::One { rec, wm } => {
                // Delivered in place, in the source's output slot (allocated on first use),
                // together with every single record already waiting behind it (the way a
                // Disruptor consumer takes all published slots at once): one pass over the
                // graph for them all, and nothing waits for a record not yet sent.
                push_one(self.graph.source_slot(node), rec);
                let (wm, next, taken) = self.take_waiting_ones(k, wm);
                self.held = next.map(|m| (k, m));
                self.deliver(k, wm);
                self.graph.source_slot(node).clear();
                bump(&self.cell().messages, taken);
                if let Some((k, m)) = self.held.take() {
                    self.handle(k, m);
                }
            }
            ToShard::End => {
                self.inputs[k].ended = true;
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

    /// Appends the single records waiting in source `k`'s ring to its output slot, up to
    /// [`COALESCE`] in all; returns the watermark after the last, the first other message
    /// taken (to handle next), and how many were taken.
    fn take_waiting_ones(&mut self, k: usize, mut wm: Timestamp) -> (Timestamp, Option<ToShard>, u64) {
        let node = self.inputs[k].node;
        let mut taken = 0;
        while self.graph.source_slot(node).len() < COALESCE {
            match self.inputs[k].rx.try_recv() {
                Ok(ToShard::One { rec, wm: w }) => {
                    push_one(self.graph.source_slot(node), rec);
                    (wm, taken) = (w, taken + 1);
                }
                Ok(other) => return (wm, Some(other), taken),
                Err(_) => break, // empty, or gone: the next poll sees that
            }
        }
        (wm, None, taken)
    }

    /// Runs the batch in source `k`'s output slot through the graph, with the source
    /// watermark `wm` after it.
    fn deliver(&mut self, k: usize, wm: Timestamp) {
        let node = self.inputs[k].node;
        if self.inputs.len() > 1 {
            // Several inputs: a record's stamp is the minimum over all inputs.
            let others = self.inputs.others_bound(k);
            self.graph.source_slot(node).clamp_stamps(others);
        }
        let n = self.graph.source_slot(node).len() as u64;
        let c = &self.stats.shards[self.ctx.shard];
        bump(c.events_in.get(node), n);
        bump(c.events_out.get(node), n);
        if wm > self.inputs[k].wm {
            self.inputs[k].wm = wm;
        }
        self.step();
    }

    /// Closes every input ring (no send succeeds after this: a producer gets `ShardGone`) and
    /// counts the records still in them — and in a message held for a pass that failed — as
    /// not delivered, per source. Nothing accepted by `push` is dropped uncounted.
    fn close_inputs(&mut self) {
        let c = &self.stats.shards[self.ctx.shard];
        let mut left = vec![0u64; self.inputs.len()];
        if let Some((k, m)) = self.held.take() {
            left[k] += m.records() as u64;
        }
        for (k, input) in self.inputs.iter_mut().enumerate() {
            input.rx.close(|m| left[k] += m.records() as u64);
        }
        for (k, n) in left.into_iter().enumerate().filter(|(_, n)| *n > 0) {
            bump(c.not_delivered.get(k), n);
            let source = self.stats.source_names.get(k).map_or("?", String::as_str);
            log::warn!(
                "shard {}: {n} record(s) from source '{source}' were accepted but not delivered",
                self.ctx.shard
            );
        }
    }

    /// Runs a pass for what arrived, with the watermark if it advanced, then ships egress.
    fn step(&mut self) {
        let wm = self.inputs.effective_wm();
        let advanced = wm > self.wm;
        if advanced {
            self.wm = wm;
            self.cell().watermark.store(wm, Relaxed);
        }
        let c = &self.stats.shards[self.ctx.shard];
        self.graph.pass(advanced.then_some(wm), c);
        self.graph.ship_egress(self.ctx.shard, self.wm, false, c);
    }

    fn finish(&mut self) {
        self.inputs.iter_mut().for_each(|s| s.ended = true);
        self.step(); // fires everything at +∞
        self.graph.end_progress(self.wm);
        self.graph.end_sinks();
        let c = &self.stats.shards[self.ctx.shard];
        self.graph.ship_egress(self.ctx.shard, self.wm, true, c);
        self.sample_counters();
    }

    /// The polling loop. Returns when every source ended, on a graceful stop (after draining
    /// what is already in the rings), or on abort.
    fn run(&mut self) -> Exit {
        let settle = match self.wait {
            WaitStrategy::Park { spins, .. } => spins.min(IDLE_SETTLE),
            _ => IDLE_SETTLE,
        };
        self.doorbell.register_current();
        let mut stopping = false;
        let mut idle: u32 = 0;
        let mut rr = 0usize;
        // Busy time is read from the clock only when the shard turns busy or idle, never per
        // message, and never between a message's arrival and its delivery.
        let mut busy_since: Option<Instant> = None;
        loop {
            self.iterations += 1;
            if self.control.aborted() {
                return Exit::Aborted;
            }
            stopping = stopping || self.control.stopping();
            let got = self.poll(rr, &mut busy_since);
            rr += 1;
            if rr >= self.inputs.len() {
                rr = 0;
            }
            if self.inputs.all_ended() || (stopping && !got) {
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
            self.on_idle_poll(idle, settle, &mut busy_since);
            idle = idle.saturating_add(1);
            self.wait_idle(idle);
        }
    }

    /// One round over the rings, starting after source `rr`; handles at most one message per
    /// source and returns whether any arrived. Wraps by comparison (a division per poll would
    /// sit in front of every message's detection).
    #[inline]
    fn poll(&mut self, rr: usize, busy_since: &mut Option<Instant>) -> bool {
        let n_src = self.inputs.len();
        let mut got = false;
        let mut k = rr;
        for _ in 0..n_src {
            k += 1;
            if k >= n_src {
                k = 0;
            }
            if self.inputs[k].ended {
                continue;
            }
            let msg = match self.inputs[k].rx.try_recv() {
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
                *busy_since = Some(Instant::now());
            }
        }
        got
    }

    /// After the `idle`-th empty poll in a row. A spell of busy time ends, and counters are
    /// sampled, once the shard has been idle for `settle` polls — not at the first empty poll:
    /// at high rates the shard goes idle between most messages, and a clock read plus a
    /// ring-depth sample (cache lines the producer writes) there would sit in front of the
    /// next message. Busy time therefore includes idle gaps shorter than `settle` polls.
    fn on_idle_poll(&mut self, idle: u32, settle: u32, busy_since: &mut Option<Instant>) {
        if idle == settle {
            self.account_busy(busy_since.take());
        }
        let parked = matches!(self.wait, WaitStrategy::Park { spins, .. } if idle > spins);
        if idle == settle || (self.idle_timeout.is_some() && (parked || idle % 64 == 0)) {
            self.sample_counters();
            if self.mark_idle() {
                self.step(); // a quiet source stopped holding time back: fire what is due
            }
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
                // The doorbell's fence pairs with the one in `Doorbell::ring_after_send`: either
                // this last look sees the message or the producer sees the flag.
                let (inputs, control) = (&self.inputs, &self.control);
                self.doorbell
                    .park_unless(timeout, || inputs.any_ready() || control.aborted_acquire() || control.stopping());
            }
        }
    }
}

/// Most single records taken from a ring into one pass over the graph.
const COALESCE: usize = 256;

/// Appends an inline record to a source slot.
fn push_one(slot: &mut crate::record::Batch, rec: crate::record::Inline) {
    if !rec.push_into(slot) {
        // Unreachable (an ingress is typed by its source's kind), but never lose it.
        *slot = crate::record::Batch::with_capacity(rec.kind(), 1);
        rec.push_into(slot);
    }
}
