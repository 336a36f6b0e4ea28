//! Fencing a store's writes with a token (a "fencing token"): when work moves from one run to
//! another (a partition of a JetStream stream, design.md §10), the run it left may not know yet
//! and go on writing bars made from part of the work's ticks. Reading is fenced where the work
//! is handed out; writing must be fenced where it lands, or such a bar can land after the new
//! run's whole one and stay.
//!
//! A run *claims* the work once, with an epoch that grows with every claim on the same name
//! (ticklane uses the sequence of the claim it writes into its consumer's checkpoint). A store
//! fenced by the claim (`PgStore::connect_fenced`, feature `postgres`) records the epoch beside
//! the table on its first write and, in the same transaction as each write, checks that no later
//! epoch has been recorded since: every write of an earlier claim lands before the later claim's first write,
//! or is refused. A refused write is final ([`super::BarStore::superseded`]): the coordinator
//! stops writing and its durable progress stops, so nothing more is acknowledged by it.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// What a run claimed: the work's name and the claim's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// What is fenced (e.g. `STREAM/CONSUMER`).
    pub name: String,
    /// Grows with every claim on `name`; a store refuses a claim once a later one wrote.
    pub epoch: i64,
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (epoch {})", self.name, self.epoch)
    }
}

/// A run's claim, made once and shared by whoever must honour it (the store's writers and the
/// source that claims). Clones share the claim.
///
/// ```
/// use ticklane_operators::store::{Claim, Fence};
///
/// let fence = Fence::default();
/// assert!(fence.claim().is_none(), "a fenced store waits for the claim before writing");
/// fence.set(Claim { name: "TICKS/ticklane-p2".into(), epoch: 41 }).expect("the first claim");
/// let again = fence.set(Claim { name: "TICKS/ticklane-p2".into(), epoch: 42 });
/// assert_eq!(again.map_err(|held| held.epoch), Err(41), "a run claims once");
/// assert_eq!(fence.clone().claim().map(|c| c.epoch), Some(41));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Fence {
    claim: Arc<OnceLock<Claim>>,
}

impl Fence {
    /// Records the run's claim; the claim already held if there is one.
    pub fn set(&self, claim: Claim) -> Result<(), Claim> {
        self.claim.set(claim).map_err(|refused| self.claim.get().cloned().unwrap_or(refused))
    }

    /// The claim, once made.
    pub fn claim(&self) -> Option<&Claim> {
        self.claim.get()
    }
}
