//! Replay throughput harness (issue 4): `ticklane replay --dedupe --bars 1s` at `--shards 1`
//! and `2` beside the hand-written single-threaded program (`handwritten_replay`), on a
//! generated capture as ticklane CSV (1% duplicates) and as DBN (no trade ids, so no
//! duplicates), interleaved, median of N runs, with peak RSS from GNU time. Every output must
//! be byte-identical to the hand-written program's, or the harness fails.
//!
//! ```text
//! cargo build --release -p ticklane-tools -p ticklane-bench
//! target/release/replay_harness [ROWS=10000000] [RUNS=5]
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

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let rows: u64 = args.get(1).map_or(Ok(10_000_000), |s| s.parse()).map_err(|e| format!("ROWS: {e}"))?;
    let runs: usize = args.get(2).map_or(Ok(5), |s| s.parse()).map_err(|e| format!("RUNS: {e}"))?;
    let bin = |name: &str| -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join(name)))
            .unwrap_or_else(|| PathBuf::from(name))
    };
    let (ticklane, hand) = (bin("ticklane"), bin("handwritten_replay"));
    let dir = std::env::temp_dir().join("ticklane-replay-harness");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for (format, ext, dups) in [("csv", "csv", "0.01"), ("dbn", "dbn", "0")] {
        let input = dir.join(format!("gen-{rows}.{ext}"));
        if !input.exists() {
            eprintln!("generating {rows} trades over 1000 instruments as {format} …");
            let st = Command::new(&ticklane)
                .args([
                    "gen",
                    "--rows",
                    &rows.to_string(),
                    "--instruments",
                    "1000",
                    "--dup-fraction",
                    dups,
                    "--seed",
                    "11",
                ])
                .args(["--format", format, "--out"])
                .arg(&input)
                .status()
                .map_err(|e| {
                    format!("{}: {e} (build it: cargo build --release -p ticklane-tools)", ticklane.display())
                })?;
            if !st.success() {
                return Err("ticklane gen failed".into());
            }
        }
        let h = Harness { ticklane: ticklane.clone(), hand: hand.clone(), dir: dir.clone(), rows, runs };
        h.scenario(&input, format, dups)?;
    }
    Ok(())
}

/// The programs compared, where they write, and how much they replay.
struct Harness {
    ticklane: PathBuf,
    hand: PathBuf,
    dir: PathBuf,
    rows: u64,
    runs: usize,
}

impl Harness {
    /// Times the programs on `input` (`rows` trades of `format`, `dups` of them duplicates),
    /// interleaved, and checks their outputs are byte-identical.
    fn scenario(&self, input: &Path, format: &str, dups: &str) -> Result<(), String> {
        let Harness { ticklane, hand, dir, rows, runs } = self;
        let (rows, runs) = (*rows, *runs);
        let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let (inp, t, h) = (s(input), s(ticklane), s(hand));
        let outs: Vec<PathBuf> = (0..3).map(|k| dir.join(format!("out-{format}-{k}.csv"))).collect();
        let o: Vec<String> = outs.iter().map(|p| s(p)).collect();
        let cmds: [(&str, Vec<&str>); 3] = [
            ("hand-written (1 thread)", vec![&h, &inp, &o[0]]),
            (
                "ticklane --shards 1",
                vec![&t, "replay", "--dedupe", "--bars", "1s", "--shards", "1", "--out", &o[1], &inp],
            ),
            (
                "ticklane --shards 2",
                vec![&t, "replay", "--dedupe", "--bars", "1s", "--shards", "2", "--out", &o[2], &inp],
            ),
        ];
        let mut secs = vec![Vec::new(); 3];
        let mut rss: [Option<u64>; 3] = [None; 3];
        for r in 0..runs {
            for (k, (_, cmd)) in cmds.iter().enumerate() {
                let run = timed(cmd)?;
                secs[k].push(run.secs);
                rss[k] = rss[k].max(run.rss_kib);
            }
            let want = digest(&outs[0])?;
            for (k, out) in outs.iter().enumerate().skip(1) {
                if digest(out)? != want {
                    return Err(format!("run {r}: {} output differs from the hand-written program's", cmds[k].0));
                }
            }
        }
        let base = median(secs[0].clone());
        println!(
            "{format}: {rows} trades, 1000 instruments, {dups} duplicates, {:.0} MiB; {runs} interleaved runs, median",
            size as f64 / 1048576.0
        );
        println!("{:<26} {:>9} {:>14} {:>10} {:>12}", "program", "seconds", "trades/s", "vs hand", "peak RSS");
        for (k, (name, _)) in cmds.iter().enumerate() {
            let m = median(secs[k].clone());
            let peak = rss[k].map_or("n/a".to_string(), |r| format!("{:.1} MiB", r as f64 / 1024.0));
            println!("{:<26} {:>9.3} {:>14.0} {:>9.2}x {:>12}", name, m, rows as f64 / m, base / m, peak);
        }
        println!("all outputs byte-identical: yes\n");
        Ok(())
    }
}
