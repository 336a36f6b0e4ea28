//! What a DAG node runs on a shard: [`Operator`] (the general, per-batch `dyn` interface),
//! [`Transform`] (one typed input, one typed output; the usual way to write an operator) and
//! [`ShardSink`] (a callback sink that runs on the shard thread).
//!
//! Each shard builds its own instance of every node through the factory given to the
//! [`crate::DagBuilder`], so operator state is shard-local: no locks, no sharing.

use crate::counter::Counter;
use crate::record::{Batch, Record, Stamped, Timestamp};
use std::marker::PhantomData;

/// Where a node instance runs; passed to node factories.
#[derive(Clone, Debug)]
pub struct ShardContext {
    /// This shard's index, `0..shards`.
    pub shard: usize,
    /// Number of shards in the engine.
    pub shards: usize,
    /// The engine's instrument table (to resolve names; look up on cold paths only).
    pub interner: crate::Interner,
}

/// The output ports of a node during one call, typed per port at build time.
pub struct Outputs<'a> {
    ports: &'a mut [Batch],
}

impl<'a> Outputs<'a> {
    pub(crate) fn new(ports: &'a mut [Batch]) -> Outputs<'a> {
        Outputs { ports }
    }

    /// The buffer of output port `i`, to push records into.
    ///
    /// # Panics
    /// If port `i` does not exist or does not carry `T` — a bug in the operator that declared
    /// its ports, never caused by input data. The shard catches it and [`crate::Engine::join`]
    /// reports it naming the shard and node.
    pub fn port<T: Record>(&mut self, i: usize) -> &mut Vec<Stamped<T>> {
        let n = self.ports.len();
        let Some(b) = self.ports.get_mut(i) else {
            panic!("operator wrote to output port {i} but declared {n}");
        };
        let kind = b.kind();
        match T::from_batch_mut(b) {
            Some(v) => v,
            None => panic!("operator wrote {} records to output port {i} of kind {kind}", T::KIND),
        }
    }

    /// The buffers of two distinct output ports at once (e.g. main and side output).
    ///
    /// # Panics
    /// As [`Outputs::port`], and if `i == j`.
    pub fn pair<A: Record, B: Record>(&mut self, i: usize, j: usize) -> (&mut Vec<Stamped<A>>, &mut Vec<Stamped<B>>) {
        assert!(i != j, "Outputs::pair needs two distinct ports, got {i} twice");
        let (lo, hi) = self.ports.split_at_mut(i.max(j));
        let (a, b) = if i < j { (&mut lo[i], &mut hi[0]) } else { (&mut hi[0], &mut lo[j]) };
        let (ka, kb) = (a.kind(), b.kind());
        match (A::from_batch_mut(a), B::from_batch_mut(b)) {
            (Some(a), Some(b)) => (a, b),
            _ => panic!("operator wrote {}/{} records to ports {i}/{j} of kinds {ka}/{kb}", A::KIND, B::KIND),
        }
    }

    /// Number of output ports.
    pub fn len(&self) -> usize {
        self.ports.len()
    }

    /// Whether the node has no output port.
    pub fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }
}

/// A DAG operator instance on one shard. Called once per batch (`dyn` per batch, never per
/// record); loop over the records inside.
///
/// # Contract
/// - `on_batch` receives every batch that reaches input port `input`, in the order the shard
///   received it. Records of one instrument arrive in ingress order.
/// - `on_watermark(wm)` is called when the shard's watermark advances (non-decreasing; the
///   last call at end of input or graceful stop is [`crate::WM_END`]). Fire what is due.
/// - **Stamps.** Give each output a stamp (`Stamped::wm`) that is a deterministic function of
///   the input and never below the last watermark this instance was given: pass a record's
///   stamp through for per-record outputs, use the window end for a fired window, use the
///   triggering record's stamp for a revision. The egress orders output by these stamps, which
///   is what makes output identical at any shard count.
/// - Panics are caught at the shard boundary and reported by [`crate::Engine::join`].
pub trait Operator: Send {
    /// Processes one batch that arrived on input port `input`.
    fn on_batch(&mut self, input: usize, batch: &Batch, out: &mut Outputs<'_>);

    /// [`Operator::on_batch`], or `true` for "my output for this batch is the batch itself":
    /// the same records with the same stamps, in order, on output port 0 (which then must
    /// carry the batch's kind), nothing written to `out`. The engine then hands the batch on
    /// without copying it. It asks only a node with one input and one output of the same
    /// kind whose input batch nobody else reads. The default calls `on_batch` and returns
    /// `false`.
    fn on_batch_or_pass(&mut self, input: usize, batch: &Batch, out: &mut Outputs<'_>) -> bool {
        self.on_batch(input, batch, out);
        false
    }

    /// The watermark advanced to `wm`. The default does nothing.
    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        let _ = (wm, out);
    }

    /// Reports operator-specific counters (duplicates, late events, …) as `(counter, value)`,
    /// the same counters in the same order every call. Called off the hot path when stats
    /// are sampled. The default reports none.
    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let _ = report;
    }

    /// The smallest stamp this instance may still emit, when that is below the watermark it
    /// was given (the default, [`crate::WM_END`], means "nothing below the watermark").
    ///
    /// An operator that learns of an output only later than the watermark would allow — flat
    /// bars for an instrument's empty windows are known only when it trades again — holds the
    /// egress back with this, so ordered output stays ordered. The shard reports
    /// `min(watermark, hold of every operator)` as its progress; at end of input holds are
    /// ignored. Called once per ring message, through `dyn`.
    fn hold(&self) -> Timestamp {
        crate::WM_END
    }
}

/// A typed one-input, one-output operator: the simple way to write one. Generic code per
/// record, monomorphised; the engine makes one `dyn` call per batch into it.
///
/// ```
/// use ticklane_engine::{Stamped, Trade, Transform};
///
/// /// Passes trades of at least `min` size.
/// struct LargeOnly { min: ticklane_engine::Fixed }
///
/// impl Transform<Trade, Trade> for LargeOnly {
///     fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) {
///         out.extend(input.iter().filter(|t| t.rec.size >= self.min));
///     }
/// }
/// ```
pub trait Transform<I: Record, O: Record>: Send {
    /// Processes one input batch, pushing outputs.
    fn on_batch(&mut self, input: &[Stamped<I>], out: &mut Vec<Stamped<O>>);

    /// [`Transform::on_batch`], or `true` when the output for `input` is `input` itself (every
    /// record passes unchanged, stamps included: only for `I = O`), having written nothing to
    /// `out`; the engine then hands the batch on uncopied (see [`Operator::on_batch_or_pass`]).
    /// For a filter that usually keeps everything. The default calls `on_batch` and returns
    /// `false`.
    fn on_batch_or_pass(&mut self, input: &[Stamped<I>], out: &mut Vec<Stamped<O>>) -> bool {
        self.on_batch(input, out);
        false
    }

    /// The watermark advanced to `wm`. The default does nothing.
    fn on_watermark(&mut self, wm: Timestamp, out: &mut Vec<Stamped<O>>) {
        let _ = (wm, out);
    }

    /// Operator-specific counters, as [`Operator::counters`].
    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        let _ = report;
    }

    /// As [`Operator::hold`].
    fn hold(&self) -> Timestamp {
        crate::WM_END
    }
}

/// Any `FnMut(&[Stamped<I>], &mut Vec<Stamped<O>>) + Send` closure is a stateless transform.
impl<I: Record, O: Record, F: FnMut(&[Stamped<I>], &mut Vec<Stamped<O>>) + Send> Transform<I, O> for F {
    #[inline]
    fn on_batch(&mut self, input: &[Stamped<I>], out: &mut Vec<Stamped<O>>) {
        self(input, out)
    }
}

/// Adapts a [`Transform`] to [`Operator`].
pub(crate) struct TransformOp<I, O, X> {
    inner: X,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, X> TransformOp<I, O, X> {
    pub(crate) fn new(inner: X) -> Self {
        TransformOp { inner, _types: PhantomData }
    }
}

impl<I: Record, O: Record, X: Transform<I, O>> Operator for TransformOp<I, O, X> {
    #[inline]
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(input) = batch.as_slice::<I>() else {
            panic!("transform expected {} input, got {}", I::KIND, batch.kind());
        };
        self.inner.on_batch(input, out.port::<O>(0));
    }

    #[inline]
    fn on_batch_or_pass(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) -> bool {
        let Some(input) = batch.as_slice::<I>() else {
            panic!("transform expected {} input, got {}", I::KIND, batch.kind());
        };
        self.inner.on_batch_or_pass(input, out.port::<O>(0))
    }

    fn on_watermark(&mut self, wm: Timestamp, out: &mut Outputs<'_>) {
        self.inner.on_watermark(wm, out.port::<O>(0));
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        self.inner.counters(report);
    }

    fn hold(&self) -> Timestamp {
        self.inner.hold()
    }
}

/// A sink that runs on the shard thread: the lowest-latency way out of the engine. Each shard
/// gets its own instance (from the factory given to [`crate::DagBuilder::sink_shard`]), so
/// it needs no lock; output across shards is *not* ordered (use an egress for that).
///
/// Any `FnMut(&[Stamped<T>]) + Send` closure is a `ShardSink`.
pub trait ShardSink<T: Record>: Send {
    /// Receives one batch of records.
    fn on_batch(&mut self, batch: &[Stamped<T>]);
    /// The shard's progress advanced to `progress`: every record this sink will still get is
    /// stamped at or after it (the watermark, lowered by any operator holding output back; see
    /// [`Operator::hold`]); [`crate::WM_END`] once input ended. Called after the pass that
    /// delivered the records before it, at most once per pass, only when it advanced. The
    /// default does nothing; a durable sink uses it to say how far its writes are complete.
    fn on_progress(&mut self, progress: Timestamp) {
        let _ = progress;
    }
    /// Input ended (or the engine stopped gracefully): flush. The default does nothing.
    fn on_end(&mut self) {}
}

impl<T: Record, F: FnMut(&[Stamped<T>]) + Send> ShardSink<T> for F {
    fn on_batch(&mut self, batch: &[Stamped<T>]) {
        self(batch)
    }
}

/// A [`ShardSink`] with its record type erased (one `dyn` call per batch).
pub(crate) trait DynShardSink: Send {
    fn on_batch(&mut self, batch: &Batch);
    fn on_progress(&mut self, progress: Timestamp);
    fn on_end(&mut self);
}

/// Adapts a [`ShardSink`] of `T` to [`DynShardSink`].
pub(crate) struct ShardSinkAdapter<T, S> {
    inner: S,
    _t: PhantomData<fn(T)>,
}

impl<T, S> ShardSinkAdapter<T, S> {
    pub(crate) fn new(inner: S) -> Self {
        ShardSinkAdapter { inner, _t: PhantomData }
    }
}

impl<T: Record, S: ShardSink<T>> DynShardSink for ShardSinkAdapter<T, S> {
    fn on_batch(&mut self, batch: &Batch) {
        if let Some(v) = batch.as_slice::<T>() {
            self.inner.on_batch(v);
        }
    }
    fn on_progress(&mut self, progress: Timestamp) {
        self.inner.on_progress(progress);
    }
    fn on_end(&mut self) {
        self.inner.on_end();
    }
}
