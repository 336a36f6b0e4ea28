//! [`DagBuilder::build`]: every check runs and every violation is reported, in a stable
//! order (duplicate names, no source, per edge, per node's ports, cycles); a valid graph is
//! renumbered in topological order.

use super::builder::DagBuilder;
use super::violation::{BuildError, Violation};
use super::{Dag, DagNode, EdgeDecl, NodeDecl, Role};
use std::collections::{HashMap, HashSet};

/// An edge between real ports of matching kinds: `(from, from_port, to, to_port)`.
type Edge = (usize, usize, usize, usize);

impl DagBuilder {
    /// Validates the graph, returning *every* violation found, or the runnable [`Dag`].
    pub fn build(&self) -> Result<Dag, BuildError> {
        let names = Names::of(&self.nodes);
        let mut v = names.duplicates(&self.nodes);
        if !self.nodes.iter().any(|n| matches!(n.role, Role::Source)) {
            v.push(Violation::NoSource);
        }
        let good: Vec<Edge> = self.edges.iter().filter_map(|e| check_edge(&self.nodes, &names, e, &mut v)).collect();
        check_ports(&self.nodes, &self.edges, &names, &mut v);
        let order = topological_order(self.nodes.len(), &good);
        if order.len() < self.nodes.len() {
            name_cycles(&self.nodes, &good, &order, &mut v);
        }
        if !v.is_empty() {
            return Err(BuildError { violations: v });
        }
        Ok(assemble(&self.nodes, &order, &good))
    }
}

/// Node names: the first node of each name, and how many carry it.
struct Names<'a> {
    index: HashMap<&'a str, usize>,
    counts: HashMap<&'a str, usize>,
}

impl<'a> Names<'a> {
    fn of(nodes: &'a [NodeDecl]) -> Names<'a> {
        let (mut index, mut counts) = (HashMap::new(), HashMap::<&str, usize>::new());
        for (i, n) in nodes.iter().enumerate() {
            index.entry(n.name.as_str()).or_insert(i);
            *counts.entry(n.name.as_str()).or_default() += 1;
        }
        Names { index, counts }
    }

    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// One violation per name carried by several nodes, in declaration order.
    fn duplicates(&self, nodes: &[NodeDecl]) -> Vec<Violation> {
        let mut reported = HashSet::new();
        let mut v = Vec::new();
        for n in nodes {
            let count = self.counts[n.name.as_str()];
            if count > 1 && reported.insert(n.name.as_str()) {
                v.push(Violation::DuplicateName { name: n.name.clone(), count });
            }
        }
        v
    }

    /// Whether node `i` is a later duplicate (already reported; edges cannot address it).
    fn is_shadowed(&self, nodes: &[NodeDecl], i: usize) -> bool {
        self.index[nodes[i].name.as_str()] != i
    }
}

/// Checks one edge's nodes, ports and kinds; returns it if it joins real ports of one kind.
fn check_edge(nodes: &[NodeDecl], names: &Names<'_>, e: &EdgeDecl, v: &mut Vec<Violation>) -> Option<Edge> {
    let (from, to) = (names.get(&e.from), names.get(&e.to));
    for (name, found) in [(&e.from, from), (&e.to, to)] {
        if found.is_none() {
            v.push(Violation::UnknownNode { from: e.from.clone(), to: e.to.clone(), missing: name.clone() });
        }
    }
    let (f, t) = (from?, to?);
    let (fnode, tnode) = (&nodes[f], &nodes[t]);
    let mut ok = true;
    for (node, direction, port, available) in
        [(&e.from, "output", e.from_port, fnode.outputs.len()), (&e.to, "input", e.to_port, tnode.inputs.len())]
    {
        if port >= available {
            ok = false;
            let (from, to, node) = (e.from.clone(), e.to.clone(), node.clone());
            v.push(Violation::NoSuchPort { from, to, node, direction, port, available });
        }
    }
    if !ok {
        return None;
    }
    let (from_kind, to_kind) = (fnode.outputs[e.from_port], tnode.inputs[e.to_port]);
    if from_kind != to_kind {
        v.push(Violation::KindMismatch {
            from: e.from.clone(),
            from_port: e.from_port,
            from_kind,
            to: e.to.clone(),
            to_port: e.to_port,
            to_kind,
        });
        return None;
    }
    Some((f, e.from_port, t, e.to_port))
}

/// Port coverage, judged on all edges that name real nodes and ports (a mistyped edge is
/// reported once, as a mismatch, not again as a missing connection).
fn check_ports(nodes: &[NodeDecl], edges: &[EdgeDecl], names: &Names<'_>, v: &mut Vec<Violation>) {
    let mut in_used: Vec<Vec<bool>> = nodes.iter().map(|n| vec![false; n.inputs.len()]).collect();
    let mut out_used: Vec<Vec<bool>> = nodes.iter().map(|n| vec![false; n.outputs.len()]).collect();
    for e in edges {
        if let (Some(f), Some(t)) = (names.get(&e.from), names.get(&e.to)) {
            if let Some(u) = out_used[f].get_mut(e.from_port) {
                *u = true;
            }
            if let Some(u) = in_used[t].get_mut(e.to_port) {
                *u = true;
            }
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if names.is_shadowed(nodes, i) {
            continue;
        }
        let node_name = || node.name.clone();
        match node.role {
            Role::Source if out_used[i].iter().any(|u| !u) => {
                v.push(Violation::SourceWithoutOutput { node: node_name() })
            }
            Role::ShardSink(_) | Role::Egress if in_used[i].iter().any(|u| !u) => {
                v.push(Violation::SinkWithoutInput { node: node_name() })
            }
            Role::Operator(_) => {
                let unused =
                    |used: &[bool]| used.iter().enumerate().filter(|(_, u)| !**u).map(|(p, _)| p).collect::<Vec<_>>();
                for port in unused(&in_used[i]) {
                    v.push(Violation::UnconnectedInput { node: node_name(), port });
                }
                for port in unused(&out_used[i]) {
                    v.push(Violation::UnconnectedOutput { node: node_name(), port });
                }
            }
            _ => {}
        }
    }
}

/// Kahn's algorithm over `n` nodes; nodes on or behind a cycle are left out.
fn topological_order(n: usize, edges: &[Edge]) -> Vec<usize> {
    let mut succ = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for &(f, _, t, _) in edges {
        succ[f].push(t);
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
    order
}

/// Names every cycle among the nodes the topological sort left out of `sorted` (each has a
/// predecessor that is left out too), once each, listed in edge order from its
/// earliest-declared node.
fn name_cycles(nodes: &[NodeDecl], edges: &[Edge], sorted: &[usize], v: &mut Vec<Violation>) {
    let n = nodes.len();
    let mut pred = vec![Vec::new(); n];
    for &(f, _, t, _) in edges {
        pred[t].push(f);
    }
    let mut left = vec![true; n];
    sorted.iter().for_each(|&i| left[i] = false);
    let mut on_cycle = vec![false; n];
    for start in 0..n {
        if !left[start] || on_cycle[start] {
            continue;
        }
        let Some(mut cyc) = walk_back_to_cycle(start, &pred, &left) else { continue };
        if cyc.iter().any(|&c| on_cycle[c]) {
            continue;
        }
        cyc.reverse();
        // Start the listing at the earliest-declared node, for stable messages.
        let min_pos = cyc.iter().enumerate().min_by_key(|(_, &c)| c).map_or(0, |(i, _)| i);
        cyc.rotate_left(min_pos);
        cyc.iter().for_each(|&c| on_cycle[c] = true);
        v.push(Violation::Cycle { nodes: cyc.iter().map(|&c| nodes[c].name.clone()).collect() });
    }
}

/// From `start`, follows predecessors that are `left` until a node repeats; returns the
/// repeating stretch (in reverse edge order), or `None` if the walk runs out.
fn walk_back_to_cycle(start: usize, pred: &[Vec<usize>], left: &[bool]) -> Option<Vec<usize>> {
    let mut path = vec![start];
    let mut pos = vec![usize::MAX; pred.len()];
    pos[start] = 0;
    let mut cur = start;
    loop {
        let &p = pred[cur].iter().find(|&&p| left[p])?;
        if pos[p] != usize::MAX {
            return Some(path.split_off(pos[p]));
        }
        pos[p] = path.len();
        path.push(p);
        cur = p;
    }
}

/// The validated graph, renumbered in topological `order` so that every edge goes from a
/// lower to a higher index.
fn assemble(nodes: &[NodeDecl], order: &[usize], edges: &[Edge]) -> Dag {
    let mut new_of = vec![0usize; nodes.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of[old] = new;
    }
    let mut out: Vec<DagNode> = order
        .iter()
        .map(|&old| {
            let d = &nodes[old];
            DagNode {
                name: d.name.clone(),
                inputs: d.inputs.clone(),
                outputs: d.outputs.clone(),
                role: d.role.clone(),
                upstream: vec![Vec::new(); d.inputs.len()],
            }
        })
        .collect();
    for &(f, fp, t, tp) in edges {
        out[new_of[t]].upstream[tp].push((new_of[f], fp));
    }
    Dag { nodes: out }
}
