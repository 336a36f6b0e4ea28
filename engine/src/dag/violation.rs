//! Why a graph is invalid: one [`Violation`] per problem, all of them in a [`BuildError`].

use crate::record::Kind;

/// One reason a graph is invalid. Every variant names the nodes involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// Two or more nodes share a name.
    #[error("duplicate node name '{name}' ({count} nodes)")]
    DuplicateName {
        /// The name.
        name: String,
        /// How many nodes carry it.
        count: usize,
    },
    /// An edge names a node that does not exist.
    #[error("edge '{from}' -> '{to}' refers to unknown node '{missing}'")]
    UnknownNode {
        /// Edge origin.
        from: String,
        /// Edge target.
        to: String,
        /// The name that matched no node.
        missing: String,
    },
    /// An edge names a port the node does not have.
    #[error("edge '{from}' -> '{to}' uses {direction} port {port} of '{node}', which has {available}")]
    NoSuchPort {
        /// Edge origin.
        from: String,
        /// Edge target.
        to: String,
        /// The node lacking the port.
        node: String,
        /// `"output"` or `"input"`.
        direction: &'static str,
        /// The requested port.
        port: usize,
        /// How many ports of that direction the node has.
        available: usize,
    },
    /// An edge joins ports that carry different record kinds.
    #[error("edge '{from}'[{from_port}] -> '{to}'[{to_port}] joins {from_kind} output to {to_kind} input")]
    KindMismatch {
        /// Edge origin.
        from: String,
        /// Origin output port.
        from_port: usize,
        /// Kind the origin produces.
        from_kind: Kind,
        /// Edge target.
        to: String,
        /// Target input port.
        to_port: usize,
        /// Kind the target accepts.
        to_kind: Kind,
    },
    /// The graph has a cycle; `nodes` lists it in edge order (the first node's predecessor is
    /// the last).
    #[error("cycle through {}", .nodes.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(" -> "))]
    Cycle {
        /// The nodes on the cycle.
        nodes: Vec<String>,
    },
    /// An operator input port has no incoming edge.
    #[error("input port {port} of operator '{node}' is not connected")]
    UnconnectedInput {
        /// The operator.
        node: String,
        /// The port.
        port: usize,
    },
    /// An operator output port has no outgoing edge.
    #[error("output port {port} of operator '{node}' is not connected")]
    UnconnectedOutput {
        /// The operator.
        node: String,
        /// The port.
        port: usize,
    },
    /// A sink has no incoming edge.
    #[error("sink '{node}' has no input")]
    SinkWithoutInput {
        /// The sink.
        node: String,
    },
    /// A source has no outgoing edge.
    #[error("source '{node}' has no output")]
    SourceWithoutOutput {
        /// The source.
        node: String,
    },
    /// The graph has no source.
    #[error("the graph has no source")]
    NoSource,
}

/// Every violation found in a graph (never just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dataflow graph ({} problem(s)):\n{}", .violations.len(), .violations.iter().map(|v| format!("  - {v}")).collect::<Vec<_>>().join("\n"))]
pub struct BuildError {
    /// The violations, in a stable order.
    pub violations: Vec<Violation>,
}
