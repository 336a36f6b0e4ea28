//! [`DagBuilder`]: declares nodes by name with typed ports and the edges between them;
//! [`DagBuilder::build`] (in `validate.rs`) checks the declaration.

use super::{EdgeDecl, NodeDecl, OpFactory, Role, SinkFactory};
use crate::operator::{Operator, ShardContext, ShardSink, ShardSinkAdapter, Transform, TransformOp};
use crate::record::{Kind, Record};
use std::sync::Arc;

/// Declares a dataflow graph. Nodes are referred to by name; [`DagBuilder::build`] checks it.
///
/// ```
/// use ticklane_engine::{DagBuilder, Kind, Stamped, Trade};
///
/// let mut g = DagBuilder::new();
/// g.source("feed", Kind::Trade)
///     .sink_shard::<Trade, _, _>("print", |_shard| |b: &[Stamped<Trade>]| println!("{}", b.len()))
///     .connect("feed", "print");
/// let dag = g.build().expect("valid graph");
/// assert_eq!(dag.node_names(), vec!["feed", "print"]);
/// ```
#[derive(Clone, Default)]
pub struct DagBuilder {
    pub(super) nodes: Vec<NodeDecl>,
    pub(super) edges: Vec<EdgeDecl>,
}

impl DagBuilder {
    /// An empty graph.
    pub fn new() -> DagBuilder {
        DagBuilder::default()
    }

    fn node(&mut self, name: &str, inputs: Vec<Kind>, outputs: Vec<Kind>, role: Role) -> &mut Self {
        self.nodes.push(NodeDecl { name: name.to_string(), inputs, outputs, role });
        self
    }

    /// A source of `kind` records, fed through the [`crate::Ingress`] of the same name.
    pub fn source(&mut self, name: &str, kind: Kind) -> &mut Self {
        self.node(name, vec![], vec![kind], Role::Source)
    }

    /// A general operator with the given port kinds; `factory` builds one instance per shard.
    pub fn operator<F>(&mut self, name: &str, inputs: &[Kind], outputs: &[Kind], factory: F) -> &mut Self
    where
        F: Fn(ShardContext) -> Box<dyn Operator> + Send + Sync + 'static,
    {
        self.node(name, inputs.to_vec(), outputs.to_vec(), Role::Operator(Arc::new(factory)))
    }

    /// A typed one-in one-out operator; `factory` builds one instance per shard.
    pub fn transform<I, O, X, F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        I: Record,
        O: Record,
        X: Transform<I, O> + 'static,
        F: Fn(ShardContext) -> X + Send + Sync + 'static,
    {
        let f: OpFactory = Arc::new(move |ctx| Box::new(TransformOp::<I, O, X>::new(factory(ctx))));
        self.node(name, vec![I::KIND], vec![O::KIND], Role::Operator(f))
    }

    /// A sink running on each shard thread; `factory` builds one [`ShardSink`] per shard.
    pub fn sink_shard<T, S, F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        T: Record,
        S: ShardSink<T> + 'static,
        F: Fn(ShardContext) -> S + Send + Sync + 'static,
    {
        let f: SinkFactory = Arc::new(move |ctx| Box::new(ShardSinkAdapter::<T, S>::new(factory(ctx))));
        self.node(name, vec![T::KIND], vec![], Role::ShardSink(f))
    }

    /// A sink whose records a user thread reads, merged across shards in the deterministic
    /// order of design.md §5, through [`crate::Engine::egress`].
    pub fn sink_egress(&mut self, name: &str, kind: Kind) -> &mut Self {
        self.node(name, vec![kind], vec![], Role::Egress)
    }

    /// Connects output port 0 of `from` to input port 0 of `to`.
    pub fn connect(&mut self, from: &str, to: &str) -> &mut Self {
        self.connect_ports(from, 0, to, 0)
    }

    /// Connects output `from_port` of `from` to input `to_port` of `to`. An output may feed
    /// several inputs (each sees every record); an input may be fed by several outputs.
    pub fn connect_ports(&mut self, from: &str, from_port: usize, to: &str, to_port: usize) -> &mut Self {
        self.edges.push(EdgeDecl { from: from.to_string(), from_port, to: to.to_string(), to_port });
        self
    }
}
