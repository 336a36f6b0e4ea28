//! The pipeline file as read: every section's keys with the line they are on, so each error
//! names `FILE:LINE: KEY`; keys nobody asked for are errors too (a typo must not be ignored).

use std::collections::BTreeSet;
use toml_edit::{Item, TableLike};

/// The problems found in a pipeline file, each `FILE:LINE: KEY: message`, in line order.
#[derive(Default)]
pub(crate) struct Problems {
    found: Vec<(usize, String)>,
    /// Problems that leave the graph whole (a secret's environment variable not set): the graph
    /// is still lowered and planned, so that the planner's problems come out beside them.
    unset: Vec<(usize, String)>,
}

/// A message line longer than this (it quotes the file's own text: a long key or value) is cut.
pub const MAX_MESSAGE: usize = 1024;

impl Problems {
    pub(crate) fn push(&mut self, at: &At, msg: impl std::fmt::Display) {
        self.found.push(located(at, msg));
    }

    /// A problem that leaves the graph whole (see [`Problems::unset`]).
    pub(crate) fn push_unset(&mut self, at: &At, msg: impl std::fmt::Display) {
        self.unset.push(located(at, msg));
    }

    /// Whether nothing but unset secrets (if any) was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// The unset secrets, each with its line, taken out.
    pub(crate) fn take_unset(&mut self) -> Vec<(usize, String)> {
        std::mem::take(&mut self.unset)
    }

    /// Every problem, one per line, in the order of the file.
    pub(crate) fn into_text(mut self) -> String {
        self.found.append(&mut self.unset);
        in_file_order(self.found)
    }
}

/// `FILE:LINE: KEY: message` (each line cut to [`MAX_MESSAGE`]), keyed by its line.
fn located(at: &At, msg: impl std::fmt::Display) -> (usize, String) {
    let text = format!("{}:{}: {}: {msg}", at.file, at.line, at.key);
    let lines: Vec<String> = text.lines().map(cut).collect();
    (at.line, lines.join("\n"))
}

/// At most this many problems are shown; the rest are counted on one more line.
pub const MAX_PROBLEMS: usize = 100;

/// Problems, each keyed by its line, one per line in the order of the file (a stable sort: two
/// on one line keep the order they were found in), each line cut to [`MAX_MESSAGE`]; past
/// [`MAX_PROBLEMS`], one line at the first left out says how many more there are.
pub fn in_file_order(mut found: Vec<(usize, String)>) -> String {
    found.sort_by_key(|(line, _)| *line);
    let more = found.len().saturating_sub(MAX_PROBLEMS);
    let rest = found.get(MAX_PROBLEMS).map(|(_, m)| m.split(": ").next().unwrap_or_default().to_string());
    let mut lines: Vec<String> = found.iter().take(MAX_PROBLEMS).flat_map(|(_, m)| m.lines().map(cut)).collect();
    if let Some(at) = rest {
        lines.push(format!("{at}: … and {more} more problems"));
    }
    lines.join("\n")
}

/// `line` cut to [`MAX_MESSAGE`] bytes (at character boundaries), keeping its start (where)
/// and its end (why: a message quoting a long value gives its reason last), saying how much
/// was left out between them.
fn cut(line: &str) -> String {
    if line.len() <= MAX_MESSAGE {
        return line.to_string();
    }
    let head = (0..=MAX_MESSAGE * 5 / 8).rev().find(|&i| line.is_char_boundary(i)).unwrap_or(0);
    let tail = (line.len() - MAX_MESSAGE / 4..line.len()).find(|&i| line.is_char_boundary(i)).unwrap_or(line.len());
    format!("{} … ({} bytes left out) … {}", &line[..head], tail - head, &line[tail..])
}

/// Where something is: file, line and the dotted key (`operators.bars_1s.width`).
#[derive(Clone, Debug)]
pub struct At {
    /// The file as named to the user.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// The dotted key.
    pub key: String,
}

/// One value of a section: its text as a command-line value, or a list of them.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    One(String),
    List(Vec<String>),
}

/// One `[group.name]` section (or `[run]`), its keys read on demand.
pub(crate) struct Section {
    pub(crate) name: String,
    pub(crate) at: At,
    keys: Vec<(String, At, Value)>,
    used: BTreeSet<String>,
}

impl Section {
    /// The section `table` at `at`; values that are neither scalars nor lists of scalars are
    /// problems.
    fn read(name: &str, at: At, table: &dyn TableLike, src: &Source<'_>, problems: &mut Problems) -> Section {
        let mut keys = Vec::new();
        for (k, item) in table.iter() {
            let kat = src.at(table.get_key_value(k).and_then(|(key, _)| key.span()), format!("{}.{k}", at.key));
            match value(item) {
                Some(v) => keys.push((k.to_string(), kat, v)),
                None => problems.push(&kat, "expected a string, number, boolean or a list of strings"),
            }
        }
        Section { name: name.to_string(), at, keys, used: BTreeSet::new() }
    }

    /// The value of `key`, if given (marked as known).
    pub(crate) fn get(&mut self, key: &str) -> Option<(At, Value)> {
        self.used.insert(key.to_string());
        self.keys.iter().find(|(k, _, _)| k == key).map(|(_, at, v)| (at.clone(), v.clone()))
    }

    /// The value of `key` as one string; a list is a problem.
    pub(crate) fn one(&mut self, key: &str, problems: &mut Problems) -> Option<(At, String)> {
        match self.get(key)? {
            (at, Value::One(s)) => Some((at, s)),
            (at, Value::List(_)) => {
                problems.push(&at, "expected one value, not a list");
                None
            }
        }
    }

    /// The value of `key` as a list (one string is a list of one).
    pub(crate) fn list(&mut self, key: &str) -> Option<(At, Vec<String>)> {
        self.get(key).map(|(at, v)| match v {
            Value::One(s) => (at, vec![s]),
            Value::List(l) => (at, l),
        })
    }

    /// Marks `keys` as known without reading them.
    pub(crate) fn allow(&mut self, keys: &[&str]) {
        self.used.extend(keys.iter().map(|k| k.to_string()));
    }

    /// Every key not asked for is a problem naming the keys this section takes.
    pub(crate) fn finish(self, problems: &mut Problems) {
        for (k, at, _) in &self.keys {
            if !self.used.contains(k) {
                let known: Vec<&str> = self.used.iter().map(String::as_str).collect();
                problems.push(at, format!("unknown key; {} takes {}", self.at.key, known.join(", ")));
            }
        }
    }
}

/// A scalar as the text a command line would carry, or a list of them.
fn value(item: &Item) -> Option<Value> {
    let scalar = |v: &toml_edit::Value| match v {
        toml_edit::Value::String(s) => Some(s.value().clone()),
        toml_edit::Value::Integer(i) => Some(i.value().to_string()),
        toml_edit::Value::Float(f) => Some(f.value().to_string()),
        toml_edit::Value::Boolean(b) => Some(b.value().to_string()),
        _ => None,
    };
    match item.as_value()? {
        toml_edit::Value::Array(a) => a.iter().map(scalar).collect::<Option<Vec<_>>>().map(Value::List),
        v => scalar(v).map(Value::One),
    }
}

/// The file's name and where its lines start, for turning byte spans into lines.
struct Source<'a> {
    file: &'a str,
    /// The byte offset of each newline.
    newlines: Vec<usize>,
}

impl Source<'_> {
    fn new<'a>(file: &'a str, text: &str) -> Source<'a> {
        Source { file, newlines: text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect() }
    }

    fn at(&self, span: Option<std::ops::Range<usize>>, key: String) -> At {
        let line = span.map_or(1, |s| self.newlines.partition_point(|&nl| nl < s.start) + 1);
        At { file: self.file.to_string(), line, key }
    }
}

/// The pipeline file: `[run]`, and the named sections of `[sources]`, `[operators]`, `[sinks]`.
pub(crate) struct Doc {
    pub(crate) run: Option<Section>,
    pub(crate) sources: Vec<Section>,
    pub(crate) operators: Vec<Section>,
    pub(crate) sinks: Vec<Section>,
}

/// The groups a pipeline file has.
const GROUPS: [&str; 4] = ["run", "sources", "operators", "sinks"];

impl Doc {
    /// Parses `text` (from `file`); a TOML syntax error is the only problem reported then.
    pub(crate) fn parse(file: &str, text: &str, problems: &mut Problems) -> Option<Doc> {
        let src = Source::new(file, text);
        let doc = match toml_edit::Document::parse(text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(&src.at(e.span(), "TOML".into()), e.message());
                return None;
            }
        };
        let root = doc.as_table();
        let mut d = Doc { run: None, sources: Vec::new(), operators: Vec::new(), sinks: Vec::new() };
        for (group, item) in root.iter() {
            let at = src.at(root.get_key_value(group).and_then(|(k, _)| k.span()), group.to_string());
            let Some(t) = item.as_table_like() else {
                problems.push(&at, format!("expected a table ([{group}] or [{group}.NAME])"));
                continue;
            };
            match group {
                "run" => d.run = Some(Section::read("run", at, t, &src, problems)),
                "sources" | "operators" | "sinks" => {
                    let named = named(group, t, &src, problems);
                    *match group {
                        "sources" => &mut d.sources,
                        "operators" => &mut d.operators,
                        _ => &mut d.sinks,
                    } = named;
                }
                _ => problems.push(&at, format!("unknown section; a pipeline has {}", GROUPS.join(", "))),
            }
        }
        Some(d)
    }
}

/// The `[group.NAME]` sections of `group`.
fn named(group: &str, t: &dyn TableLike, src: &Source<'_>, problems: &mut Problems) -> Vec<Section> {
    let mut out = Vec::new();
    for (name, item) in t.iter() {
        let at = src.at(t.get_key_value(name).and_then(|(k, _)| k.span()), format!("{group}.{name}"));
        match item.as_table_like() {
            Some(s) => out.push(Section::read(name, at, s, src, problems)),
            None => problems.push(&at, format!("expected a table [{group}.{name}] with its settings")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_quoting_a_long_key_is_cut_at_a_character_boundary() {
        let key = "ü".repeat(2000);
        let text = format!("[run]\n\"{key}\" = 1\n");
        let mut problems = Problems::default();
        let doc = Doc::parse("p.toml", &text, &mut problems).expect("TOML");
        doc.run.expect("[run]").finish(&mut problems);
        let text = problems.into_text();
        assert!(text.starts_with("p.toml:2: run.üü"), "{text}");
        assert!(text.len() <= MAX_MESSAGE && text.contains(" bytes left out) … "), "{} bytes: {text}", text.len());
        assert!(text.contains("üü: unknown key; run takes "), "the reason is kept: {text}");
        assert_eq!(cut("short"), "short");
    }
}
