//! Records read in one go: the unit the readers hand out on the fast path, so that the feed
//! loop makes one call per few thousand records instead of one per record.

use super::{InputError, Rec};
use ticklane::{InstrumentId, Trade};

/// The records a source read in one go, in input order, with the malformed ones between them.
/// Each trade's `instrument` holds the source's local symbol index (not yet an engine id).
#[derive(Default)]
pub struct Chunk {
    /// The good records.
    pub trades: Vec<Trade>,
    /// Each malformed record with the index of the trade it came before (`trades.len()` when
    /// it came after them all), in input order. A fatal one is the chunk's last.
    pub errors: Vec<(usize, InputError)>,
}

/// Records gathered per chunk by a source without a faster way of its own.
pub(super) const CHUNK: usize = 1024;

impl Chunk {
    /// Empties the chunk, keeping its allocations.
    pub fn clear(&mut self) {
        self.trades.clear();
        self.errors.clear();
    }

    /// Whether it holds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.trades.is_empty() && self.errors.is_empty()
    }

    /// Appends one item of a record-at-a-time source; whether reading may go on.
    pub(super) fn push(&mut self, item: Result<Rec, InputError>) -> bool {
        match item {
            Ok((sym, mut t)) => {
                t.instrument = InstrumentId(sym);
                self.trades.push(t);
                true
            }
            Err(e) => {
                let again = e.recoverable;
                self.errors.push((self.trades.len(), e));
                again
            }
        }
    }
}

/// Hands out a chunk's items one at a time (for the per-record `Source::next`).
#[derive(Default)]
pub(super) struct Cursor {
    pub(super) chunk: Chunk,
    rec: usize,
    err: usize,
}

impl Cursor {
    /// The next item of the current chunk, `None` when it is used up.
    pub(super) fn next(&mut self) -> Option<Result<Rec, InputError>> {
        if let Some((at, e)) = self.chunk.errors.get(self.err) {
            if *at == self.rec {
                self.err += 1;
                return Some(Err(e.clone()));
            }
        }
        let t = *self.chunk.trades.get(self.rec)?;
        self.rec += 1;
        Some(Ok((t.instrument.0, t)))
    }

    /// Starts over on a refilled chunk.
    pub(super) fn rewind(&mut self) {
        (self.rec, self.err) = (0, 0);
    }
}
