//! `map`: a closure applied to every record, monomorphised (no `dyn` call per record).
//! Stamps pass through unchanged, so they keep the egress order contract.

use std::marker::PhantomData;
use ticklane_engine::{DagBuilder, Record, Stamped, Transform};

/// Applies `f` to every record.
pub struct Map<I, O, F> {
    f: F,
    _t: PhantomData<fn(I) -> O>,
}

impl<I, O, F> Map<I, O, F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Map { f, _t: PhantomData }
    }
}

impl<I: Record, O: Record, F: Fn(&I) -> O + Send> Transform<I, O> for Map<I, O, F> {
    #[inline]
    fn on_batch(&mut self, input: &[Stamped<I>], out: &mut Vec<Stamped<O>>) {
        out.extend(input.iter().map(|r| Stamped { wm: r.wm, rec: (self.f)(&r.rec) }));
    }
}

/// Adds [`Map`] to a graph.
pub trait MapExt {
    /// `map` named `name`: applies `f` to each record (`I` in, `O` out); each shard gets a
    /// clone of `f`.
    ///
    /// ```
    /// use ticklane_engine::{DagBuilder, Kind, Side, Trade};
    /// use ticklane_operators::MapExt;
    ///
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .map("anonymous", |t: &Trade| Trade { side: Side::None, ..*t })
    ///     .sink_egress("out", Kind::Trade)
    ///     .connect("feed", "anonymous")
    ///     .connect("anonymous", "out");
    /// assert_eq!(g.build()?.node_names(), ["feed", "anonymous", "out"]);
    /// # Ok::<(), ticklane_engine::BuildError>(())
    /// ```
    fn map<I: Record, O: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&I) -> O + Send + Sync + Clone + 'static;
}

impl MapExt for DagBuilder {
    fn map<I: Record, O: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&I) -> O + Send + Sync + Clone + 'static,
    {
        self.transform::<I, O, _, _>(name, move |_| Map::new(f.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::{Fixed, Trade};

    #[test]
    fn map_keeps_stamps() {
        let input: Vec<Stamped<Trade>> =
            (0..2).map(|i| Stamped { wm: i, rec: Trade { size: Fixed::from_raw(i), ..Trade::default() } }).collect();
        let mut m = Map::new(|t: &Trade| Trade { size: Fixed::from_raw(t.size.raw() * 10), ..*t });
        let mut out = Vec::new();
        m.on_batch(&input, &mut out);
        assert_eq!(out.iter().map(|s| (s.wm, s.rec.size.raw())).collect::<Vec<_>>(), vec![(0, 0), (1, 10)]);
    }
}
