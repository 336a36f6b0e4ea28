//! The messages between the runtime's threads: ingress → shard on the SPSC rings
//! ([`super::ring`]), shard → egress on crossbeam channels.

use crate::record::{Batch, Inline, Timestamp};

/// A message on an ingress → shard ring.
pub(crate) enum ToShard {
    /// A batch and the source watermark after it.
    Data { batch: Batch, wm: Timestamp },
    /// A single record inline (no buffer to follow or hand back) and the watermark after it.
    One { rec: Inline, wm: Timestamp },
    /// The source ended.
    End,
}

impl ToShard {
    /// The records this message carries.
    pub(crate) fn records(&self) -> usize {
        match self {
            ToShard::Data { batch, .. } => batch.len(),
            ToShard::One { .. } => 1,
            ToShard::End => 0,
        }
    }
}

/// A message on a shard → egress channel.
pub(crate) struct EgressMsg {
    pub(crate) shard: usize,
    pub(crate) items: Batch,
    /// The shard's watermark: it will emit nothing stamped below this.
    pub(crate) progress: Timestamp,
    pub(crate) end: bool,
}
