//! `ticklane run PIPELINE.toml` and `ticklane check PIPELINE.toml` (design.md §9): a pipeline
//! declared by name — `[sources.NAME]`, `[operators.NAME]`, `[sinks.NAME]`, each with an
//! `input`, and `[run]` for the engine's settings — checked as a graph, then lowered to the
//! `replay`/`run` flags that build the same graph, so a file and a command line mean exactly
//! one thing and go through one planner. Every error names `FILE:LINE: KEY`; secrets come
//! from the environment (`url_env`), never the file. `docs/pipelines.md` is the reference.

mod doc;
mod nodes;
mod shape;

use crate::cli::{Cli, Command};
use crate::plan::Plan;
use clap::Parser;
use doc::{At, Doc, Problems};
use nodes::{Arg, Node, Role};
use shape::Graph;
use std::path::Path;

/// A pipeline file lowered to one command line.
pub(crate) struct Lowered {
    /// `run` (a live URL) or `replay` (files).
    command: &'static str,
    args: Vec<Arg>,
    inputs: Vec<String>,
    /// The graph, one node per line, for `check`.
    graph: String,
}

/// Whether `ticklane run`'s inputs name a pipeline file.
pub(crate) fn is_pipeline(files: &[std::path::PathBuf]) -> Option<&Path> {
    match files {
        [one] if one.extension().is_some_and(|e| e == "toml") => Some(one),
        _ => None,
    }
}

/// Reads and checks the pipeline file at `path`: its plan, or every problem (one per line).
pub(crate) fn plan(path: &Path) -> Result<(Plan, Lowered), String> {
    let lowered = load(path)?;
    let argv = lowered.argv(false);
    let cli = Cli::try_parse_from(argv).map_err(|e| lowered.relocate(&clap_message(&e)))?;
    let plan = match cli.command {
        Command::Run(r) => Plan::from_run(&r),
        Command::Replay(a) => Plan::from_replay(&a),
        _ => unreachable!("a pipeline lowers to run or replay"),
    };
    let plan = plan.map_err(|p| p.to_string().lines().map(|l| lowered.relocate(l)).collect::<Vec<_>>().join("\n"))?;
    Ok((plan, lowered))
}

/// `ticklane check`: the graph and the equivalent command line, or every problem.
pub(crate) fn check(path: &Path) -> Result<String, String> {
    let (_, l) = plan(path)?;
    let shown: Vec<String> = l.argv(true).into_iter().map(|a| shell_word(&a)).collect();
    Ok(format!("{}: ok\n{}\nas a command line:\n  {}\n", path.display(), l.graph, shown.join(" ")))
}

/// The file's text; a byte that is not UTF-8 is located by line and byte offset.
fn read_text(path: &Path, file: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        format!("{file}:{line}: byte {at} is not UTF-8 (a pipeline file is UTF-8 TOML)")
    })
}

/// Reads, checks and lowers the file.
fn load(path: &Path) -> Result<Lowered, String> {
    let file = path.display().to_string();
    let text = read_text(path, &file)?;
    let mut problems = Problems::default();
    let doc = Doc::parse(&file, &text, &mut problems).ok_or_else(|| std::mem::take(&mut problems).into_text())?;
    let mut nodes: Vec<Node> = Vec::new();
    nodes.extend(doc.sources.into_iter().filter_map(|s| nodes::source(s, &mut problems)));
    nodes.extend(doc.operators.into_iter().filter_map(|s| nodes::operator(s, &mut problems)));
    nodes.extend(doc.sinks.into_iter().filter_map(|s| nodes::sink(s, &mut problems)));
    let run = doc.run.map(|s| nodes::run(s, &mut problems)).unwrap_or_default();
    for a in nodes.iter().flat_map(|n| &n.args).chain(&run) {
        if let Some(msg) = a.value.as_ref().and_then(|v| bad_value(a.flag, v)) {
            problems.push(&a.at, msg);
        }
    }
    let g = Graph { nodes };
    shape::check(&g, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_text()); // lowering a broken graph would only repeat its errors
    }
    let (args, inputs, live) = shape::lower(&g, &run, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_text());
    }
    Ok(Lowered { command: if live { "run" } else { "replay" }, args, inputs, graph: describe(&g) })
}

impl Lowered {
    /// `ticklane COMMAND FLAGS… INPUTS…`; `shown`: secrets as their variables.
    fn argv(&self, shown: bool) -> Vec<String> {
        let mut v = vec!["ticklane".to_string(), self.command.to_string()];
        for a in &self.args {
            v.push(a.flag.to_string());
            match (&a.shown, &a.value) {
                (Some(s), _) if shown => v.push(s.clone()),
                (_, Some(x)) => v.push(x.clone()),
                (_, None) => {}
            }
        }
        v.extend(self.inputs.iter().cloned());
        v
    }

    /// A planner's or clap's message about `--flag` as `FILE:LINE: KEY: message`.
    fn relocate(&self, msg: &str) -> String {
        let at = self.args.iter().filter(|a| msg.contains(a.flag)).max_by_key(|a| a.flag.len()).map(|a| &a.at);
        match at {
            Some(At { file, line, key }) => format!("{file}:{line}: {key}: {msg}"),
            None => format!("{}: {msg}", self.args.first().map_or("", |a| a.at.file.as_str())),
        }
    }
}

/// What is wrong with `value` for `flag`, as the command line would say (its own parsers: one
/// meaning for a value whether it is in a file or a flag).
fn bad_value(flag: &str, value: &str) -> Option<String> {
    use clap::error::ErrorKind;
    if flag == "--bars" && value.contains(',') {
        return Some(format!("one width, found {value:?}: each coarser width is a resample operator"));
    }
    match Cli::try_parse_from(["ticklane", "run", flag, value, "-"]) {
        Err(e) if matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) => Some(clap_message(&e)),
        _ => None,
    }
}

/// The first line of clap's error, without its `error: ` prefix.
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// The graph, one node per line: `NAME (TYPE) ← INPUTS`.
fn describe(g: &Graph) -> String {
    let mut out = String::new();
    for n in &g.nodes {
        let what = match n.role {
            Role::Source { .. } => format!("source {}", n.inputs_text.join(" ")),
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

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_word(s: &str) -> String {
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain && !s.is_empty() || s.starts_with("\"$") {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
