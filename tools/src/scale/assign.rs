//! Partition → worker assignment by rendezvous (highest-random-weight) hashing (design.md §10).
//!
//! Each worker gives each partition a weight, a pure function of the worker's id and the
//! partition number; the partition goes to the worker with the highest weight (the greater id
//! on a tie of weights). So the assignment depends only on the set of members (never on their
//! order or on who computes it), a new worker takes only the partitions it now wins (about
//! `1/(N+1)` of them), and a worker that leaves gives up only its own.
//!
//! The weight is `mix64(fnv1a64("{worker}#{partition}"))` (partition in decimal; the same two
//! portable functions as [`ticklane::shard_of`]), so any language can compute it: the README
//! has it in Python, and `ticklane assign` prints the table to check against.

use std::fmt;
use ticklane::{fnv1a64, mix64};

/// The most partitions a stream may have (a durable consumer each).
pub const MAX_PARTITIONS: u32 = 4096;

/// The longest worker id, in bytes.
pub const MAX_WORKER_ID: usize = 64;

/// A bad worker id or partition count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Not 1..=[`MAX_PARTITIONS`].
    #[error("{0} partitions: expected 1 to {MAX_PARTITIONS}")]
    Partitions(u64),
    /// Empty, too long, or a character outside `A-Z a-z 0-9 - _ .`.
    #[error("worker id `{0}`: expected 1 to {MAX_WORKER_ID} of the characters A-Z a-z 0-9 - _ . (it names a key in the membership bucket)")]
    WorkerId(String),
    /// The same id twice in one membership.
    #[error("worker id `{0}` appears twice")]
    Duplicate(String),
    /// A membership of nobody.
    #[error("no workers: expected at least one worker id")]
    NoWorkers,
}

/// A checked partition count.
pub fn partitions(n: u64) -> Result<u32, AssignError> {
    match u32::try_from(n) {
        Ok(p @ 1..=MAX_PARTITIONS) => Ok(p),
        _ => Err(AssignError::Partitions(n)),
    }
}

/// A worker's id, checked: usable as a key of a JetStream key-value bucket and in a subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// Checks `id`.
    pub fn new(id: &str) -> Result<WorkerId, AssignError> {
        let ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
        if id.is_empty() || id.len() > MAX_WORKER_ID || !id.bytes().all(ok) {
            return Err(AssignError::WorkerId(id.chars().take(MAX_WORKER_ID + 8).collect()));
        }
        Ok(WorkerId(id.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The weight `worker` gives `partition`: `mix64(fnv1a64("{worker}#{partition}"))`.
pub fn weight(worker: &str, partition: u32) -> u64 {
    mix64(fnv1a64(format!("{worker}#{partition}").as_bytes()))
}

/// A membership: the live workers, each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Members {
    /// Sorted, unique.
    ids: Vec<WorkerId>,
}

impl Members {
    /// From ids in any order; an error for a bad or repeated id.
    pub fn new<S: AsRef<str>>(ids: &[S]) -> Result<Members, AssignError> {
        let mut v = ids.iter().map(|s| WorkerId::new(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        v.sort();
        if let Some(w) = v.windows(2).find(|w| w[0] == w[1]) {
            return Err(AssignError::Duplicate(w[0].0.clone()));
        }
        Ok(Members { ids: v })
    }

    /// The members, sorted by id.
    pub fn ids(&self) -> &[WorkerId] {
        &self.ids
    }

    /// Whether nobody is a member.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The member that owns `partition` (`None` when there are no members).
    pub fn owner(&self, partition: u32) -> Option<&WorkerId> {
        self.ids.iter().max_by_key(|w| (weight(w.as_str(), partition), *w))
    }

    /// The owner of each partition `0..partitions`, as an index into [`Members::ids`]; an error
    /// when there are no members.
    pub fn assign(&self, partitions: u32) -> Result<Vec<usize>, AssignError> {
        if self.ids.is_empty() {
            return Err(AssignError::NoWorkers);
        }
        Ok((0..partitions)
            .map(|p| {
                let best = self.ids.iter().enumerate().max_by_key(|(_, w)| (weight(w.as_str(), p), *w));
                best.map_or(0, |(i, _)| i)
            })
            .collect())
    }

    /// The partitions of `0..partitions` that `worker` owns (none when it is not a member).
    pub fn owned_by(&self, worker: &str, partitions: u32) -> Vec<u32> {
        (0..partitions).filter(|&p| self.owner(p).is_some_and(|w| w.as_str() == worker)).collect()
    }
}

#[cfg(test)]
mod tests;
