//! `map` and `filter`: closures applied per record, monomorphised (no `dyn` call per record).
//! Stamps pass through unchanged, so they keep the egress order contract.

use std::marker::PhantomData;
use ticklane_engine::{Record, Stamped, Transform};

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

/// Keeps the records for which `f` is true; counts the others
/// (`ticklane_filtered_total`).
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

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("ticklane_filtered_total", self.rejected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticklane_engine::{Fixed, Trade};

    #[test]
    fn map_and_filter_keep_stamps() {
        let input: Vec<Stamped<Trade>> =
            (0..4).map(|i| Stamped { wm: i, rec: Trade { size: Fixed::from_raw(i), ..Trade::default() } }).collect();
        let mut f = Filter::new(|t: &Trade| t.size.raw() % 2 == 1);
        let mut out = Vec::new();
        f.on_batch(&input, &mut out);
        assert_eq!(out.iter().map(|s| s.wm).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(f.rejected, 2);
        let mut m = Map::new(|t: &Trade| Trade { size: Fixed::from_raw(t.size.raw() * 10), ..*t });
        let mut out2 = Vec::new();
        m.on_batch(&out, &mut out2);
        assert_eq!(out2.iter().map(|s| (s.wm, s.rec.size.raw())).collect::<Vec<_>>(), vec![(1, 10), (3, 30)]);
    }
}
