//! Routes each record to every named output whose rule matches (design.md §4); unmatched
//! records go to the default output (the last port) if there is one, else are dropped and
//! counted ([`UNROUTED`]).
//!
//! Rules are either instrument sets (resolved once per instrument from its name, then a
//! cached bitmask: no name lookup and no `dyn` call per record) or one monomorphised closure
//! returning the bitmask of matching outputs. At most 63 named outputs.

use hashbrown::HashSet;
use std::sync::Arc;
use ticklane_engine::{
    Batch, ConfigError, ConfigViolation, Counter, DagBuilder, InstrumentId, Interner, Operator, Outputs, Record,
    Stamped,
};

/// The most named outputs a router has (one bit each in a `u64`).
pub const MAX_ROUTES: usize = 63;

/// Records that matched no route and had no default output (dropped).
pub const UNROUTED: Counter = Counter::new("ticklane_unrouted_total");

/// Decides which outputs a record goes to, as a bitmask over the named outputs.
pub trait Classify<T>: Send {
    /// Bit `i` set: the record goes to output `i`.
    fn mask(&mut self, rec: &T) -> u64;
}

/// Routes by instrument name sets.
pub struct InstrumentSets {
    sets: Arc<Vec<HashSet<String>>>,
    interner: Interner,
    cache: Vec<Option<u64>>,
}

impl InstrumentSets {
    /// `sets[i]` are the instrument names of output `i`.
    pub fn new(sets: Arc<Vec<HashSet<String>>>, interner: Interner) -> InstrumentSets {
        InstrumentSets { sets, interner, cache: Vec::new() }
    }

    #[cold]
    fn resolve(&mut self, id: InstrumentId) -> u64 {
        let name = self.interner.name(id).unwrap_or_default();
        let mask = self.sets.iter().enumerate().filter(|(_, s)| s.contains(&*name)).fold(0, |m, (i, _)| m | 1 << i);
        let i = id.0 as usize;
        if self.cache.len() <= i {
            self.cache.resize(i + 1, None);
        }
        self.cache[i] = Some(mask);
        mask
    }
}

impl<T: Record> Classify<T> for InstrumentSets {
    #[inline]
    fn mask(&mut self, rec: &T) -> u64 {
        let id = rec.instrument();
        match self.cache.get(id.0 as usize) {
            Some(Some(m)) => *m,
            _ => self.resolve(id),
        }
    }
}

/// Routes with a closure returning the bitmask of matching outputs.
pub struct FnMask<F>(pub F);

impl<T, F: FnMut(&T) -> u64 + Send> Classify<T> for FnMask<F> {
    #[inline]
    fn mask(&mut self, rec: &T) -> u64 {
        (self.0)(rec)
    }
}

/// The router operator: one input of `T`; outputs `0..routes` (plus the default last).
pub struct Router<T, C> {
    classify: C,
    routes: usize,
    default: bool,
    unrouted: u64,
    /// The output buffers, moved here for the duration of one batch (reused, not reallocated).
    scratch: Vec<Vec<Stamped<T>>>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Record, C: Classify<T>> Router<T, C> {
    /// A router over `routes` named outputs (at most [`MAX_ROUTES`]), with a default output
    /// after them if `default`.
    pub fn new(classify: C, routes: usize, default: bool) -> Result<Self, ConfigError> {
        check_routes(routes, default)?;
        Ok(Router::validated(classify, routes, default))
    }

    /// For parameters already checked by [`Router::new`].
    pub(crate) fn validated(classify: C, routes: usize, default: bool) -> Self {
        Router { classify, routes, default, unrouted: 0, scratch: Vec::new(), _t: std::marker::PhantomData }
    }

    /// Records that matched no route and had no default output.
    pub fn unrouted(&self) -> u64 {
        self.unrouted
    }

    /// Routes `input` into `outs[0..routes]` (and `outs[routes]` as default).
    pub fn route(&mut self, input: &[Stamped<T>], outs: &mut [Vec<Stamped<T>>]) {
        for r in input {
            let mut m = self.classify.mask(&r.rec) & ((1u64 << self.routes) - 1);
            if m == 0 {
                if self.default {
                    outs[self.routes].push(*r);
                } else {
                    self.unrouted += 1;
                }
                continue;
            }
            while m != 0 {
                let i = m.trailing_zeros() as usize;
                outs[i].push(*r);
                m &= m - 1;
            }
        }
    }
}

impl<T: Record, C: Classify<T>> Operator for Router<T, C> {
    fn on_batch(&mut self, _input: usize, batch: &Batch, out: &mut Outputs<'_>) {
        let Some(input) = batch.as_slice::<T>() else { return };
        // Move the port buffers out so that several can be filled at once, then put them back
        // (swaps of Vec headers: no copy, no allocation once `scratch` has its length).
        let n = out.len();
        let mut bufs = std::mem::take(&mut self.scratch);
        bufs.resize_with(n, Vec::new);
        for (i, b) in bufs.iter_mut().enumerate() {
            std::mem::swap(b, out.port::<T>(i));
        }
        self.route(input, &mut bufs);
        for (i, b) in bufs.iter_mut().enumerate() {
            std::mem::swap(b, out.port::<T>(i));
        }
        self.scratch = bufs;
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        report(UNROUTED, self.unrouted);
    }
}

/// `routes` named outputs (plus a default if `default`): at least one output in all, at most
/// [`MAX_ROUTES`] named.
fn check_routes(routes: usize, default: bool) -> Result<(), ConfigError> {
    if routes == 0 && !default {
        return Err(ConfigViolation::Zero { param: "router outputs" }.into());
    }
    if routes > MAX_ROUTES {
        return Err(ConfigViolation::TooMany { param: "router outputs", count: routes, max: MAX_ROUTES }.into());
    }
    Ok(())
}

/// Adds a [`Router`] to a graph. Output `i` of the node is route `i`; with `default`, one
/// more output (the last) gets the records no route matched.
pub trait RouteExt {
    /// Routes `T` records by instrument name sets: output `i` gets the instruments named in
    /// `routes[i]`.
    ///
    /// ```
    /// use ticklane_engine::{DagBuilder, Kind, Trade};
    /// use ticklane_operators::RouteExt;
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .route_instruments::<Trade>("by_venue", &[&["GLBX.MDP3:ESH4"], &["binance:BTCUSDT"]], true)?
    ///     .sink_egress("cme", Kind::Trade)
    ///     .sink_egress("crypto", Kind::Trade)
    ///     .sink_egress("other", Kind::Trade)
    ///     .connect("feed", "by_venue")
    ///     .connect_ports("by_venue", 0, "cme", 0)
    ///     .connect_ports("by_venue", 1, "crypto", 0)
    ///     .connect_ports("by_venue", 2, "other", 0); // the default output
    /// assert!(g.build().is_ok());
    /// # Ok::<(), ticklane_engine::ConfigError>(())
    /// ```
    fn route_instruments<T: Record>(
        &mut self,
        name: &str,
        routes: &[&[&str]],
        default: bool,
    ) -> Result<&mut Self, ConfigError>;

    /// Routes `T` records by a closure returning the bitmask of matching outputs (bit `i`:
    /// output `i`); with `default`, records whose mask is 0 go to one more output.
    ///
    /// ```
    /// use ticklane_engine::{DagBuilder, Kind, Side, Trade};
    /// use ticklane_operators::RouteExt;
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .route_by("buys", 1, false, |t: &Trade| u64::from(t.side == Side::Buy))?
    ///     .sink_egress("out", Kind::Trade)
    ///     .connect("feed", "buys")
    ///     .connect("buys", "out");
    /// assert!(g.build().is_ok());
    /// # Ok::<(), ticklane_engine::ConfigError>(())
    /// ```
    fn route_by<T: Record, F>(
        &mut self,
        name: &str,
        routes: usize,
        default: bool,
        f: F,
    ) -> Result<&mut Self, ConfigError>
    where
        F: FnMut(&T) -> u64 + Send + Sync + Clone + 'static;
}

impl RouteExt for DagBuilder {
    fn route_instruments<T: Record>(
        &mut self,
        name: &str,
        routes: &[&[&str]],
        default: bool,
    ) -> Result<&mut Self, ConfigError> {
        let n = routes.len();
        check_routes(n, default)?;
        let sets: Arc<Vec<HashSet<String>>> =
            Arc::new(routes.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect());
        let kinds = vec![T::KIND; n + usize::from(default)];
        Ok(self.operator(name, &[T::KIND], &kinds, move |ctx| {
            Box::new(Router::<T, _>::validated(InstrumentSets::new(sets.clone(), ctx.interner.clone()), n, default))
        }))
    }

    fn route_by<T: Record, F>(
        &mut self,
        name: &str,
        routes: usize,
        default: bool,
        f: F,
    ) -> Result<&mut Self, ConfigError>
    where
        F: FnMut(&T) -> u64 + Send + Sync + Clone + 'static,
    {
        check_routes(routes, default)?;
        let kinds = vec![T::KIND; routes + usize::from(default)];
        Ok(self.operator(name, &[T::KIND], &kinds, move |_| {
            Box::new(Router::<T, _>::validated(FnMask(f.clone()), routes, default))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::Trade;

    #[test]
    fn fan_out_default_and_unrouted() {
        let st = |i: u32| Stamped { wm: 0, rec: Trade { instrument: InstrumentId(i), ..Trade::default() } };
        let input: Vec<_> = (0..6).map(st).collect();
        // even → 0, multiple of 3 → 1
        let f = FnMask(|t: &Trade| u64::from(t.instrument.0 % 2 == 0) | u64::from(t.instrument.0 % 3 == 0) << 1);
        let mut r = Router::new(f, 2, false).expect("router");
        let mut outs = vec![Vec::new(), Vec::new()];
        r.route(&input, &mut outs);
        let (a, b) = (&outs[0], &outs[1]);
        let ids = |v: &Vec<Stamped<Trade>>| v.iter().map(|s| s.rec.instrument.0).collect::<Vec<_>>();
        assert_eq!((ids(a), ids(b)), (vec![0, 2, 4], vec![0, 3]));
        assert_eq!(r.unrouted(), 2, "1 and 5 match nothing");
        let interner = Interner::new();
        let x = interner.intern("X").expect("intern");
        let sets = Arc::new(vec![HashSet::from(["X".to_string()])]);
        let mut r = Router::new(InstrumentSets::new(sets, interner), 1, true).expect("router");
        let mut outs = vec![Vec::new(), Vec::new()];
        r.route(&[Stamped { wm: 0, rec: Trade { instrument: x, ..Trade::default() } }, st(7)], &mut outs);
        assert_eq!((outs[0].len(), outs[1].len()), (1, 1));
    }
}
