//! The messages between the runtime's threads: ingress → shard on the SPSC rings
//! ([`super::ring`]), shard → egress on crossbeam channels.

use crate::record::{Batch, Inline, Timestamp};
use crossbeam_channel::{Receiver, Sender};

/// One egress node's channel as a shard holds it: records out, and the credits that bound
/// how many records wait in it ([`Budget`]).
pub(crate) struct EgressLink {
    /// The egress node.
    pub(crate) node: usize,
    pub(crate) tx: Sender<EgressMsg>,
    /// A token sent per [`Budget::unit`] records, before the records: full, the shard waits.
    pub(crate) credits: Sender<()>,
    pub(crate) budget: Budget,
}

/// The reading end of one egress node's channel: records in, and per shard the credits to
/// take back for what was read.
pub(crate) struct EgressEnd {
    pub(crate) rx: Receiver<EgressMsg>,
    pub(crate) credits: Vec<Receiver<()>>,
    pub(crate) budget: Budget,
}

/// The records a shard may have waiting in an egress channel (`Config::egress_records`),
/// counted in tokens of `unit` records on a bounded channel of `tokens` (at most 1,024): the
/// shard sends a message's tokens before the message and blocks while the reader has not
/// taken enough back, the channel's own wait, which also ends if the reader is gone.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    unit: usize,
    tokens: usize,
}

impl Budget {
    pub(crate) fn new(records: usize) -> Budget {
        let tokens = records.clamp(1, 1024);
        Budget { unit: records.div_ceil(tokens).max(1), tokens }
    }

    /// The credit channel's capacity.
    pub(crate) fn tokens(self) -> usize {
        self.tokens
    }

    /// The tokens a message of `n` records takes: none without records, at most all of them
    /// (a message larger than the budget goes alone).
    pub(crate) fn tokens_for(self, n: usize) -> usize {
        n.div_ceil(self.unit).min(self.tokens)
    }
}

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

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn a_budget_counts_records_in_at_most_1024_tokens() {
        let b = Budget::new(65_536);
        assert_eq!(
            (b.tokens(), b.tokens_for(0), b.tokens_for(1), b.tokens_for(64), b.tokens_for(65)),
            (1024, 0, 1, 1, 2)
        );
        assert_eq!(b.tokens_for(10_000_000), 1024, "a message larger than the budget takes all of it, no more");
        let small = Budget::new(16);
        assert_eq!((small.tokens(), small.tokens_for(3), small.tokens_for(17)), (16, 3, 16));
        let odd = Budget::new(1_500);
        assert_eq!((odd.tokens(), odd.tokens_for(2), odd.tokens_for(1_500)), (1024, 1, 750));
    }
}
