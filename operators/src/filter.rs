//! `filter`: keeps the records a closure accepts, monomorphised (no `dyn` call per record),
//! counting the others. Stamps pass through unchanged.

use std::marker::PhantomData;
use ticklane_engine::{Counter, DagBuilder, Record, Stamped, Transform};

/// Records a [`Filter`] rejected.
pub const FILTERED: Counter = Counter::new("ticklane_filtered_total");

/// Keeps the records for which `f` is true; counts the others ([`FILTERED`]).
pub struct Filter<T, F> {
    f: F,
    rejected: u64,
    _t: PhantomData<fn(T)>,
}

impl<T, F> Filter<T, F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Filter { f, rejected: 0, _t: PhantomData }
    }
}

impl<T: Record, F: Fn(&T) -> bool + Send> Transform<T, T> for Filter<T, F> {
    #[inline]
    fn on_batch(&mut self, input: &[Stamped<T>], out: &mut Vec<Stamped<T>>) {
        let before = out.len();
        out.extend(input.iter().filter(|r| (self.f)(&r.rec)));
        self.rejected += (input.len() - (out.len() - before)) as u64;
    }

    fn counters(&self, report: &mut dyn FnMut(Counter, u64)) {
        report(FILTERED, self.rejected);
    }
}

/// Adds [`Filter`] to a graph.
pub trait FilterExt {
    /// `filter` named `name`: keeps the `T` records for which `f` holds; each shard gets a
    /// clone of `f`.
    ///
    /// ```
    /// use ticklane_engine::{Config, DagBuilder, Engine, Fixed, Kind, Trade};
    /// use ticklane_operators::{counters, FilterExt};
    ///
    /// let ten = Fixed::parse("10")?;
    /// let mut g = DagBuilder::new();
    /// g.source("feed", Kind::Trade)
    ///     .filter("large", move |t: &Trade| t.size >= ten)
    ///     .sink_egress("out", Kind::Trade)
    ///     .connect("feed", "large")
    ///     .connect("large", "out");
    /// let mut engine = Engine::start(g.build()?, Config::builder().shards(2).build()?)?;
    /// let (mut feed, mut out) = (engine.ingress::<Trade>("feed")?, engine.egress::<Trade>("out")?);
    /// let es = feed.intern("ESH4")?;
    /// for lots in ["1", "50", "3"] {
    ///     feed.push(Trade { instrument: es, size: Fixed::parse(lots)?, ..Trade::default() })?;
    /// }
    /// drop(feed);
    /// assert_eq!(out.by_ref().count(), 1);
    /// assert_eq!(engine.join()?.stats.counter("large", counters::FILTERED), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn filter<T: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&T) -> bool + Send + Sync + Clone + 'static;
}

impl FilterExt for DagBuilder {
    fn filter<T: Record, F>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(&T) -> bool + Send + Sync + Clone + 'static,
    {
        self.transform::<T, T, _, _>(name, move |_| Filter::new(f.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::{Fixed, Trade};

    #[test]
    fn filter_keeps_stamps_and_counts_the_rest() {
        let input: Vec<Stamped<Trade>> =
            (0..4).map(|i| Stamped { wm: i, rec: Trade { size: Fixed::from_raw(i), ..Trade::default() } }).collect();
        let mut f = Filter::new(|t: &Trade| t.size.raw() % 2 == 1);
        let mut out = Vec::new();
        f.on_batch(&input, &mut out);
        assert_eq!(out.iter().map(|s| s.wm).collect::<Vec<_>>(), vec![1, 3]);
        let mut seen = Vec::new();
        f.counters(&mut |c, v| seen.push((c, v)));
        assert_eq!(seen, [(FILTERED, 2)]);
    }
}
