//! `ticklane run PIPELINE.toml` and `ticklane check PIPELINE.toml` (design.md §9): a pipeline
//! declared by name — `[sources.NAME]`, `[operators.NAME]`, `[sinks.NAME]`, each with an
//! `input`, and `[run]` for the engine's settings — checked as a graph, then lowered to the
//! `replay`/`run` flags that build the same graph, so a file and a command line mean exactly
//! one thing and go through one planner. Every error names `FILE:LINE: KEY`; secrets come
//! from the environment (`url_env`), never the file. `docs/pipelines.md` is the reference.
//! Reading and checking the graph is the library's ([`ticklane_tools::pipeline`]); this adds
//! the command line's value checks, planning, and `check`'s output.

use crate::cli::{Cli, Command};
use crate::plan::Plan;
use clap::Parser;
use std::path::Path;
use ticklane_tools::pipeline::{in_file_order, Arg, At, Lowered};

/// Whether `ticklane run`'s inputs name a pipeline file.
pub(crate) fn is_pipeline(files: &[std::path::PathBuf]) -> Option<&Path> {
    match files {
        [one] if one.extension().is_some_and(|e| e == "toml") => Some(one),
        _ => None,
    }
}

/// Reads and checks the pipeline file at `path`: its plan, or every problem (one per line, in
/// the order of the file; an unset secret's beside the planner's).
pub(crate) fn plan(path: &Path) -> Result<(Plan, Lowered), String> {
    let file = path.display().to_string();
    let mut lowered = ticklane_tools::pipeline::lower_all(&file, &read_text(path, &file)?, bad_value)?;
    let mut problems = std::mem::take(&mut lowered.unset);
    let planned = match Cli::try_parse_from(argv(&lowered, false)) {
        Err(e) => Err(vec![relocate(&lowered, &clap_message(&e))]),
        Ok(cli) => match cli.command {
            Command::Run(r) => Plan::from_run(&r),
            Command::Replay(a) => Plan::from_replay(&a),
            _ => unreachable!("a pipeline lowers to run or replay"),
        }
        .map_err(|p| p.to_string().lines().map(|l| relocate(&lowered, l)).collect()),
    };
    match planned {
        Ok(plan) if problems.is_empty() => Ok((plan, lowered)),
        Ok(_) => Err(in_file_order(problems)),
        Err(more) => {
            problems.extend(more);
            Err(in_file_order(problems))
        }
    }
}

/// `ticklane check`: the graph and the equivalent command line, or every problem.
pub(crate) fn check(path: &Path) -> Result<String, String> {
    let (_, l) = plan(path)?;
    let shown: Vec<String> = argv(&l, true).into_iter().map(|a| shell_word(&a)).collect();
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

/// `ticklane COMMAND FLAGS… INPUTS…`; `shown`: secrets as their variables.
fn argv(l: &Lowered, shown: bool) -> Vec<String> {
    let mut v = vec!["ticklane".to_string(), l.command.to_string()];
    for a in &l.args {
        v.push(a.flag.to_string());
        match (&a.shown, &a.value) {
            (Some(s), _) if shown => v.push(s.clone()),
            (_, Some(x)) => v.push(x.clone()),
            (_, None) => {}
        }
    }
    v.extend(l.inputs.iter().filter_map(|a| a.value.clone()));
    v
}

/// A planner's or clap's message about `--flag` as `FILE:LINE: KEY: message`, keyed by its line:
/// at the longest flag it names, of those the one whose value it names too (one of several
/// `--out`).
fn relocate(l: &Lowered, msg: &str) -> (usize, String) {
    let named = |a: &&Arg| {
        let v = a.value.as_deref().unwrap_or_default();
        let target = v.split_once('=').map_or(v, |(_, t)| t);
        !v.is_empty() && (msg.contains(v) || (!target.is_empty() && msg.contains(target)))
    };
    let every = l.args.iter().chain(&l.inputs);
    let at = every.filter(|a| msg.contains(a.flag)).max_by_key(|a| (a.flag.len(), named(a))).map(|a| &a.at);
    match at {
        // A source's `url` or `paths` says what `INPUT` was.
        Some(At { file, line, key }) if key.ends_with(".url") || key.ends_with(".paths") => {
            (*line, format!("{file}:{line}: {key}: {}", msg.strip_prefix("INPUT: ").unwrap_or(msg)))
        }
        Some(At { file, line, key }) => (*line, format!("{file}:{line}: {key}: {msg}")),
        None => (0, format!("{}: {msg}", l.args.first().map_or("", |a| a.at.file.as_str()))),
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

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_word(s: &str) -> String {
    let plain = s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain && !s.is_empty() || s.starts_with("\"$") {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
