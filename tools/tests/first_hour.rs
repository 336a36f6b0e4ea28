//! What a new user hit in their first hour (issue 17), each row through the real binary: no
//! input crashes it, errors are bounded and located, nothing wrong is accepted silently,
//! inputs come as users have them, signals and full disks leave a consistent, counted result.

mod common;

use common::{data, replay, s, tmp, BIN, HEADER};

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = tmp(name);
    std::fs::write(&p, bytes).expect("write input");
    p
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 2, never a panic (101), with `needle` in the message.
fn bad_input(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", err(o));
    assert!(err(o).contains(needle), "{needle:?} missing from {:?}", err(o));
    assert!(!err(o).contains("panicked"), "{}", err(o));
}

fn summary(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("summary written")).expect("summary is JSON")
}

/// Runs `f`, failing if it takes more than a minute (a hang, not a speed check).
fn watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("hung for a minute")
}

#[test]
fn a_multibyte_character_in_a_timestamp_is_bad_input_not_a_panic() {
    let f = write("mb.csv", "ts_event,instrument,price,size\n2023-12-25T23:00:00+a€b,X,1,1\n".as_bytes());
    bad_input(
        &replay(&[s(&f)]),
        "mb.csv:2: ts_event: expected integer nanoseconds or RFC 3339 time, found \"2023-12-25T23:00:00+a€b\"",
    );
}

/// A DBN file from `ticklane gen`, its metadata and first record kept, then `tail`.
fn dbn_with(name: &str, tail: &[u8], version: Option<u8>) -> PathBuf {
    let full = tmp(&format!("{name}.full.dbn"));
    let g = Command::new(BIN).args(["gen", "--rows", "5", "--format", "dbn", "--out", s(&full)]).output().expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", err(&g));
    let b = std::fs::read(&full).expect("read");
    let meta = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    let mut v = b[..8 + meta].to_vec();
    if let Some(ver) = version {
        v[3] = ver;
    }
    v.extend_from_slice(tail);
    write(name, &v)
}

#[test]
fn short_dbn_records_are_bad_input_not_a_panic() {
    let short = |rtype: u8| [&[5u8, rtype][..], &[0u8; 18]].concat();
    bad_input(
        &replay(&[s(&dbn_with("short_trade.dbn", &short(0x00), None))]),
        "a trade record of 20 bytes, shorter than",
    );
    bad_input(
        &replay(&[s(&dbn_with("short_mbp1.dbn", &short(0x01), None))]),
        "an MBP-1 record of 20 bytes, shorter than",
    );
    // A version-1 definition record is no trade: skipped, whatever its length, no panic.
    let o = replay(&[s(&dbn_with("short_def_v1.dbn", &short(0x13), Some(1)))]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

#[test]
fn a_raw_dbn_cut_mid_record_is_reported_with_its_offset() {
    let full = tmp("whole.dbn");
    let g =
        Command::new(BIN).args(["gen", "--rows", "10", "--format", "dbn", "--out", s(&full)]).output().expect("gen");
    assert_eq!(g.status.code(), Some(0), "{}", err(&g));
    let b = std::fs::read(&full).expect("read");
    let cut = write("cut.dbn", &b[..b.len() - 7]);
    let o = replay(&[s(&cut)]);
    bad_input(&o, &format!("cut.dbn: byte {}: the last 41 bytes are an incomplete record", b.len() - 48));
    let whole = replay(&[s(&write("nine.dbn", &b[..b.len() - 48]))]);
    assert_eq!(whole.status.code(), Some(0), "{}", err(&whole));
    assert!(o.stdout == whole.stdout, "the bars of the 9 whole trades are still written");
}

#[test]
fn sizes_must_be_positive_prices_may_be_anything() {
    let f = write("sizes.csv", b"ts_event,instrument,price,size\n1,X,-5,1\n2,X,0,2\n3,X,1,-4\n4,X,1,0\n");
    bad_input(&replay(&[s(&f)]), "sizes.csv:4: size must be positive, found \"-4\"");
    let sum = tmp("sizes.json");
    let o = replay(&["--on-error", "skip", "--summary", s(&sum), s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        format!("{HEADER}\nX,0,1000000000,-5,0,-5,0,3,2,-1.666666667,0\n"),
        "negative and zero prices are kept"
    );
    assert_eq!(summary(&sum)["malformed"], serde_json::json!({"bad_size": 2}));
}

#[test]
fn times_whose_window_end_would_overflow_are_refused_and_counted() {
    let f = write(
        "far.csv",
        b"ts_event,instrument,price,size\n1,X,1,1\n9223372036854775000,X,1,1\n9223372036854775806,X,1,1\n",
    );
    bad_input(&replay(&[s(&f)]), "far.csv:3: ts_event 9223372036854775000 is outside");
    let sum = tmp("far.json");
    let o = replay(&["--on-error", "skip", "--summary", s(&sum), s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(out(&o).lines().count(), 2, "the one representable trade makes a bar");
    assert_eq!(summary(&sum)["malformed"], serde_json::json!({"bad_timestamp": 2}));
}

#[test]
fn garbage_gets_a_short_error_in_bounded_memory() {
    // 2 GB of NUL bytes (sparse), under a 512 MB address-space limit: refused at once.
    let nul = tmp("nul.bin");
    std::fs::File::create(&nul).and_then(|f| f.set_len(2 << 30)).expect("sparse file");
    let o = Command::new("sh")
        .args(["-c", &format!("ulimit -v 524288; exec {BIN} replay {}", s(&nul))])
        .output()
        .expect("run under a memory limit");
    bad_input(&o, "does not look like text (a NUL byte at offset 0); supported inputs:");
    assert!(o.stderr.len() < 1024, "{} bytes of stderr", o.stderr.len());
    // After a good header, a line without end: cut at 1 MiB and reported, briefly.
    let mut body = b"ts_event,instrument,price,size\n".to_vec();
    body.extend(std::iter::repeat_n(b'\0', 5 << 20));
    let o = replay(&[s(&write("long.csv", &body))]);
    bad_input(&o, "long.csv:2: a line longer than 1048576 bytes");
    assert!(o.stderr.len() < 1024, "{} bytes of stderr", o.stderr.len());
    // A 500 kB field is quoted in 80 bytes; a 10 MB one makes a line too long to keep.
    for (n, needle) in [(500_000, "price \"999"), (10_000_000, "a line longer than 1048576 bytes")] {
        let big = format!("ts_event,instrument,price,size\n1,X,{},1\n", "9".repeat(n));
        let o = replay(&[s(&write("bigfield.csv", big.as_bytes()))]);
        bad_input(&o, needle);
        assert!(o.stderr.len() < 1024, "{} bytes of stderr", o.stderr.len());
    }
    // Random bytes with no NUL and no newline: never echoed whole.
    let noise: Vec<u8> =
        (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 | 1).filter(|&b| b != b'\n').collect();
    let o = replay(&[s(&write("noise.bin", &noise))]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(o.stderr.len() < 1024, "{} bytes of stderr", o.stderr.len());
}

#[test]
fn inputs_of_another_kind_say_what_they_look_like() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    let quotes = shared.join("tardis_binance-futures_BTCUSDT_quotes_2020-02-22.csv");
    let stream = shared.join("binance_spot_btcusdt_20240808.stream.gz");
    let tardis_quotes = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n";
    let q = if quotes.exists() { quotes } else { write("quotes.csv", tardis_quotes.as_bytes()) };
    bad_input(
        &replay(&["--kind", "trades", s(&q)]),
        "this looks like a Tardis quotes file: replay it with --kind quotes",
    );
    let line = "1723161253937085768 {\"stream\":\"btcusdt@trade\",\"data\":{\"e\":\"trade\"}}\n";
    let st = if stream.exists() { stream } else { write("stream.txt", line.as_bytes()) };
    bad_input(
        &replay(&["--input-format", "csv", s(&st)]),
        "this looks like a Binance stream capture (`<receive_ns> <json>` lines): read it with --input-format binance-stream",
    );
    bad_input(&replay(&[s(&st)]), "--out: the input holds trades and quotes, which make two outputs");
    let dbn = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/GLBX_ESU4_trades_2024-07-01.dbn.zst");
    bad_input(
        &replay(&["--kind", "quotes", s(&dbn)]),
        "this DBN file's schema holds trades, no quotes: replay it with --kind trades",
    );
    // A live URL given to replay was "No such file or directory".
    bad_input(&replay(&["nats://127.0.0.1:4222/ticks"]), "a live stream: ticklane run reads it");
}

#[test]
fn inputs_as_users_have_them_bom_quotes_stdin_and_compression() {
    let text = "\u{feff}ts_event,instrument,price,size\n1,\"X:A,B\",1,1\n2,\"q\"\"uote\",2,1\n";
    let want =
        format!("{HEADER}\n\"X:A,B\",0,1000000000,1,1,1,1,1,1,1,0\n\"q\"\"uote\",0,1000000000,2,2,2,2,1,1,2,0\n");
    let o = replay(&[s(&write("bom.csv", text.as_bytes()))]);
    assert_eq!((o.status.code(), out(&o)), (Some(0), want.clone()), "{}", err(&o));
    let mut child = Command::new(BIN)
        .args(["replay", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed stdin");
    let o = child.wait_with_output().expect("wait");
    assert_eq!((o.status.code(), out(&o)), (Some(0), want.clone()), "{}", err(&o));
    let plain = std::fs::read(data("GLBX_ESH4_trades_2023-12-25.csv")).expect("capture");
    let reference = replay(&[s(&data("GLBX_ESH4_trades_2023-12-25.csv"))]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).expect("gzip");
    let gz = write("esh4.csv.gz", &gz.finish().expect("gzip"));
    let zst = write("esh4.csv.zst", &zstd::encode_all(&plain[..], 3).expect("zstd"));
    for f in [gz, zst] {
        let o = replay(&[s(&f)]);
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        assert!(o.stdout == reference.stdout, "{}: differs from the plain file's bars", f.display());
    }
}

#[test]
fn a_signal_interrupts_a_blocked_read_and_everything_accepted_is_written() {
    let fifo = tmp("feed.fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let mut text = String::from("ts_event,instrument,price,size\n");
    for i in 0..49i64 {
        text.push_str(&format!("{},X,{},1\n", i * 100_000_000, 100 + i));
    }
    let sum = tmp("fifo.json");
    let child = Command::new(BIN)
        .args(["replay", "--pin", "never", "--summary", s(&sum), s(&fifo)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    // Bytes the process has read so far (its only reads after opening the FIFO are of it).
    let rchar = move || {
        let t = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
        t.lines().find_map(|l| l.strip_prefix("rchar: ")?.parse::<usize>().ok()).unwrap_or(usize::MAX)
    };
    // Opening blocks until the replay has opened the FIFO; the writer then keeps it open,
    // so the replay blocks reading after the 49 trades.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).expect("open the FIFO");
    let before = rchar();
    writer.write_all(text.as_bytes()).expect("write");
    let o = watchdog(move || {
        while rchar() < before.saturating_add(text.len()) {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill").success());
        let o = child.wait_with_output().expect("wait");
        drop(writer);
        o
    });
    assert_eq!(o.status.code(), Some(143), "{}", err(&o));
    assert_eq!(out(&o).lines().count(), 6, "5 bars of the 49 trades:\n{}", out(&o));
    assert!(err(&o).contains("stopped by signal 15 after 49 trades"), "{}", err(&o));
    assert_eq!(summary(&sum)["bars"], 5);
}

/// A second signal while the drain is stuck (the output is a FIFO whose reader stopped
/// reading): exit at once, saying exactly how many complete bars the output holds.
#[test]
fn a_second_signal_exits_at_once_and_counts_exactly_what_was_written() {
    let fifo = tmp("out.fifo");
    let _ = std::fs::remove_file(&fifo);
    assert!(Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
    let input = data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"); // 2,959 bars, 339 kB
    let child = Command::new(BIN)
        .args(["replay", "--pin", "never", "--out", s(&fifo), s(&input)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let mut reader = std::fs::File::open(&fifo).expect("open the FIFO");
    let mut got = vec![0u8; 1000];
    reader.read_exact(&mut got).expect("the first bytes");
    let (o, rest) = watchdog(move || {
        // The writer is blocked once it has written what the pipe holds (64 kB) after them.
        let wchar = || {
            let t = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
            t.lines().find_map(|l| l.strip_prefix("wchar: ")?.parse::<usize>().ok()).unwrap_or(usize::MAX)
        };
        while wchar() < 60_000 {
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..2 {
            assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill").success());
            std::thread::sleep(Duration::from_millis(200));
        }
        let o = child.wait_with_output().expect("wait");
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).expect("what the pipe held");
        (o, rest)
    });
    got.extend(rest);
    assert_eq!(o.status.code(), Some(143), "{}", err(&o));
    let bars = got.iter().filter(|&&c| c == b'\n').count() - 1;
    assert!(got.ends_with(b"\n"), "no half line reached the reader");
    assert!(err(&o).contains(&format!("the output holds {bars} complete bars")), "{bars}: {}", err(&o));
}

#[test]
fn a_paced_run_writes_each_bar_as_it_is_released() {
    // 49 trades 100 ms apart at recorded speed: about 5 s; the first bar is final after 1 s.
    let mut text = String::from("ts_event,instrument,price,size\n");
    for i in 0..49i64 {
        text.push_str(&format!("{},X,{},1\n", i * 100_000_000, 100 + i));
    }
    let f = write("paced.csv", text.as_bytes());
    let mut child = Command::new(BIN)
        .args(["replay", "--speed", "1", s(&f)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let first = watchdog(move || {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while got.iter().filter(|&&c| c == b'\n').count() < 2 && stdout.read(&mut byte).expect("read") == 1 {
            got.push(byte[0]);
        }
        (String::from_utf8_lossy(&got).into_owned(), stdout)
    });
    let running = child.try_wait().expect("try_wait").is_none();
    assert!(first.0.ends_with("X,0,1000000000,100,109,100,109,10,10,104.5,0\n"), "{:?}", first.0);
    assert!(running, "the first bar must arrive while the replay still runs (pacing holds the rest for seconds)");
    let _ = child.kill();
    let _ = child.wait();
}

/// Under a terminal (a pseudo-terminal from util-linux's `script`), a paced run shows the
/// progress bar moving by time, with the rate and the time left.
#[test]
fn a_paced_run_under_a_terminal_shows_progress() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    let mut text = String::from("ts_event,instrument,price,size\n");
    for i in 0..300i64 {
        text.push_str(&format!("{},X,{},1\n", i * 10_000_000, 100 + i % 7));
    }
    let f = write("p300.csv", text.as_bytes());
    let cmd = format!("{BIN} replay --speed 2 --out /dev/null {}", s(&f));
    let o = watchdog(move || Command::new("script").args(["-qec", &cmd, "/dev/null"]).output().expect("script"));
    let screen = String::from_utf8_lossy(&o.stdout).replace('\r', "\n");
    let frames: Vec<&str> = screen.lines().filter(|l| l.contains(" trades (") && l.contains(" left, ")).collect();
    assert!(frames.len() >= 2, "the bar should have moved several times:\n{screen}");
    assert_ne!(frames.first(), frames.last(), "{screen}");
}

#[test]
fn a_full_disk_leaves_whole_lines_and_an_exact_account() {
    // A file-size limit (SIGXFSZ ignored) fails writes part-way exactly as a full disk does.
    let (outp, sum) = (tmp("limited.csv"), tmp("limited.json"));
    let cmd = format!(
        "ulimit -f 64; trap '' XFSZ; exec {BIN} replay --bars 1s --out {} --summary {} {}",
        s(&outp),
        s(&sum),
        s(&data("tardis_binance-futures_BTCUSDT_trades_2020-02-22.csv"))
    );
    let o = Command::new("sh").args(["-c", &cmd]).output().expect("run under a file-size limit");
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let text = std::fs::read_to_string(&outp).expect("output");
    assert!(text.ends_with('\n'), "no half line at the end");
    let lines = text.lines().count() as u64 - 1;
    assert!(lines > 0, "whole lines that fit are kept");
    assert!(err(&o).contains(&format!("--out {}: File too large", outp.display())), "{}", err(&o));
    assert!(err(&o).contains(&format!("after {lines} complete lines")), "{}", err(&o));
    let j = summary(&sum);
    assert_eq!(j["bars"], lines);
    assert!(j["bars_not_written"].as_u64().is_some_and(|n| n > 0), "{j}");
}

#[test]
fn every_output_path_is_checked_before_reading() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    for (flag, needle) in [
        ("--summary", "--summary /no/such/dir/s.json"),
        ("--late-out", "--late-out /no/such/dir/s.json"),
        ("--out", "--out /no/such/dir/s.json"),
    ] {
        let mut args = vec![flag, "/no/such/dir/s.json"];
        if flag == "--late-out" {
            args.extend(["--late", "side"]);
        }
        args.push(s(&f));
        let o = replay(&args);
        bad_input(&o, needle);
        assert!(o.stdout.is_empty(), "{flag}: nothing is written before the check");
    }
    let copy = write("input-and-output.csv", &std::fs::read(&f).expect("read"));
    bad_input(&replay(&["--out", s(&copy), s(&copy)]), "is also an input");
    assert!(std::fs::metadata(&copy).expect("still there").len() > 0, "the input was not truncated");
}

/// Two outputs naming one file, however spelled, are refused before anything is written: the
/// summary had silently replaced the bars (`--out x --summary x`), and late trades and bars
/// truncated each other. `-` is standard output for the summary and late trades as for `--out`.
#[test]
fn two_outputs_never_share_a_file() {
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    let bars = tmp("shared-output.csv");
    let dotted = format!("{}/./shared-output.csv", bars.parent().map(s).unwrap_or("."));
    for (flags, needle) in [
        (vec!["--summary", &dotted], "the same file as --out"),
        (vec!["--late", "side", "--late-out", &dotted], "the same file as --out"),
    ] {
        std::fs::write(&bars, b"kept\n").expect("scratch");
        let mut args = vec!["--out", s(&bars)];
        args.extend(flags);
        args.push(s(&f));
        bad_input(&replay(&args), needle);
        assert_eq!(std::fs::read(&bars).expect("still there"), b"kept\n", "{args:?}: nothing was written");
    }
    let widths = replay(&["--bars", "1s,1m", "--out", "w_{bars}.csv", "--summary", "w_1m.csv", s(&f)]);
    bad_input(&widths, "--summary w_1m.csv: the same file as --out w_1m.csv");

    // --late-out without a late policy that writes there was ignored.
    bad_input(&replay(&["--late-out", s(&tmp("late.csv")), s(&f)]), "add --late side");

    let o = replay(&["--out", s(&bars), "--summary", "-", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the summary on stdout");
    assert_eq!(j["bars"], 988, "{j}");
    bad_input(&replay(&["--out", "-", "--summary", "-", s(&f)]), "writes to standard output too");
}

#[test]
fn shards_far_beyond_the_cores_are_refused_and_beyond_them_warned_about() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let f = data("GLBX_ESH4_trades_2023-12-25.csv");
    let many = (4 * cores + 1).to_string();
    bad_input(&replay(&["--shards", &many, s(&f)]), "--oversubscribe");
    let o = replay(&["--shards", &many, "--oversubscribe", s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = replay(&["--shards", &(cores + 1).to_string(), s(&f)]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(err(&o).contains(&format!("warning: {} shards on {cores} core(s)", cores + 1)), "{}", err(&o));
}

/// The replay examples of `--help`, continuation lines joined, split as a shell would split
/// them (single quotes only: all they use).
fn help_examples(help: &str) -> Vec<Vec<String>> {
    let mut joined: Vec<String> = Vec::new();
    let mut open = false;
    for line in help.lines().map(str::trim) {
        match joined.last_mut() {
            Some(last) if open => last.push_str(line),
            _ if line.starts_with("ticklane replay ") => joined.push(line.to_string()),
            _ => {}
        }
        open = line.ends_with('\\') && !joined.is_empty();
        if let (true, Some(last)) = (open, joined.last_mut()) {
            last.pop();
        }
    }
    let words = |l: &String| -> Vec<String> {
        let mut out = vec![String::new()];
        let mut quoted = false;
        for c in l.chars() {
            match c {
                '\'' => quoted = !quoted,
                ' ' if !quoted => out.push(String::new()),
                c => out.last_mut().map_or((), |w| w.push(c)),
            }
        }
        out.retain(|w| !w.is_empty());
        out
    };
    joined.iter().map(words).collect()
}

/// Every `ticklane replay` example in `--help` runs as printed on the bundled captures (but the
/// ones needing a database or taking wall time: `--sink-postgres`, `--speed`); they named
/// files a user does not have.
#[test]
fn every_replay_example_in_help_runs_on_the_bundled_captures() {
    let o = Command::new(BIN).args(["replay", "--help"]).output().expect("help");
    let examples = help_examples(&out(&o));
    assert!(examples.len() >= 10, "{examples:?}");
    let dir = tmp("help-examples");
    std::fs::create_dir_all(&dir).expect("dir");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    let link = dir.join("data");
    if !link.exists() {
        std::os::unix::fs::symlink(&data, &link).expect("a link to data/");
    }
    let mut ran = 0;
    for words in examples.iter().filter(|w| !w.iter().any(|a| a == "--sink-postgres" || a == "--speed")) {
        assert_eq!(words[..2], ["ticklane", "replay"], "{words:?}");
        let o = Command::new(BIN).args(&words[1..]).current_dir(&dir).output().expect("example");
        assert_eq!(o.status.code(), Some(0), "{}: {}", words.join(" "), err(&o));
        ran += 1;
    }
    assert!(ran >= 10, "{ran} examples ran");
}

#[test]
fn help_is_grouped_with_examples_and_exit_codes() {
    let o = Command::new(BIN).args(["replay", "--help"]).output().expect("help");
    let h = out(&o);
    for needle in [
        "Input:",
        "Bars:",
        "Late data:",
        "Dedupe:",
        "Output:",
        "Running:",
        "PostgreSQL store:",
        "Examples:",
        "Exit codes: 0 done",
    ] {
        assert!(h.contains(needle), "{needle:?} missing from --help");
    }
    assert_eq!(o.status.code(), Some(0));
}
