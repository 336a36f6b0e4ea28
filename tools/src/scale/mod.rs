//! Scale-out across machines (design.md §10): ticks partitioned by instrument over the
//! subjects of one JetStream stream, and partitions assigned to workers by rendezvous hashing.
//!
//! | file | what |
//! |---|---|
//! | `assign.rs` | the partition → worker assignment (rendezvous hashing), worker ids, memberships |
//! | `stream.rs` | a partitioned stream: its subjects and the partition count recorded with it |
//! | `members.rs` | worker membership: heartbeats in a JetStream stream whose `max_age` is the time to live |
//!
//! The partition of an instrument is [`ticklane::shard_of`]`(name, P)`: the same portable
//! function as the shards of one process.

mod assign;
mod members;
mod stream;

pub use assign::{partitions, weight, AssignError, Members, WorkerId, MAX_PARTITIONS, MAX_WORKER_ID};
pub use members::{Membership, MembershipError, STREAM as MEMBERS_STREAM};
pub use stream::{partition_subject, Layout, StreamLayoutError};

/// The partition (in `0..partitions`) of instrument `name`: [`ticklane::shard_of`].
pub fn partition_of(name: &str, partitions: u32) -> u32 {
    ticklane::shard_of(name, partitions as usize) as u32
}
