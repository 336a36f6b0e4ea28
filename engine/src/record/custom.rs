//! A service's own record types (design.md §1, "your own records"): signals, fills, book
//! deltas — anything that can say its instrument and its `ts_event` is sharded, stamped,
//! watermarked, routed through operators and released in order by an egress exactly like a
//! trade.
//!
//! The built-in kinds keep batch variants of their own (no `dyn` at all, and a trade or quote
//! sent alone travels inside its ring slot); a custom kind's batch is a `Vec<Stamped<T>>` behind
//! one `dyn` call per batch (never per record), and always travels as a batch.

use super::{Batch, Inline, Kind, Record, Stamped, Timestamp};
use crate::instrument::InstrumentId;
use std::any::Any;
use std::fmt;

/// The most a stamped custom record may take: two cache lines, so batches stay dense.
pub const MAX_STAMPED_SIZE: usize = 128;

/// A custom record kind's identity: its name (unique among the kinds of a graph; it names the
/// kind in graph errors) and how to make an empty batch of it. Declare one `static` per type
/// with [`CustomKind::new`].
pub struct CustomKind {
    /// The kind's name.
    pub name: &'static str,
    pub(crate) new_batch: fn(usize) -> Batch,
}

impl fmt::Debug for CustomKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomKind({})", self.name)
    }
}

impl CustomKind {
    /// The kind of records `T`, named `name`.
    pub const fn new<T: CustomRecord>(name: &'static str) -> CustomKind {
        CustomKind { name, new_batch: new_batch::<T> }
    }
}

fn new_batch<T: CustomRecord>(cap: usize) -> Batch {
    Batch::Custom(Box::new(Vec::<Stamped<T>>::with_capacity(cap)))
}

/// A record type of your own. Implement it (with a `static` [`CustomKind`]) and the type can
/// flow through sources, operators and egresses like [`crate::Trade`]:
///
/// ```
/// use ticklane_engine::{CustomKind, CustomRecord, InstrumentId, Timestamp};
///
/// /// A model's signal for an instrument.
/// #[derive(Clone, Copy, Debug, Default, PartialEq)]
/// struct Signal { ts_event: Timestamp, instrument: InstrumentId, score: i32 }
///
/// static SIGNAL: CustomKind = CustomKind::new::<Signal>("signal");
///
/// impl CustomRecord for Signal {
///     const KIND: &'static CustomKind = &SIGNAL;
///     fn instrument(&self) -> InstrumentId { self.instrument }
///     fn ts_event(&self) -> Timestamp { self.ts_event }
/// }
/// ```
///
/// A `Stamped<Self>` may take at most [`MAX_STAMPED_SIZE`] bytes (checked when the crate that
/// routes it is compiled), so a batch stays dense in cache.
pub trait CustomRecord: Copy + Default + Send + Sync + fmt::Debug + 'static {
    /// The kind's identity (a `static` made with [`CustomKind::new`]).
    const KIND: &'static CustomKind;
    /// The instrument the record belongs to (the shard key).
    fn instrument(&self) -> InstrumentId;
    /// The event time used for ingress watermarks.
    fn ts_event(&self) -> Timestamp;
}

/// A batch of one custom kind, as the engine handles it (one `dyn` call per batch).
pub trait CustomBatch: Send + fmt::Debug + 'static {
    /// The kind of its records.
    fn kind(&self) -> Kind;
    /// Number of records.
    fn len(&self) -> usize;
    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Removes every record, keeping the allocation.
    fn clear(&mut self);
    /// Lowers every stamp to at most `bound`.
    fn clamp_stamps(&mut self, bound: Timestamp);
    /// Appends `other`'s records if it holds the same kind.
    fn append(&mut self, other: &dyn CustomBatch);
    /// The batch as `Any` (for the typed view).
    fn as_any(&self) -> &dyn Any;
    /// The batch as `Any`, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: CustomRecord> CustomBatch for Vec<Stamped<T>> {
    fn kind(&self) -> Kind {
        Kind::Custom(T::KIND)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn clear(&mut self) {
        Vec::clear(self);
    }
    fn clamp_stamps(&mut self, bound: Timestamp) {
        self.iter_mut().for_each(|r| r.wm = r.wm.min(bound));
    }
    fn append(&mut self, other: &dyn CustomBatch) {
        if let Some(v) = other.as_any().downcast_ref::<Vec<Stamped<T>>>() {
            self.extend_from_slice(v);
        }
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Fails to compile (when a graph uses `T`) if a stamped `T` is too large.
struct SizeCheck<T>(T);

impl<T> SizeCheck<T> {
    const OK: () = assert!(
        std::mem::size_of::<Stamped<T>>() <= MAX_STAMPED_SIZE,
        "a stamped custom record must fit in MAX_STAMPED_SIZE (128) bytes"
    );
}

impl<T: CustomRecord> super::sealed::Sealed for T {
    fn inline(_: Stamped<Self>) -> Option<Inline> {
        None
    }
}

impl<T: CustomRecord> Record for T {
    const KIND: Kind = {
        let () = SizeCheck::<T>::OK;
        Kind::Custom(T::KIND)
    };
    #[inline]
    fn instrument(&self) -> InstrumentId {
        CustomRecord::instrument(self)
    }
    #[inline]
    fn ts_event(&self) -> Timestamp {
        CustomRecord::ts_event(self)
    }
    fn from_batch(b: &Batch) -> Option<&Vec<Stamped<Self>>> {
        match b {
            Batch::Custom(c) => c.as_any().downcast_ref(),
            _ => None,
        }
    }
    fn from_batch_mut(b: &mut Batch) -> Option<&mut Vec<Stamped<Self>>> {
        match b {
            Batch::Custom(c) => c.as_any_mut().downcast_mut(),
            _ => None,
        }
    }
    fn into_batch(v: Vec<Stamped<Self>>) -> Batch {
        Batch::Custom(Box::new(v))
    }
}
