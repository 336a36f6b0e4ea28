//! Several sources as one stream ordered by `ts_event`, ties in source order.

use super::{InputError, Rec, Source};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use ticklane::Timestamp;

/// Several sources as one stream ordered by `ts_event`, ties in source order. Each source is
/// read one record ahead; memory is one record per source.
pub struct Merge {
    sources: Vec<Box<dyn Source>>,
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    pending: Vec<Option<Rec>>,
    primed: bool,
    errors: Vec<InputError>,
}

impl Merge {
    /// Merges `sources` (in the order the files were given).
    pub fn new(sources: Vec<Box<dyn Source>>) -> Merge {
        let n = sources.len();
        Merge { sources, heads: BinaryHeap::new(), pending: vec![None; n], primed: false, errors: Vec::new() }
    }

    /// The sources (for symbol names and positions).
    pub fn sources(&self) -> &[Box<dyn Source>] {
        &self.sources
    }

    /// Bytes consumed over all sources.
    pub fn position(&self) -> u64 {
        self.sources.iter().map(|s| s.position()).sum()
    }

    /// Pulls source `i`'s next good record into its slot; errors are queued in file order.
    fn refill(&mut self, i: usize) {
        if let Some(r) = self.sources[i].next() {
            match r {
                Ok(rec) => {
                    self.heads.push(Reverse((rec.1.ts_event, i)));
                    self.pending[i] = Some(rec);
                }
                Err(e) => {
                    let again = e.recoverable;
                    self.errors.push(e);
                    if again {
                        // Keep the source alive; its next record is fetched after the error
                        // is handed out.
                        self.heads.push(Reverse((i64::MIN, i)));
                    }
                }
            }
        }
    }
}

impl Iterator for Merge {
    type Item = Result<(usize, Rec), InputError>;

    /// The next `(source, record)` or error; `None` when every source is done.
    fn next(&mut self) -> Option<Result<(usize, Rec), InputError>> {
        if self.sources.len() == 1 {
            // One file: nothing to merge.
            return self.sources[0].next().map(|r| r.map(|rec| (0, rec)));
        }
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.refill(i);
            }
        }
        if !self.errors.is_empty() {
            return Some(Err(self.errors.remove(0)));
        }
        let Reverse((_, i)) = self.heads.pop()?;
        match self.pending[i].take() {
            Some(rec) => {
                self.refill(i);
                Some(Ok((i, rec)))
            }
            None => {
                // A placeholder left by a recoverable error: fetch the source's next record.
                self.refill(i);
                self.next()
            }
        }
    }
}
