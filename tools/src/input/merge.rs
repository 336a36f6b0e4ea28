//! Several sources as one stream ordered by `ts_event`, ties in source order.

use super::{Chunk, Event, InputError, Rec, Source};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use ticklane::Timestamp;

/// Several sources as one stream ordered by `ts_event`, ties in source order. Each source is
/// read one record ahead; memory is one record per source.
pub struct Merge<R: Event = ticklane::Trade> {
    sources: Vec<Box<dyn Source<R>>>,
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    pending: Vec<Option<Rec<R>>>,
    primed: bool,
    errors: Vec<InputError>,
    /// With several sources: per source, its symbol index → the merge's; and back.
    merged: Vec<Vec<u32>>,
    origin: Vec<(usize, u32)>,
    /// One source only, and it failed fatally: nothing more to read.
    done: bool,
}

impl<R: Event> Merge<R> {
    /// Merges `sources` (in the order the files were given).
    pub fn new(sources: Vec<Box<dyn Source<R>>>) -> Merge<R> {
        let n = sources.len();
        Merge {
            sources,
            heads: BinaryHeap::new(),
            pending: vec![None; n],
            primed: false,
            errors: Vec::new(),
            merged: vec![Vec::new(); n],
            origin: Vec::new(),
            done: false,
        }
    }

    /// The next records of the merged stream into `chunk` (cleared first), each trade's
    /// `instrument` the merge's symbol index ([`Merge::symbol`]); `false` at the end. One
    /// source hands over its own chunks; several are merged record by record.
    pub fn next_chunk(&mut self, chunk: &mut Chunk<R>) -> bool {
        if self.sources.len() == 1 {
            if self.done || !self.sources[0].next_chunk(chunk) {
                return false;
            }
            if let Some((at, e)) = chunk.errors.last() {
                if !e.recoverable {
                    self.done = true;
                    chunk.records.truncate(*at);
                }
            }
            return true;
        }
        chunk.clear();
        while chunk.records.len() < super::chunk::CHUNK {
            let Some(item) = self.next() else { break };
            let item = item.map(|(src, (sym, t))| (self.merged_symbol(src, sym), t));
            chunk.push(item);
        }
        !chunk.is_empty()
    }

    /// The merge's index for symbol `sym` of source `src`.
    fn merged_symbol(&mut self, src: usize, sym: u32) -> u32 {
        let map = &mut self.merged[src];
        if map.len() <= sym as usize {
            map.resize(sym as usize + 1, u32::MAX);
        }
        if map[sym as usize] == u32::MAX {
            map[sym as usize] = self.origin.len() as u32;
            self.origin.push((src, sym));
        }
        map[sym as usize]
    }

    /// The instrument name of the merge's symbol index `i` (from [`Merge::next_chunk`]).
    pub fn symbol(&self, i: u32) -> &str {
        match self.sources.len() {
            1 => self.sources[0].symbol(i),
            _ => self.origin.get(i as usize).map_or("", |&(s, sym)| self.sources[s].symbol(sym)),
        }
    }

    /// The sources (for symbol names and positions).
    pub fn sources(&self) -> &[Box<dyn Source<R>>] {
        &self.sources
    }

    /// A floor one of the sources asked for since the last call ([`Source::take_floor`]).
    pub fn take_floor(&mut self) -> Option<Timestamp> {
        self.sources.iter_mut().filter_map(|s| s.take_floor()).max()
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
                    self.heads.push(Reverse((rec.1.ts_event(), i)));
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

impl<R: Event> Iterator for Merge<R> {
    type Item = Result<(usize, Rec<R>), InputError>;

    /// The next `(source, record)` or error; `None` when every source is done.
    fn next(&mut self) -> Option<Result<(usize, Rec<R>), InputError>> {
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
