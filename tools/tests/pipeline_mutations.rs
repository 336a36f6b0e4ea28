//! The pipeline file is untrusted input (issue 16): mutated copies of the bundled example
//! pipelines — bytes cut, lines doubled or swapped, TOML fragments and garbage put in — are
//! checked by the real binary (`ticklane check`). Every one is either valid (exit 0) or refused
//! with exit 2 and messages that each name the file and a line; never a panic, never silence,
//! never an unbounded message. (Fuzzed through the binary: the pipeline parser lives in the
//! binary's modules, which a libFuzzer target cannot link.)

mod common;

use common::{s, tmp, BIN};
use proptest::prelude::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The example pipelines' texts.
fn examples() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipelines");
    let mut files: Vec<_> =
        std::fs::read_dir(dir).expect("examples").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect()
}

/// TOML fragments a mutation may insert.
const FRAGMENTS: [&str; 14] = [
    "[",
    "]",
    "\"",
    "=",
    "\n",
    "[[sinks]]\n",
    "[operators.x]\n",
    "input = \"nope\"\n",
    "width = \"-1s\"\n",
    "url = \"jetstream://\"\n",
    "= = =\n",
    "\u{0}",
    "\u{feff}",
    "kind = [1, {a = 2}]\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Cut(usize, usize),
    Insert(usize, usize),
    DoubleLine(usize),
    SwapLines(usize, usize),
    Garbage(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(a, n)| Mutation::Cut(a, n)),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(a, f)| Mutation::Insert(a, f)),
        any::<usize>().prop_map(Mutation::DoubleLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(a, g)| Mutation::Garbage(a, g)),
    ]
}

fn apply(text: &[u8], m: &Mutation) -> Vec<u8> {
    let mut v = text.to_vec();
    let at = |a: usize, len: usize| if len == 0 { 0 } else { a % (len + 1) };
    match m {
        Mutation::Cut(a, n) => {
            let from = at(*a, v.len());
            v.drain(from..(from + n).min(v.len()));
        }
        Mutation::Insert(a, f) => {
            let i = at(*a, v.len());
            v.splice(i..i, FRAGMENTS[*f].bytes());
        }
        Mutation::Garbage(a, g) => {
            let i = at(*a, v.len());
            v.splice(i..i, g.iter().copied());
        }
        Mutation::DoubleLine(a) | Mutation::SwapLines(a, _) => {
            let mut lines: Vec<Vec<u8>> = v.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let i = a % n;
            match m {
                Mutation::SwapLines(_, b) => lines.swap(i, b % n),
                _ => lines.insert(i, lines[i].clone()),
            }
            v = lines.join(&b'\n');
        }
    }
    v
}

/// `ticklane check PATH`'s output, or an error if it ran past `limit` (then it is killed): a
/// check that never ends must fail the test, not hang the suite.
fn checked_within(path: &Path, limit: Duration) -> Result<Output, String> {
    let child = Command::new(BIN)
        .args(["check", s(path)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane check");
    let pid = child.id().to_string();
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let late = finished.recv_timeout(limit).is_err();
        if late {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        late
    });
    let o = child.wait_with_output().expect("wait for ticklane check");
    let _ = done.send(());
    match watchdog.join().expect("watchdog") {
        true => Err(format!("ticklane check ran past {limit:?} and was killed")),
        false => Ok(o),
    }
}

/// Checks one mutated file; an error says what went wrong.
fn check(path: &Path, text: &[u8]) -> Result<(), String> {
    std::fs::write(path, text).expect("write");
    let o = checked_within(path, Duration::from_secs(60))?;
    let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    match o.status.code() {
        Some(0) if !out.is_empty() => Ok(()),
        Some(2) => {
            if err.contains("panicked") || err.len() > 64 << 10 {
                return Err(format!("a panic or an unbounded message ({} bytes)", err.len()));
            }
            let named = err.lines().filter(|l| !l.trim().is_empty()).all(|l| {
                let rest = l.strip_prefix("ticklane: ").unwrap_or(l);
                rest.strip_prefix(s(path))
                    .and_then(|r| r.strip_prefix(':'))
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            });
            if err.trim().is_empty() || !named {
                return Err(format!("exit 2 without FILE:LINE on every line:\n{err}"));
            }
            Ok(())
        }
        code => Err(format!("exit {code:?}:\n{err}")),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn a_mutated_pipeline_is_valid_or_refused_line_by_line(which in any::<usize>(), ms in proptest::collection::vec(mutation(), 1..4)) {
        let texts = examples();
        let mut text = texts[which % texts.len()].clone().into_bytes();
        for m in &ms {
            text = apply(&text, m);
        }
        let path = tmp(&format!("mutated-{}.toml", std::thread::current().name().unwrap_or("t").len()));
        if let Err(e) = check(&path, &text) {
            prop_assert!(false, "{}\n--- the file ---\n{}", e, String::from_utf8_lossy(&text));
        }
    }
}

#[test]
fn the_examples_themselves_are_valid() {
    for (i, text) in examples().iter().enumerate() {
        check(&tmp(&format!("example-{i}.toml")), text.as_bytes()).expect("a bundled example is valid");
    }
}

/// A pipeline of `bars` then `n` resamples, each width one second more than the one before
/// (so each step after the first is refused: not a whole multiple).
fn long_chain(n: usize) -> String {
    let mut text = String::from("[sources.feed]\npaths = [\"t.csv\"]\nkind = \"trades\"\n\n");
    text.push_str("[operators.bars]\ntype = \"time_bars\"\ninput = \"feed\"\nwidth = \"1s\"\n\n");
    let mut prev = "bars".to_string();
    for i in 0..n {
        let width = i + 2;
        text.push_str(&format!("[operators.r{i}]\ntype = \"resample\"\ninput = \"{prev}\"\nwidth = \"{width}s\"\n\n"));
        prev = format!("r{i}");
    }
    text + &format!("[sinks.out]\ntype = \"stdout\"\ninput = \"{prev}\"\n")
}

#[test]
fn a_huge_pipeline_is_refused_at_its_first_node_past_the_limit() {
    let path = tmp("huge-chain.toml");
    std::fs::write(&path, long_chain(20_000)).expect("write");
    let o = checked_within(&path, Duration::from_secs(120)).expect("a prompt answer");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    // Node 1,001 in file order is the 999th resample, `r998`: line 10 + 998 * 5.
    let want = format!("{}:5000: operators.r998: a pipeline holds at most 1000 sources", s(&path));
    assert!(err.lines().count() == 1 && err.contains(&want), "{err}");
}

#[test]
fn many_problems_are_shown_a_hundred_at_most_each_line_cut_keeping_its_reason() {
    let path = tmp("long-chain.toml");
    std::fs::write(&path, long_chain(997)).expect("write");
    let o = checked_within(&path, Duration::from_secs(120)).expect("a prompt answer");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 101, "{}", lines.last().copied().unwrap_or_default());
    assert!(lines.iter().all(|l| l.len() <= 1100), "every line is cut");
    assert!(
        lines[0].ends_with(": 3s after 2s: coarse width (3s) must be a whole multiple of fine width (2s)"),
        "{}",
        lines[0]
    );
    assert!(lines[100].ends_with(": … and 896 more problems"), "{}", lines[100]);
}
