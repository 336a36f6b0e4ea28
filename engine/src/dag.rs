//! The dataflow graph: named nodes with typed ports, joined by edges, validated by
//! [`DagBuilder::build`] into a [`Dag`] whose nodes are in topological order.
//!
//! Nodes are *declarations*: each shard later calls a node's factory to get its own instance.

use crate::operator::{AnySink, Operator, ShardContext, ShardSink, Transform, TransformOp, TypedSink};
use crate::record::{Kind, Record};
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

pub(crate) type OpFactory = Arc<dyn Fn(ShardContext) -> Box<dyn Operator> + Send + Sync>;
pub(crate) type SinkFactory = Arc<dyn Fn(ShardContext) -> Box<dyn AnySink> + Send + Sync>;

/// What a node is.
#[derive(Clone)]
pub(crate) enum Role {
    Source,
    Operator(OpFactory),
    Callback(SinkFactory),
    Egress,
}

impl Role {
    fn word(&self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Operator(_) => "operator",
            Role::Callback(_) | Role::Egress => "sink",
        }
    }
}

#[derive(Clone)]
struct NodeDecl {
    name: String,
    inputs: Vec<Kind>,
    outputs: Vec<Kind>,
    role: Role,
}

#[derive(Clone, Debug)]
struct EdgeDecl {
    from: String,
    from_port: usize,
    to: String,
    to_port: usize,
}

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

/// Declares a dataflow graph. Nodes are referred to by name; [`DagBuilder::build`] checks it.
///
/// ```
/// use ticklane_engine::{DagBuilder, Kind, Stamped, Trade};
///
/// let mut g = DagBuilder::new();
/// g.source("feed", Kind::Trade)
///     .sink_callback::<Trade, _, _>("print", |_shard| |b: &[Stamped<Trade>]| println!("{}", b.len()))
///     .connect("feed", "print");
/// let dag = g.build().expect("valid graph");
/// assert_eq!(dag.node_names(), vec!["feed", "print"]);
/// ```
#[derive(Clone, Default)]
pub struct DagBuilder {
    nodes: Vec<NodeDecl>,
    edges: Vec<EdgeDecl>,
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
    pub fn sink_callback<T, S, F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        T: Record,
        S: ShardSink<T> + 'static,
        F: Fn(ShardContext) -> S + Send + Sync + 'static,
    {
        let f: SinkFactory = Arc::new(move |ctx| Box::new(TypedSink::<T, S> { inner: factory(ctx), _t: PhantomData }));
        self.node(name, vec![T::KIND], vec![], Role::Callback(f))
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

    /// Validates the graph, returning *every* violation found, or the runnable [`Dag`].
    pub fn build(&self) -> Result<Dag, BuildError> {
        let mut v = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            index.entry(&n.name).or_insert(i);
            *counts.entry(&n.name).or_default() += 1;
        }
        let mut reported = std::collections::HashSet::new();
        for n in &self.nodes {
            let c = counts[n.name.as_str()];
            if c > 1 && reported.insert(n.name.as_str()) {
                v.push(Violation::DuplicateName { name: n.name.clone(), count: c });
            }
        }
        if !self.nodes.iter().any(|n| matches!(n.role, Role::Source)) {
            v.push(Violation::NoSource);
        }

        // Edges that refer to real nodes and ports.
        let mut good: Vec<(usize, usize, usize, usize)> = Vec::new();
        for e in &self.edges {
            let (from, to) = (index.get(e.from.as_str()), index.get(e.to.as_str()));
            let mut ok = true;
            for (name, found) in [(&e.from, from), (&e.to, to)] {
                if found.is_none() {
                    ok = false;
                    v.push(Violation::UnknownNode { from: e.from.clone(), to: e.to.clone(), missing: name.clone() });
                }
            }
            let (Some(&f), Some(&t)) = (from, to) else { continue };
            let (fnode, tnode) = (&self.nodes[f], &self.nodes[t]);
            if e.from_port >= fnode.outputs.len() {
                ok = false;
                v.push(Violation::NoSuchPort {
                    from: e.from.clone(),
                    to: e.to.clone(),
                    node: e.from.clone(),
                    direction: "output",
                    port: e.from_port,
                    available: fnode.outputs.len(),
                });
            }
            if e.to_port >= tnode.inputs.len() {
                ok = false;
                v.push(Violation::NoSuchPort {
                    from: e.from.clone(),
                    to: e.to.clone(),
                    node: e.to.clone(),
                    direction: "input",
                    port: e.to_port,
                    available: tnode.inputs.len(),
                });
            }
            if !ok {
                continue;
            }
            let (fk, tk) = (fnode.outputs[e.from_port], tnode.inputs[e.to_port]);
            if fk != tk {
                v.push(Violation::KindMismatch {
                    from: e.from.clone(),
                    from_port: e.from_port,
                    from_kind: fk,
                    to: e.to.clone(),
                    to_port: e.to_port,
                    to_kind: tk,
                });
                continue;
            }
            good.push((f, e.from_port, t, e.to_port));
        }

        // Port coverage, judged on all edges that name real nodes and ports (a mistyped edge
        // is reported once, as a mismatch, not again as a missing connection).
        let n = self.nodes.len();
        let mut in_used = vec![Vec::new(); n];
        let mut out_used = vec![Vec::new(); n];
        for (i, node) in self.nodes.iter().enumerate() {
            in_used[i] = vec![false; node.inputs.len()];
            out_used[i] = vec![false; node.outputs.len()];
        }
        for e in &self.edges {
            if let (Some(&f), Some(&t)) = (index.get(e.from.as_str()), index.get(e.to.as_str())) {
                if let Some(u) = out_used[f].get_mut(e.from_port) {
                    *u = true;
                }
                if let Some(u) = in_used[t].get_mut(e.to_port) {
                    *u = true;
                }
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if counts[node.name.as_str()] > 1 && index[node.name.as_str()] != i {
                continue; // a duplicate: already reported, and edges can't address it
            }
            match node.role {
                Role::Source => {
                    if out_used[i].iter().any(|u| !u) {
                        v.push(Violation::SourceWithoutOutput { node: node.name.clone() });
                    }
                }
                Role::Callback(_) | Role::Egress => {
                    if in_used[i].iter().any(|u| !u) {
                        v.push(Violation::SinkWithoutInput { node: node.name.clone() });
                    }
                }
                Role::Operator(_) => {
                    for (p, u) in in_used[i].iter().enumerate() {
                        if !u {
                            v.push(Violation::UnconnectedInput { node: node.name.clone(), port: p });
                        }
                    }
                    for (p, u) in out_used[i].iter().enumerate() {
                        if !u {
                            v.push(Violation::UnconnectedOutput { node: node.name.clone(), port: p });
                        }
                    }
                }
            }
        }

        // Topological order (Kahn), then name every cycle among what is left.
        let mut succ = vec![Vec::new(); n];
        let mut pred = vec![Vec::new(); n];
        let mut indeg = vec![0usize; n];
        for &(f, _, t, _) in &good {
            succ[f].push(t);
            pred[t].push(f);
            indeg[t] += 1;
        }
        let mut order = Vec::with_capacity(n);
        let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).rev().collect();
        while let Some(i) = ready.pop() {
            order.push(i);
            for &s in succ[i].iter().rev() {
                indeg[s] -= 1;
                if indeg[s] == 0 {
                    ready.push(s);
                }
            }
        }
        if order.len() < n {
            let left: Vec<bool> = (0..n).map(|i| indeg[i] > 0).collect();
            let mut on_cycle = vec![false; n];
            for start in 0..n {
                if !left[start] || on_cycle[start] {
                    continue;
                }
                // Every node left has a predecessor that is left: walk back until a repeat.
                let mut path = vec![start];
                let mut pos = vec![usize::MAX; n];
                pos[start] = 0;
                let mut cur = start;
                let cycle_start = loop {
                    let Some(&p) = pred[cur].iter().find(|&&p| left[p]) else { break None };
                    if pos[p] != usize::MAX {
                        break Some(pos[p]);
                    }
                    pos[p] = path.len();
                    path.push(p);
                    cur = p;
                };
                let Some(cs) = cycle_start else { continue };
                let mut cyc: Vec<usize> = path[cs..].to_vec();
                if cyc.iter().any(|&c| on_cycle[c]) {
                    continue;
                }
                cyc.reverse();
                // Start the listing at the earliest-declared node, for stable messages.
                let min_pos = cyc.iter().enumerate().min_by_key(|(_, &c)| c).map_or(0, |(i, _)| i);
                cyc.rotate_left(min_pos);
                for &c in &cyc {
                    on_cycle[c] = true;
                }
                v.push(Violation::Cycle { nodes: cyc.iter().map(|&c| self.nodes[c].name.clone()).collect() });
            }
        }

        if !v.is_empty() {
            return Err(BuildError { violations: v });
        }

        // Renumber in topological order so that every edge goes from a lower to a higher index.
        let mut new_of = vec![0usize; n];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new;
        }
        let mut nodes: Vec<DagNode> = order
            .iter()
            .map(|&old| {
                let d = &self.nodes[old];
                DagNode {
                    name: d.name.clone(),
                    inputs: d.inputs.clone(),
                    outputs: d.outputs.clone(),
                    role: d.role.clone(),
                    upstream: vec![Vec::new(); d.inputs.len()],
                }
            })
            .collect();
        for &(f, fp, t, tp) in &good {
            nodes[new_of[t]].upstream[tp].push((new_of[f], fp));
        }
        Ok(Dag { nodes })
    }
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
