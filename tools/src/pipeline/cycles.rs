//! Cycles in a pipeline's graph: every one is an error, found through any of a node's inputs.

use super::doc::Problems;
use super::shape::Graph;
use std::collections::HashSet;

/// Reports each cycle a depth-first walk over every input meets, once, at its first node in
/// the file: `a → b → a` in the direction records flow. The walk keeps its own stack, so a
/// long chain in an untrusted file cannot overflow the thread's.
pub(super) fn report(g: &Graph, problems: &mut Problems) {
    let mut state = vec![State::Unseen; g.nodes.len()];
    let mut reported: HashSet<Vec<usize>> = HashSet::new();
    for root in 0..g.nodes.len() {
        if state[root] != State::Unseen {
            continue;
        }
        state[root] = State::OnPath;
        // Each node on the path with the index of the next input to follow.
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&(node, edge)) = path.last() {
            let Some(e) = g.nodes[node].inputs.get(edge) else {
                state[node] = State::Done;
                path.pop();
                continue;
            };
            if let Some(top) = path.last_mut() {
                top.1 += 1;
            }
            let Some(next) = g.position(&e.from) else { continue };
            match state[next] {
                State::Unseen => {
                    state[next] = State::OnPath;
                    path.push((next, 0));
                }
                State::OnPath => {
                    let on: Vec<usize> = path.iter().map(|&(n, _)| n).skip_while(|&n| n != next).collect();
                    let mut key = on.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        say(g, &on, problems);
                    }
                }
                State::Done => {}
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unseen,
    OnPath,
    Done,
}

/// `on`: the cycle's nodes, each an input of the one before it.
fn say(g: &Graph, on: &[usize], problems: &mut Problems) {
    let mut shown: Vec<&str> = on.iter().rev().map(|&i| g.nodes[i].name.as_str()).collect();
    shown.push(shown[0]);
    let first = on.iter().min().map_or(&g.nodes[on[0]], |&i| &g.nodes[i]);
    problems.push(&first.at, format!("cycle: {}", shown.join(" → ")));
}

#[cfg(test)]
mod tests {
    use crate::pipeline::lower;

    const HEAD: &str = "[sources.feed]\npaths = [\"t.csv\"]\nkind = \"trades\"\n\n\
                        [operators.bars]\ntype = \"time_bars\"\ninput = \"feed\"\nwidth = \"1s\"\n\n";

    /// The problems of a pipeline of `HEAD`, then `ops`, then a sink reading `sink_reads`.
    fn problems(ops: &str, sink_reads: &str) -> String {
        let text = format!("{HEAD}{ops}\n[sinks.out]\ntype = \"stdout\"\ninput = {sink_reads}\n");
        lower("p.toml", &text, |_, _| None).map(|l| l.graph).expect_err("a cyclic pipeline is refused")
    }

    #[test]
    fn a_node_reading_itself_beside_another_input_is_a_cycle() {
        let ops = "[operators.m]\ntype = \"resample\"\ninput = [\"bars\", \"m\"]\nwidth = \"1m\"\n";
        let e = problems(ops, "\"m\"");
        assert!(e.contains("p.toml:10: operators.m: cycle: m → m"), "{e}");
        assert_eq!(e.matches("cycle").count(), 1, "{e}");
    }

    #[test]
    fn a_cycle_through_second_inputs_only_is_found_and_said_once() {
        let ops = "[operators.m]\ntype = \"resample\"\ninput = [\"bars\", \"h\"]\nwidth = \"1m\"\n\n\
                   [operators.h]\ntype = \"resample\"\ninput = [\"bars\", \"m\"]\nwidth = \"1h\"\n";
        let e = problems(ops, "[\"m\", \"h\"]");
        assert!(e.contains("p.toml:10: operators.m: cycle: "), "{e}");
        assert_eq!(e.matches("cycle").count(), 1, "{e}");
    }
}
