//! The sharded runtime: [`engine::Engine`] starts one thread per shard ([`shard`]), each
//! running its slice of the [`crate::Dag`] over bounded single-producer rings ([`ring`]) fed
//! by [`ingress::Ingress`] handles; ordered output leaves through [`egress::Egress`].
//!
//! | file | concept |
//! |---|---|
//! | `engine.rs` | lifecycle: start, hand out handles, join / stop / abort |
//! | `wiring.rs` | every ring, channel and shared cell of a run, built in one place |
//! | `wire.rs` | the messages between ingress, shards and egress |
//! | `ingress.rs` | producer side: routing, stamping, batching, backpressure |
//! | `ring.rs` | the ingress → shard SPSC ring (the engine's only `unsafe` besides one system call) |
//! | `shard/` | the polling loop, the fused graph instance, the inputs' watermarks |
//! | `egress.rs` | consumer side: the deterministic merge of the shards' output |
//! | `doorbell.rs`, `gate.rs`, `control.rs` | waking parked shards, the stop handshake, abort/stop/failure |
//! | `config.rs`, `placement.rs` | validated configuration, where shard threads run |
//! | `sched.rs` | the engine's threads as batch threads when they outnumber the cores |
//! | `stats.rs`, `publisher.rs`, `prometheus.rs` | counters, their publication, the endpoint |
//! | `health.rs` | readiness probes: what `/healthz` and `/readyz` answer |
//! | `padded.rs`, `error.rs` | cache padding; errors and the run report |

pub(crate) mod config;
mod control;
mod doorbell;
pub(crate) mod egress;
pub(crate) mod engine;
pub(crate) mod error;
mod gate;
pub mod health;
pub(crate) mod ingress;
mod padded;
pub(crate) mod placement;
#[cfg(feature = "prometheus")]
pub(crate) mod prometheus;
mod publisher;
pub(crate) mod ring;
pub(crate) mod sched;
mod shard;
pub(crate) mod stats;
mod sync;
mod wire;
mod wiring;
