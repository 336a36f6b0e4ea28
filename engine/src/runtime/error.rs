//! Why the engine could not start, hand out a handle, or finish cleanly; and the record of a
//! finished run.

use super::stats::Stats;
use crate::record::Kind;
use std::any::Any;

/// Why the engine could not start, hand out a handle, or finish cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No source node of that name.
    #[error("no source named '{0}'")]
    UnknownSource(String),
    /// No egress sink of that name.
    #[error("no egress sink named '{0}'")]
    UnknownEgress(String),
    /// The handle was already taken.
    #[error("the handle for '{0}' was already taken")]
    AlreadyTaken(String),
    /// The node carries another record kind.
    #[error("node '{node}' carries {actual} records, not {requested}")]
    WrongKind {
        /// Node.
        node: String,
        /// Its kind.
        actual: Kind,
        /// The kind asked for.
        requested: Kind,
    },
    /// A user operator or sink panicked.
    #[error("shard {shard}: node '{node}' panicked: {message}")]
    NodePanicked {
        /// Shard index.
        shard: usize,
        /// Node name (or `"<runtime>"` if the panic was outside any node).
        node: String,
        /// The panic message.
        message: String,
    },
    /// A shard thread could not be spawned.
    #[error("could not start shard thread {shard}: {source}")]
    Spawn {
        /// Shard index.
        shard: usize,
        /// OS error.
        source: std::io::Error,
    },
    /// The metrics endpoint could not start.
    #[error("metrics endpoint: {0}")]
    Metrics(String),
}

/// A run that ended in failure: why, and what it had counted by then (every shard had
/// stopped, so the counts are final: [`crate::SourceStats::not_delivered`] says what was
/// accepted and never reached the graph).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunFailed {
    /// Why the run failed.
    pub error: EngineError,
    /// The run's counters (boxed: an error stays small).
    pub report: Box<RunReport>,
}

impl From<RunFailed> for EngineError {
    fn from(f: RunFailed) -> EngineError {
        f.error
    }
}

/// The record of a finished run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Final counters.
    pub stats: Stats,
    /// Whether the run was aborted (windows may not have fired).
    pub aborted: bool,
}

/// The message of a caught panic.
pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}
