//! An in-memory [`BarStore`]: the upsert contract on a map, for tests, examples and dry runs.

use super::{BarStore, StoreRow};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use ticklane_engine::Bar;

/// Rows by `(instrument name, window_start)`.
type Table = BTreeMap<(Arc<str>, i64), Bar>;

/// A table in memory keyed by `(instrument, window_start)`, with the same upsert rule as
/// the PostgreSQL store (a row is replaced only by an equal or newer revision). Clones share
/// the table.
#[derive(Clone, Default)]
pub struct MemoryStore {
    table: Arc<Mutex<Table>>,
}

impl MemoryStore {
    /// The rows now, ordered by `(instrument, window_start)`.
    pub fn rows(&self) -> Vec<StoreRow> {
        self.table.lock().iter().map(|((name, _), bar)| StoreRow { instrument: name.clone(), bar: *bar }).collect()
    }
}

impl BarStore for MemoryStore {
    type Error = Infallible;
    fn upsert(&mut self, rows: &[StoreRow]) -> Result<(), Infallible> {
        let mut t = self.table.lock();
        for r in rows {
            let slot = t.entry((r.instrument.clone(), r.bar.window_start)).or_insert(r.bar);
            if r.bar.revision >= slot.revision {
                *slot = r.bar;
            }
        }
        Ok(())
    }
}
