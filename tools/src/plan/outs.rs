//! The bar outputs a run was asked for: each `--out` (repeatable: a fan-out), its `--format`,
//! and the `--bars` widths it takes (`WIDTHS=OUT`, else all of them), checked together —
//! formats a target can carry, `{kind}`/`{bars}`/`{period}` where they are needed, nothing
//! written twice.

use super::PlanError;
use crate::cli::ReplayArgs;
use crate::output::{OutFormat, Rotation, PERIOD};
use ticklane_tools::live::LiveUrl;

/// One `--out`.
#[derive(Clone, Debug)]
pub(crate) struct OutSpec {
    /// The target as given, without its width selection (`-`: stdout).
    pub(crate) text: String,
    pub(crate) format: OutFormat,
    /// Whether it takes each `--bars` width, finest first.
    pub(crate) takes: Vec<bool>,
}

impl OutSpec {
    /// Whether it writes to standard output.
    pub(crate) fn is_stdout(&self) -> bool {
        self.text == "-"
    }

    /// Whether it is a message bus (`nats://`, `jetstream://`).
    pub(crate) fn is_bus(&self) -> bool {
        matches!(LiveUrl::parse(&self.text), Ok(Some(_)))
    }

    /// Every `--out`, each with its `--format`; with none, stdout taking every width but the
    /// finest when the store takes it, and none when `--ticks-out` is where the run's results
    /// go (and not the store: then no bars are made). Records every problem.
    pub(crate) fn all(a: &ReplayArgs, to_store: bool, problems: &mut PlanError) -> Vec<OutSpec> {
        let formats = formats(a, problems);
        let widths = a.bars.len();
        let mut specs = Vec::new();
        if a.out.is_empty() {
            let mut takes = vec![to_store || a.ticks.ticks_out.is_none(); widths];
            takes[0] &= !to_store;
            specs.push(OutSpec { text: "-".into(), format: formats[0], takes });
        }
        for (i, given) in a.out.iter().enumerate() {
            let format = formats[i.min(formats.len() - 1)];
            match selection(given, a) {
                Ok((takes, text)) => specs.push(OutSpec { text: text.to_string(), format, takes }),
                Err(e) => problems.push(e),
            }
        }
        for s in &specs {
            s.check(a, to_store, specs.len() > 1, problems);
        }
        if !a.out.is_empty() && specs.len() == a.out.len() {
            untaken(a, &specs, problems);
        }
        rotation(a, &specs, problems);
        written_twice(&specs, a, problems);
        specs
    }

    /// What this output's target and format allow.
    fn check(&self, a: &ReplayArgs, to_store: bool, several: bool, problems: &mut PlanError) {
        let text = &self.text;
        match LiveUrl::parse(text) {
            Ok(Some(LiveUrl::Nats(_))) if self.format == OutFormat::Parquet => {
                problems.push("--format parquet: a bus takes one message per bar: --format jsonl (JSON) or msgpack")
            }
            Ok(Some(LiveUrl::Nats(_))) => {}
            Ok(Some(LiveUrl::WebSocket(_))) => {
                problems.push(format!("--out {text}: bars go to files, stdout, nats:// or jetstream://"))
            }
            Err(e) => problems.push(format!("--out {e}")),
            Ok(None) if self.format == OutFormat::Msgpack => problems
                .push("--format msgpack: only for --out nats://HOST:PORT/SUBJECT or jetstream://HOST:PORT/STREAM"),
            Ok(None) => {}
        }
        if self.format == OutFormat::Parquet && self.is_stdout() && (!a.out.is_empty() || !to_store) {
            problems.push("--format parquet needs --out FILE (Parquet is binary, with its footer written at the end)");
        }
        if self.takes.iter().filter(|t| **t).count() > 1 && !text.contains("{bars}") {
            let which = if several { format!(" ({text})") } else { String::new() };
            problems.push(format!(
                "--bars {}: --out needs a {{bars}} placeholder (--out 'bars_{{bars}}.csv' writes bars_1s.csv, \
                 bars_1m.csv …){which}",
                widths_text(a)
            ));
        }
    }
}

/// The coarsest `--bars` width goes to an `--out`. A finer one may go nowhere: it is made for
/// the coarser widths it feeds, and dropped (`--bars 1s,1m --out 1m=x.csv`).
fn untaken(a: &ReplayArgs, specs: &[OutSpec], problems: &mut PlanError) {
    let coarsest = a.bars.len() - 1;
    if coarsest > 0 && !specs.iter().any(|s| s.takes[coarsest]) {
        problems.push(format!(
            "--bars {}: no --out takes {} (WIDTHS=OUT names the widths an output takes)",
            widths_text(a),
            a.bars[coarsest].text
        ));
    }
}

/// `--format`: one for every `--out`, or one each (csv when none is given).
fn formats(a: &ReplayArgs, problems: &mut PlanError) -> Vec<OutFormat> {
    match a.format.len() {
        0 => vec![OutFormat::Csv],
        1 => a.format.clone(),
        n if n == a.out.len() => a.format.clone(),
        n => {
            problems.push(format!(
                "--format: given {n} times for {} --out: give it once (every output) or once per --out, in order",
                a.out.len()
            ));
            vec![a.format[0]]
        }
    }
}

/// `WIDTHS=OUT` → which widths it takes and the target; anything else takes every width. A
/// prefix is a width list when each of its items reads as a duration (so `./1s=x.csv` is a file).
fn selection<'a>(given: &'a str, a: &ReplayArgs) -> Result<(Vec<bool>, &'a str), String> {
    let all = (vec![true; a.bars.len()], given);
    let Some((head, text)) = given.split_once('=') else { return Ok(all) };
    let items: Vec<&str> = head.split(',').map(str::trim).collect();
    if head.contains('/') || !items.iter().all(|w| ticklane_tools::duration::parse(w).is_ok()) {
        return Ok(all);
    }
    let mut takes = vec![false; a.bars.len()];
    for w in items {
        match a.bars.iter().position(|b| b.text == w) {
            Some(i) => takes[i] = true,
            None => return Err(format!("--out {given}: {w} is not one of --bars {}", widths_text(a))),
        }
    }
    if text.is_empty() {
        return Err(format!("--out {given}: expected WIDTHS=OUT (a file, -, nats://… or jetstream://…)"));
    }
    Ok((takes, text))
}

/// `--bars` as given.
pub(crate) fn widths_text(a: &ReplayArgs) -> String {
    a.bars.iter().map(|b| b.text.as_str()).collect::<Vec<_>>().join(",")
}

/// `--rotate` cuts the file outputs whose path holds `{period}` (at least one), and `{period}`
/// is filled only by it.
fn rotation(a: &ReplayArgs, specs: &[OutSpec], problems: &mut PlanError) {
    let files: Vec<&OutSpec> = specs.iter().filter(|s| !s.is_stdout() && !s.is_bus()).collect();
    match a.rotate {
        Some(_) if files.is_empty() => problems.push("--rotate cuts files: give --out a file path holding {period}"),
        Some(every) => {
            let holding: Vec<&&OutSpec> = files.iter().filter(|s| s.text.contains(PERIOD)).collect();
            let checked = if holding.is_empty() { files.iter().take(1).collect() } else { holding };
            for s in checked {
                if let Err(e) = Rotation::new(&s.text, every, "--out") {
                    problems.push(e);
                }
            }
        }
        None => {
            for s in files.iter().filter(|s| s.text.contains(PERIOD)) {
                problems.push(format!("--out {}: {PERIOD} is filled only with --rotate DURATION", s.text))
            }
        }
    }
}

/// Two outputs that would write the same file (or subject) with the same bars, or share stdout.
fn written_twice(specs: &[OutSpec], a: &ReplayArgs, problems: &mut PlanError) {
    if specs.iter().filter(|s| s.is_stdout()).count() > 1 {
        problems.push("--out -: standard output takes one output");
    }
    let mut seen: Vec<String> = Vec::new();
    for s in specs.iter().filter(|s| !s.is_stdout()) {
        let mut mine: Vec<String> =
            a.bars.iter().zip(&s.takes).filter(|(_, t)| **t).map(|(b, _)| b.text.clone()).collect();
        mine = mine.iter().map(|w| s.text.replace("{bars}", w)).collect();
        mine.dedup(); // one output without {bars} taking several widths is reported above
        if let Some(each) = mine.iter().find(|m| seen.contains(m)) {
            problems.push(format!("--out {}: {each} is written by another --out too", s.text));
            return;
        }
        seen.extend(mine);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(flags: &[&str]) -> ReplayArgs {
        let argv = [&["ticklane", "replay"][..], flags, &["in.csv"]].concat();
        match Cli::try_parse_from(argv).expect("flags").command {
            Command::Replay(a) => *a,
            _ => unreachable!("replay"),
        }
    }

    /// The outputs of `flags`, or their problems.
    fn outs(flags: &[&str], to_store: bool) -> Result<Vec<OutSpec>, String> {
        let mut problems = PlanError::default();
        let specs = OutSpec::all(&args(flags), to_store, &mut problems);
        match problems.to_string() {
            p if p.is_empty() => Ok(specs),
            p => Err(p),
        }
    }

    #[test]
    fn a_width_list_before_an_equals_sign_selects_those_widths() {
        let s = outs(&["--bars", "1s,1m,1h", "--out", "1s,1h=b_{bars}.csv", "--out", "a_{bars}.csv"], false);
        let s = s.expect("valid");
        assert_eq!((s[0].text.as_str(), s[0].takes.as_slice()), ("b_{bars}.csv", &[true, false, true][..]));
        assert_eq!((s[1].text.as_str(), s[1].takes.as_slice()), ("a_{bars}.csv", &[true, true, true][..]));
        for path in ["./1s=x.csv", "a=b.csv", "nats://h:4222/x=y"] {
            let s = outs(&["--out", path], false).expect("valid");
            assert_eq!((s[0].text.as_str(), s[0].takes.as_slice()), (path, &[true][..]), "{path} is a target");
        }
        let e = outs(&["--bars", "1s,1m", "--out", "1m,5m=x.csv"], false).expect_err("5m is not built");
        assert!(e.contains("--out 1m,5m=x.csv: 5m is not one of --bars 1s,1m"), "{e}");
    }

    #[test]
    fn formats_pair_with_outputs_in_order_or_apply_to_all() {
        let s = outs(&["--out", "a.csv", "--out", "b.jsonl", "--format", "csv", "--format", "jsonl"], false);
        let formats: Vec<OutFormat> = s.expect("valid").iter().map(|o| o.format).collect();
        assert_eq!(formats, [OutFormat::Csv, OutFormat::Jsonl]);
        let s = outs(&["--out", "a.jsonl", "--out", "b.jsonl", "--format", "jsonl"], false).expect("valid");
        assert!(s.iter().all(|o| o.format == OutFormat::Jsonl));
        let e = outs(&["--out", "a", "--out", "b", "--out", "c", "--format", "csv", "--format", "csv"], false);
        assert!(e.expect_err("2 for 3").contains("--format: given 2 times for 3 --out"));
    }

    /// No `--out`: stdout takes every width (so several need `--out` with `{bars}`), but the
    /// finest when the store takes it.
    #[test]
    fn without_out_stdout_takes_what_the_store_does_not() {
        let s = outs(&["--bars", "1s"], false).expect("valid");
        assert!(s.len() == 1 && s[0].is_stdout() && s[0].takes == [true]);
        let e = outs(&["--bars", "1s,1m"], false).expect_err("two widths on stdout");
        assert!(e.contains("--out needs a {bars} placeholder"), "{e}");
        let s = outs(&["--bars", "1s,1m"], true).expect("the store takes 1s, stdout 1m");
        assert!(s.len() == 1 && s[0].is_stdout() && s[0].takes == [false, true]);
        let ticks = ["--bars", "1s,1m", "--ticks-out", "nats://h:4222/t"];
        let s = outs(&ticks, false).expect("ticks out, no bars");
        assert!(s.len() == 1 && s[0].takes == [false, false], "no bars are made");
        let s = outs(&ticks, true).expect("ticks out, the store takes 1s, stdout 1m");
        assert!(s.len() == 1 && s[0].takes == [false, true]);
    }

    /// The coarsest width must go to an output; a finer one may only feed the coarser ones.
    #[test]
    fn only_the_coarsest_width_must_be_taken() {
        let e = outs(&["--bars", "1s,1m", "--out", "1s=-"], false).expect_err("1m untaken");
        assert!(e.contains("--bars 1s,1m: no --out takes 1m"), "{e}");
        let e = outs(&["--bars", "1s,1m", "--out", "1s=x.csv"], true).expect_err("the store takes only 1s");
        assert!(e.contains("no --out takes 1m"), "{e}");
        let s = outs(&["--bars", "1s,1m,1h", "--out", "1h=h.csv"], false).expect("1s and 1m feed 1h");
        assert_eq!(s[0].takes, [false, false, true]);
        outs(&["--bars", "1s,1m", "--out", "1m,1m=x.csv"], false).expect("1m named twice is 1m");
    }
}
