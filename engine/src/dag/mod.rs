//! The dataflow graph: named nodes with typed ports, joined by edges, validated by
//! [`DagBuilder::build`] into a [`Dag`] whose nodes are in topological order.
//!
//! Nodes are *declarations*: each shard later calls a node's factory to get its own instance.
//!
//! `builder.rs` declares, `validate.rs` checks and orders, `violation.rs` names what is wrong.

mod builder;
mod validate;
mod violation;

pub use builder::DagBuilder;
pub use violation::{BuildError, Violation};

use crate::operator::{DynShardSink, Operator, ShardContext};
use crate::record::Kind;
use std::fmt;
use std::sync::Arc;

pub(crate) type OpFactory = Arc<dyn Fn(ShardContext) -> Box<dyn Operator> + Send + Sync>;
pub(crate) type SinkFactory = Arc<dyn Fn(ShardContext) -> Box<dyn DynShardSink> + Send + Sync>;

/// What a node is.
#[derive(Clone)]
pub(crate) enum Role {
    Source,
    Operator(OpFactory),
    /// A [`crate::ShardSink`]: runs on each shard thread.
    ShardSink(SinkFactory),
    /// Read by a user thread through [`crate::Egress`], in deterministic order.
    Egress,
}

impl Role {
    fn word(&self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Operator(_) => "operator",
            Role::ShardSink(_) | Role::Egress => "sink",
        }
    }
}

/// A node as declared.
#[derive(Clone)]
struct NodeDecl {
    name: String,
    inputs: Vec<Kind>,
    outputs: Vec<Kind>,
    role: Role,
}

/// An edge as declared (names not yet checked).
#[derive(Clone, Debug)]
struct EdgeDecl {
    from: String,
    from_port: usize,
    to: String,
    to_port: usize,
}

/// A node of a validated graph.
#[derive(Clone)]
pub(crate) struct DagNode {
    pub(crate) name: String,
    pub(crate) inputs: Vec<Kind>,
    pub(crate) outputs: Vec<Kind>,
    pub(crate) role: Role,
    /// Per input port: the `(node, output port)` pairs feeding it; node indices are lower.
    pub(crate) upstream: Vec<Vec<(usize, usize)>>,
}

/// A validated graph, nodes in topological order. Run it with [`crate::Engine::start`].
#[derive(Clone)]
pub struct Dag {
    pub(crate) nodes: Vec<DagNode>,
}

impl Dag {
    /// Node names in execution (topological) order.
    pub fn node_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// Names of the source nodes, in execution order.
    pub fn sources(&self) -> Vec<&str> {
        self.nodes.iter().filter(|n| matches!(n.role, Role::Source)).map(|n| n.name.as_str()).collect()
    }

    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

impl fmt::Debug for Dag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for n in &self.nodes {
            l.entry(&format_args!("{} {} {:?} -> {:?}", n.role.word(), n.name, n.inputs, n.outputs));
        }
        l.finish()
    }
}
