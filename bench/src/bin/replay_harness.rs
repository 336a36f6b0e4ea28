//! Replay throughput harness (issue 12): `ticklane replay --dedupe --bars 1s` at `--shards 1`
//! and `2` beside the strongest single-threaded programs we have for the job — our own
//! `handwritten_replay` and, with `--baseline PATH`, `../shared/baseline` — on a generated
//! capture as ticklane CSV (1% duplicates) and as DBN (no trade ids, so no duplicates; the
//! shared baseline reads CSV only), interleaved, median of N runs, with peak RSS from GNU time.
//! Every output must be byte-identical to the hand-written program's, or the harness fails.
//! `--shape venue` generates venue-prefixed names of 15–25 bytes with 2 s of disorder and
//! replays with `--max-delay 2s`. `--fresh` removes each program's output before its run, so
//! that no program pays the file system's cost of replacing the previous run's 100 MB output:
//! on this VM's ext4, `strace -T` timed opening it with `O_TRUNC` at about 20 ms (its blocks
//! freed) and closing it at about 30 ms (a truncated file is flushed at close), about 50 ms
//! for every program alike, a tenth of a DBN run.
//!
//! ```text
//! cargo build --release -p ticklane-tools -p ticklane-bench
//! cargo build --release --manifest-path ../shared/baseline/Cargo.toml --target-dir target/baseline
//! target/release/replay_harness [ROWS=10000000] [RUNS=5] [--baseline target/baseline/release/baseline] [--shape venue] [--fresh]
//! ```
//! Peak RSS comes from `/usr/bin/time` (Debian package `time`); without it only times are shown.

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    secs: f64,
    /// Peak RSS, when GNU time is there to measure it.
    rss_kib: Option<u64>,
}

fn timed(cmd: &[&str]) -> Result<Run, String> {
    if !Path::new("/usr/bin/time").exists() {
        // Without GNU time: wall time only.
        let t0 = std::time::Instant::now();
        let o = Command::new(cmd[0]).args(&cmd[1..]).output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if !o.status.success() {
            return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr)));
        }
        return Ok(Run { secs: t0.elapsed().as_secs_f64(), rss_kib: None });
    }
    let o = Command::new("/usr/bin/time")
        .args(["-f", "TIMING %e %M"])
        .args(cmd)
        .output()
        .map_err(|e| format!("cannot run /usr/bin/time (apt-get install time): {e}"))?;
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(format!("{cmd:?} failed: {err}"));
    }
    let line = err.lines().rev().find(|l| l.starts_with("TIMING ")).ok_or("no timing line")?;
    let mut it = line.split_whitespace().skip(1);
    let secs = it.next().and_then(|s| s.parse().ok()).ok_or("bad time")?;
    let rss_kib = Some(it.next().and_then(|s| s.parse().ok()).ok_or("bad rss")?);
    Ok(Run { secs, rss_kib })
}

fn digest(p: &Path) -> Result<u64, String> {
    std::fs::read(p).map(|b| ticklane::fnv1a64(&b)).map_err(|e| format!("{}: {e}", p.display()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What to run: rows, runs, the shared baseline if given, and the capture's shape.
struct Options {
    rows: u64,
    runs: usize,
    baseline: Option<PathBuf>,
    venue: bool,
    /// Remove each output before its run.
    fresh: bool,
}

fn options() -> Result<Options, String> {
    let mut o = Options { rows: 10_000_000, runs: 5, baseline: None, venue: false, fresh: false };
    let mut args = std::env::args().skip(1);
    let mut positional = 0;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--fresh" => o.fresh = true,
            "--baseline" => o.baseline = Some(PathBuf::from(args.next().ok_or("--baseline needs a path")?)),
            "--shape" => match args.next().as_deref() {
                Some("venue") => o.venue = true,
                Some("default") => o.venue = false,
                other => return Err(format!("--shape: expected default or venue, found {other:?}")),
            },
            n if positional == 0 => (o.rows, positional) = (n.parse().map_err(|e| format!("ROWS: {e}"))?, 1),
            n if positional == 1 => (o.runs, positional) = (n.parse().map_err(|e| format!("RUNS: {e}"))?, 2),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    if o.runs == 0 {
        return Err("RUNS must be at least 1".into());
    }
    Ok(o)
}

fn main() -> Result<(), String> {
    let opt = options()?;
    let bin = |name: &str| -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join(name)))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let (ticklane, hand) = (bin("ticklane"), bin("handwritten_replay"));
    let dir = std::env::temp_dir().join("ticklane-replay-harness");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for (format, dups) in [("csv", "0.01"), ("dbn", "0")] {
        if format == "dbn" && opt.venue {
            continue; // DBN names instruments by id
        }
        let input = generate(&ticklane, &dir, &opt, format, dups)?;
        let h = Harness { ticklane: ticklane.clone(), hand: hand.clone(), dir: dir.clone(), opt: &opt };
        h.scenario(&input, format, dups)?;
    }
    Ok(())
}

/// The capture for `format`, generated once and kept in `dir`.
fn generate(ticklane: &Path, dir: &Path, opt: &Options, format: &str, dups: &str) -> Result<PathBuf, String> {
    let shape = if opt.venue { "-venue" } else { "" };
    let input = dir.join(format!("gen-{}{shape}.{format}", opt.rows));
    if input.exists() {
        return Ok(input);
    }
    eprintln!("generating {} trades over 1000 instruments as {format} …", opt.rows);
    let mut cmd = Command::new(ticklane);
    cmd.args(["gen", "--rows", &opt.rows.to_string(), "--instruments", "1000", "--dup-fraction", dups]);
    cmd.args(["--seed", "11", "--format", format]);
    if opt.venue {
        cmd.args(["--names", "venue", "--disorder", "2s"]);
    }
    let st = cmd
        .arg("--out")
        .arg(&input)
        .status()
        .map_err(|e| format!("{}: {e} (build it: cargo build --release -p ticklane-tools)", ticklane.display()))?;
    if !st.success() {
        return Err("ticklane gen failed".into());
    }
    Ok(input)
}

/// The programs compared, where they write, and how much they replay.
struct Harness<'a> {
    ticklane: PathBuf,
    hand: PathBuf,
    dir: PathBuf,
    opt: &'a Options,
}

impl Harness<'_> {
    /// The commands to time on `input`, each with its name and output file.
    fn programs(&self, input: &Path, format: &str) -> Vec<(String, Vec<String>, PathBuf)> {
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let out = |k: &str| self.dir.join(format!("out-{format}-{k}.csv"));
        let delay = if self.opt.venue { 2_000_000_000u64 } else { 0 };
        let mut v = Vec::new();
        let o = out("hand");
        let mut hand = vec![s(&self.hand), s(input), s(&o)];
        hand.extend(["--max-delay-ns".to_string(), delay.to_string()]);
        v.push(("hand-written (1 thread)".to_string(), hand, o));
        if let Some(b) = self.opt.baseline.as_ref().filter(|_| format == "csv") {
            let o = out("shared");
            let cmd =
                [s(b), s(input), "1".into(), "--dedupe".into(), "--max-delay-ns".into(), delay.to_string(), s(&o)];
            v.push(("shared/baseline (1 thread)".to_string(), cmd.to_vec(), o));
        }
        for shards in ["1", "2"] {
            let o = out(shards);
            let mut cmd = vec![s(&self.ticklane), "replay".into(), "--dedupe".into(), "--bars".into(), "1s".into()];
            cmd.extend(["--max-delay".into(), format!("{delay}ns"), "--shards".into(), shards.into()]);
            cmd.extend(["--out".into(), s(&o), s(input)]);
            v.push((format!("ticklane --shards {shards}"), cmd, o));
        }
        v
    }

    /// Times the programs on `input`, interleaved, and checks their outputs are byte-identical.
    fn scenario(&self, input: &Path, format: &str, dups: &str) -> Result<(), String> {
        let (rows, runs) = (self.opt.rows, self.opt.runs);
        let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
        let progs = self.programs(input, format);
        let mut secs = vec![Vec::new(); progs.len()];
        let mut rss: Vec<Option<u64>> = vec![None; progs.len()];
        for r in 0..runs {
            for (k, (_, cmd, out)) in progs.iter().enumerate() {
                let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
                if self.opt.fresh {
                    let _ = std::fs::remove_file(out); // absent the first time
                }
                let run = timed(&cmd)?;
                secs[k].push(run.secs);
                rss[k] = rss[k].max(run.rss_kib);
            }
            let want = digest(&progs[0].2)?;
            for (name, _, out) in progs.iter().skip(1) {
                if digest(out)? != want {
                    return Err(format!("run {r}: {name} output differs from the hand-written program's"));
                }
            }
        }
        let medians: Vec<f64> = secs.into_iter().map(median).collect();
        // The yardstick: the faster of the single-threaded programs.
        let best = medians.iter().zip(&progs).filter(|(_, p)| p.0.contains("1 thread")).map(|(m, _)| *m);
        let best = best.fold(f64::INFINITY, f64::min);
        let shape = if self.opt.venue { ", venue names, 2 s disorder, --max-delay 2s" } else { "" };
        let fresh = if self.opt.fresh { ", outputs written to fresh files" } else { "" };
        println!(
            "{format}: {rows} trades, 1000 instruments, {dups} duplicates{shape}, {:.0} MiB; {runs} interleaved runs, median{fresh}",
            size as f64 / 1048576.0
        );
        println!("{:<28} {:>9} {:>14} {:>16} {:>12}", "program", "seconds", "trades/s", "vs best 1-thread", "peak RSS");
        for (k, (name, _, _)) in progs.iter().enumerate() {
            let m = medians[k];
            let peak = rss[k].map_or("n/a".to_string(), |r| format!("{:.1} MiB", r as f64 / 1024.0));
            println!("{:<28} {:>9.3} {:>14.0} {:>15.2}x {:>12}", name, m, rows as f64 / m, best / m, peak);
        }
        println!("all outputs byte-identical: yes\n");
        Ok(())
    }
}
