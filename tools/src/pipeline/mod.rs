//! Pipeline files (design.md §9): a pipeline declared by name — `[sources.NAME]`,
//! `[operators.NAME]`, `[sinks.NAME]`, each with an `input`, and `[run]` for the engine's
//! settings — read, checked as a graph, and lowered to the `replay`/`run` flags that build the
//! same graph. Every error names `FILE:LINE: KEY`. The binary adds the command line's own value
//! checks and plans the result; here it is the part that reads untrusted text (the `pipeline`
//! fuzz target drives [`lower`]).
//!
//! ```
//! let text = "[sources.cme]\npaths = [\"trades.csv\"]\n\n[operators.bars]\ntype = \"time_bars\"\n\
//!             input = \"cme\"\nwidth = \"1s\"\n\n[sinks.out]\ntype = \"stdout\"\ninput = \"bars\"\n";
//! let l = ticklane_tools::pipeline::lower("p.toml", text, |_, _| None).expect("a valid pipeline");
//! assert_eq!(l.command, "replay");
//! assert!(l.args.iter().any(|a| a.flag == "--bars" && a.value.as_deref() == Some("1s")));
//!
//! let text = "[sources.x]\npaths = [\"a.csv\"]\npathz = 1\n";
//! let e = ticklane_tools::pipeline::lower("p.toml", text, |_, _| None).unwrap_err();
//! assert!(e.contains("p.toml:3: sources.x.pathz: unknown key"), "{e}");
//! ```

mod cycles;
mod doc;
mod nodes;
mod shape;

pub use doc::{in_file_order, At, MAX_MESSAGE, MAX_PROBLEMS};
pub use nodes::Arg;

use doc::{Doc, Problems};
use nodes::{Node, Role};
use shape::Graph;

/// At most this many sources, operators and sinks in one pipeline file (checking a graph
/// takes time that grows faster than its size; real pipelines hold tens).
pub const MAX_NODES: usize = 1000;

/// A pipeline file lowered to one command line.
#[derive(Debug)]
pub struct Lowered {
    /// `run` (a live URL) or `replay` (files).
    pub command: &'static str,
    /// The flags, in a stable order.
    pub args: Vec<Arg>,
    /// The inputs (files or one URL), each with where it was set (flag [`nodes::INPUT`]).
    pub inputs: Vec<Arg>,
    /// The graph, one node per line, for `ticklane check`.
    pub graph: String,
    /// Only from [`lower_all`]: the secrets whose environment variables are not set, each
    /// `FILE:LINE: KEY: message` keyed by its line (the variable's name stands in for the value).
    pub unset: Vec<(usize, String)>,
}

/// Reads, checks and lowers the text of pipeline file `file`: its command line, or every
/// problem, one `FILE:LINE: KEY: message` per line in file order. `bad_value(flag, value)` says
/// what is wrong with a setting's value, as the command line would (the binary's own parsers).
pub fn lower(file: &str, text: &str, bad_value: impl Fn(&str, &str) -> Option<String>) -> Result<Lowered, String> {
    let l = lower_all(file, text, bad_value)?;
    if l.unset.is_empty() {
        Ok(l)
    } else {
        Err(in_file_order(l.unset))
    }
}

/// [`lower`], except that a secret whose environment variable is not set does not stop it: the
/// graph is lowered with [`Lowered::unset`] saying so, for a caller that checks the command
/// line further and reports its own problems beside these (one run of `ticklane check` shows
/// every error). Such a `Lowered` must not be run.
pub fn lower_all(file: &str, text: &str, bad_value: impl Fn(&str, &str) -> Option<String>) -> Result<Lowered, String> {
    let mut problems = Problems::default();
    let doc = Doc::parse(file, text, &mut problems).ok_or_else(|| std::mem::take(&mut problems).into_text())?;
    let mut nodes: Vec<Node> = Vec::new();
    nodes.extend(doc.sources.into_iter().filter_map(|s| nodes::source(s, &mut problems)));
    nodes.extend(doc.operators.into_iter().filter_map(|s| nodes::operator(s, &mut problems)));
    nodes.extend(doc.sinks.into_iter().filter_map(|s| nodes::sink(s, &mut problems)));
    let run = doc.run.map(|s| nodes::run(s, &mut problems)).unwrap_or_default();
    if nodes.len() > MAX_NODES {
        let mut places: Vec<&At> = nodes.iter().map(|n| &n.at).collect();
        places.sort_by_key(|a| a.line);
        let msg =
            format!("a pipeline holds at most {MAX_NODES} sources, operators and sinks; this one {}", nodes.len());
        problems.push(places[MAX_NODES], msg);
        return Err(problems.into_text());
    }
    unique_names(&nodes, &mut problems);
    for a in nodes.iter().flat_map(|n| &n.args).chain(&run) {
        if let Some(msg) = a.value.as_ref().and_then(|v| bad_value(a.flag, v)) {
            problems.push(&a.at, msg);
        }
    }
    let g = Graph::new(nodes, file);
    shape::check(&g, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_text()); // lowering a broken graph would only repeat its errors
    }
    let (args, inputs, live) = shape::lower(&g, &run, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_text());
    }
    let unset = problems.take_unset();
    Ok(Lowered { command: if live { "run" } else { "replay" }, args, inputs, graph: describe(&g), unset })
}

/// A name is one node's, across sources, operators and sinks: an `input` must mean one thing.
/// Each repeat is reported where it is declared, naming the line of the first.
fn unique_names(nodes: &[Node], problems: &mut Problems) {
    let mut in_file: Vec<&Node> = nodes.iter().collect();
    in_file.sort_by_key(|n| n.at.line);
    let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for n in in_file {
        match first.get(n.name.as_str()) {
            Some(line) => problems.push(
                &n.at,
                format!(
                    "`{}` is already declared at line {line}: names are unique across sources, operators and sinks",
                    n.name
                ),
            ),
            None => {
                first.insert(&n.name, n.at.line);
            }
        }
    }
}

/// The graph, one node per line: `NAME (TYPE) ← INPUTS`.
fn describe(g: &Graph) -> String {
    let mut out = String::new();
    for n in &g.nodes {
        let what = match n.role {
            Role::Source { .. } => {
                let texts: Vec<&str> = n.inputs_text.iter().filter_map(|a| a.value.as_deref()).collect();
                format!("source {}", texts.join(" "))
            }
            Role::Op(t) => t.to_string(),
            Role::Sink(t) => format!("sink {t}"),
        };
        let from: Vec<String> =
            n.inputs.iter().map(|e| e.port.as_ref().map_or(e.from.clone(), |p| format!("{}.{p}", e.from))).collect();
        let arrow = if from.is_empty() { String::new() } else { format!(" ← {}", from.join(", ")) };
        out.push_str(&format!("  {} ({what}){arrow}\n", n.name));
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::lower;

    #[test]
    fn a_name_declared_twice_is_refused_where_it_is_repeated() {
        let text = "[sources.x]\npaths = [\"t.csv\"]\nkind = \"trades\"\n\n[operators.x]\ntype = \"time_bars\"\n\
                    input = \"x\"\nwidth = \"1s\"\n\n[sinks.out]\ntype = \"stdout\"\ninput = \"x\"\n";
        let e = lower("p.toml", text, |_, _| None).map(|l| l.graph).expect_err("an ambiguous name is refused");
        assert!(e.starts_with("p.toml:5: operators.x: `x` is already declared at line 1"), "{e}");
    }
}
