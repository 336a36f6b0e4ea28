//! Records read in one go: the unit the readers hand out on the fast path, so that the feed
//! loop makes one call per few thousand records instead of one per record.

use super::{Event, InputError, Rec};
use ticklane::{InstrumentId, Trade};

/// The records a source read in one go, in input order, with the malformed ones between them.
/// Each record's `instrument` holds the source's local symbol index (not yet an engine id).
pub struct Chunk<R = Trade> {
    /// The good records.
    pub records: Vec<R>,
    /// Each malformed record with the index of the record it came before (`records.len()`
    /// when it came after them all), in input order. A fatal one is the chunk's last.
    pub errors: Vec<(usize, InputError)>,
}

impl<R> Default for Chunk<R> {
    fn default() -> Self {
        Chunk { records: Vec::new(), errors: Vec::new() }
    }
}

/// Records gathered per chunk by a source without a faster way of its own.
pub(super) const CHUNK: usize = 1024;

impl<R: Event> Chunk<R> {
    /// Empties the chunk, keeping its allocations.
    pub fn clear(&mut self) {
        self.records.clear();
        self.errors.clear();
    }

    /// Whether it holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.errors.is_empty()
    }

    /// Appends one item of a record-at-a-time source; whether reading may go on.
    pub(crate) fn push(&mut self, item: Result<Rec<R>, InputError>) -> bool {
        match item {
            Ok((sym, mut t)) => {
                t.set_instrument(InstrumentId(sym));
                self.records.push(t);
                true
            }
            Err(e) => {
                let again = e.recoverable;
                self.errors.push((self.records.len(), e));
                again
            }
        }
    }
}

/// Hands out a chunk's items one at a time (for the per-record `Source::next`).
pub(crate) struct Cursor<R = Trade> {
    pub(crate) chunk: Chunk<R>,
    rec: usize,
    err: usize,
}

impl<R> Default for Cursor<R> {
    fn default() -> Self {
        Cursor { chunk: Chunk::default(), rec: 0, err: 0 }
    }
}

impl<R: Event> Cursor<R> {
    /// The next item of the current chunk, `None` when it is used up.
    pub(crate) fn next(&mut self) -> Option<Result<Rec<R>, InputError>> {
        if let Some((at, e)) = self.chunk.errors.get(self.err) {
            if *at == self.rec {
                self.err += 1;
                return Some(Err(e.clone()));
            }
        }
        let t = *self.chunk.records.get(self.rec)?;
        self.rec += 1;
        Some(Ok((t.instrument().0, t)))
    }

    /// Starts over on a refilled chunk.
    pub(crate) fn rewind(&mut self) {
        (self.rec, self.err) = (0, 0);
    }
}
