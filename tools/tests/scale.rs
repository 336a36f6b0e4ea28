//! Scale-out contracts through the real binary (design.md §10): `ticklane partition` and
//! `ticklane assign` print the library's functions, and the README's Python computes the same
//! for names from real captures; `ticklane publish --partitions P` puts each tick on its
//! instrument's partition subject of a JetStream stream that records P (a real `nats-server`
//! started here), and a run over the whole stream makes the replay's bars; `--ticks-out`
//! forwards what a run accepted the same way.

mod common;

use common::nats::NatsServer;
use common::{data, replay, run, s, tmp};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use ticklane_tools::scale::{partition_of, Members};

/// Distinct instrument names of real captures and of names built to be awkward (long, spaces,
/// non-ASCII, punctuation).
fn names() -> Vec<String> {
    let mut v: Vec<String> =
        ["GLBX.MDP3:ESH4", "binance-futures:BTCUSDT", "binance:BTCUSDT", "x", "a name with spaces", "börse:DAX€"]
            .map(String::from)
            .to_vec();
    v.extend((0..300).map(|i| format!("synth:{}{i}", "S".repeat(i % 40))));
    v
}

fn stdout_lines(o: &std::process::Output) -> Vec<String> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).lines().map(String::from).collect()
}

#[test]
fn partition_prints_the_shard_function_from_args_and_from_stdin() {
    let names = names();
    let mut args = vec!["partition", "--partitions", "64"];
    args.extend(names.iter().map(String::as_str));
    let from_args = stdout_lines(&run(&args));
    let want: Vec<String> = names.iter().map(|n| format!("{n} {}", partition_of(n, 64))).collect();
    assert_eq!(from_args, want);
    assert!(want.iter().map(|l| l.rsplit(' ').next()).collect::<std::collections::HashSet<_>>().len() > 40);

    let mut child = Command::new(common::BIN)
        .args(["partition", "--partitions", "64"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane partition");
    let input = names.iter().map(|n| format!("{n}\r\n")).collect::<String>() + "\n";
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    assert_eq!(stdout_lines(&child.wait_with_output().expect("wait")), want, "CRLF and blank lines on stdin");
}

#[test]
fn assign_prints_each_partitions_owner_and_the_counts() {
    let o = run(&["assign", "--partitions", "64", "--workers", "w-c,w-a,w-b"]);
    let lines = stdout_lines(&o);
    let members = Members::new(&["w-a", "w-b", "w-c"]).expect("ids");
    let want: Vec<String> = (0..64).map(|p| format!("{p} {}", members.owner(p).expect("owner"))).collect();
    assert_eq!(lines, want);
    let count = |w: &str| lines.iter().filter(|l| l.ends_with(&format!(" {w}"))).count();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let summary = format!("w-a {}, w-b {}, w-c {}.", count("w-a"), count("w-b"), count("w-c"));
    assert!(stderr.contains(&summary), "{stderr} lacks {summary}");
    let reordered = stdout_lines(&run(&["assign", "--partitions", "64", "--workers", "w-b,w-c,w-a"]));
    assert_eq!(reordered, lines, "the members' order does not matter");
}

/// The README's Python block, run against both commands.
#[test]
fn the_readmes_python_computes_what_the_commands_print() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let block = readme.split("<!-- scale-out python").nth(1).expect("the README's scale-out block");
    let code = block.split("```python\n").nth(1).and_then(|b| b.split("```").next()).expect("a python block");
    let names = names();
    let workers = ["w-a", "worker.2", "W_3", "node-17", "x"];
    let driver = format!(
        "{code}\nimport sys\nnames = sys.stdin.read().split('\\n')[:-1]\nfor n in names: print(n, partition(n, 64))\n\
         for p in range(64): print(p, owner(p, {workers:?}))\n"
    );
    let script = tmp("partition.py");
    std::fs::write(&script, driver).expect("script");
    let mut py = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (bash .ci/test installs Debian's python3 when missing)");
    let input = names.iter().map(|n| format!("{n}\n")).collect::<String>();
    std::io::Write::write_all(&mut py.stdin.take().expect("stdin"), input.as_bytes()).expect("write");
    let got = stdout_lines(&py.wait_with_output().expect("python3"));

    let mut args = vec!["partition", "--partitions", "64"];
    args.extend(names.iter().map(String::as_str));
    let mut want = stdout_lines(&run(&args));
    want.extend(stdout_lines(&run(&["assign", "--partitions", "64", "--workers", &workers.join(",")])));
    assert_eq!(got, want);
}

#[test]
fn bad_partition_counts_and_worker_ids_exit_2_naming_the_option() {
    let cases: [(&[&str], &str); 18] = [
        (
            &[
                "run",
                "--worker",
                "w1",
                "--sink-postgres",
                "postgresql://x@h/db",
                "--ticks-out",
                "nats://h:1/t",
                "jetstream://h:1/T",
            ],
            "--ticks-out: not with --worker",
        ),
        (&["replay", "--ticks-out", "fwd.csv", "x.csv"], "--ticks-out fwd.csv: expected nats://"),
        (
            &["replay", "--ticks-partitions", "4", "--ticks-out", "nats://127.0.0.1:1/t", "x.csv"],
            "--ticks-partitions 4: partitions are subjects of a JetStream stream",
        ),
        (&["replay", "--ticks-format", "msgpack", "x.csv"], "--ticks-out"),
        (&["replay", "--ticks-out", "jetstream://127.0.0.1:1/T", "--ticks-partitions", "0", "x.csv"], "1 to 4096"),
        (&["partition", "--partitions", "0", "a"], "--partitions"),
        (&["partition", "--partitions", "4097", "a"], "1 to 4096"),
        (&["partition", "--partitions", "x", "a"], "--partitions"),
        (&["assign", "--partitions", "8"], "--workers"),
        (&["assign", "--partitions", "8", "--workers", "a,b,a"], "--workers: worker id `a` appears twice"),
        (&["assign", "--partitions", "8", "--workers", "a,b c"], "--workers: worker id `b c`"),
        (&["assign", "--partitions", "8", "--workers", "a,,b"], "--workers: worker id ``"),
        (
            &["publish", "--partitions", "8", "--to", "nats://127.0.0.1:1/t", "x.csv"],
            "--partitions needs --to jetstream://",
        ),
        (&["run", "--partition", "3", "nats://127.0.0.1:1/t"], "--partition N: only for jetstream://"),
        (&["run", "--partition", "x", "jetstream://127.0.0.1:1/T"], "--partition"),
        (
            &["run", "--worker", "a b", "--sink-postgres", "postgresql://x@h/db", "jetstream://127.0.0.1:1/T"],
            "--worker: worker id `a b`",
        ),
        (&["run", "--worker", "w1", "jetstream://127.0.0.1:1/T"], "--worker needs --sink-postgres"),
        (
            &[
                "run",
                "--worker",
                "w1",
                "--sink-postgres",
                "postgresql://x@h/db",
                "--out",
                "b.csv",
                "--partition",
                "1",
                "jetstream://127.0.0.1:1/T",
            ],
            "--out: a worker's bars go to --sink-postgres or a bus",
        ),
    ];
    for (args, says) in cases {
        let o = run(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr} lacks {says}");
    }
}

/// A generated capture over 200 instruments (written as `name`: each test its own, since the
/// tests of a file run at once) and a real one, as replay's input.
fn captures(name: &str) -> Vec<std::path::PathBuf> {
    let gen = tmp(name);
    let o = run(&["gen", "--rows", "20000", "--instruments", "200", "--dup-fraction", "0", "--out", s(&gen)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    vec![gen, data("GLBX_ESH4_trades_2023-12-25.csv")]
}

/// Every message on each partition subject: partition → instrument → ticks, read with the
/// official client.
fn ticks_by_partition(addr: &str, stream: &str, partitions: u32) -> BTreeMap<u32, BTreeMap<String, u64>> {
    use futures_util::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(addr).await.expect("connect"));
        let mut s = js.get_stream(stream).await.expect("stream");
        assert_eq!(s.info().await.expect("info").config.description.as_deref(), Some("ticklane ticks; partitions=8"));
        let mut out = BTreeMap::new();
        for p in 0..partitions {
            let subject = ticklane_tools::scale::partition_subject(stream, p);
            let count = s.info_with_subjects(&subject).await.expect("subjects").next().await;
            let n = count.map_or(0, |c| c.expect("count").1 as u64);
            let config = async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: subject.clone(),
                ..Default::default()
            };
            let c = s.create_consumer(config).await.expect("consumer");
            let mut msgs = c.messages().await.expect("messages").take(n as usize);
            let seen: &mut BTreeMap<String, u64> = out.entry(p).or_default();
            while let Some(m) = msgs.next().await {
                let m = m.expect("message");
                let format = if m.payload.first() == Some(&b'{') {
                    ticklane_tools::wire::WireFormat::Json
                } else {
                    ticklane_tools::wire::WireFormat::Msgpack
                };
                let name = match ticklane_tools::wire::decode(&m.payload, format).expect("a tick") {
                    ticklane_tools::wire::Tick::Trade(_, name) => name.to_string(),
                    ticklane_tools::wire::Tick::Quote(_, name) => name.to_string(),
                };
                *seen.entry(name).or_default() += 1;
            }
        }
        out
    })
}

/// The ticks of `by_partition`, each checked to sit on its instrument's partition of
/// `partitions`.
fn placed_total(by_partition: &BTreeMap<u32, BTreeMap<String, u64>>, partitions: u32) -> u64 {
    let mut total = 0;
    for (p, instruments) in by_partition {
        for (name, n) in instruments {
            assert_eq!(partition_of(name, partitions), *p, "{name} on partition {p}'s subject");
            total += n;
        }
    }
    total
}

/// `ticklane run ARGS… URL`, its bars to `out`, until its link has read `ticks` messages; then
/// drained. Its stderr.
fn run_until_read(url: &str, args: &[&str], out: &Path, ticks: u64) -> String {
    let metrics = common::free_port();
    let child = Command::new(common::BIN)
        .arg("run")
        .args(args)
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}"), "--out", s(out), url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    let child = common::Running(Some(child));
    common::wait_until("every tick read", || {
        common::sample(&common::http_get(("127.0.0.1", metrics), "/metrics"), "ticklane_link_messages_total")
            >= ticks as f64
    });
    child.terminate()
}

#[test]
fn publish_partitions_ticks_by_instrument_and_the_stream_keeps_the_count() {
    let server = NatsServer::start(tmp("nats-scale"));
    let url = format!("jetstream://{}/TICKS", server.addr());
    let files = captures("gen-publish.csv");
    let mut args = vec!["publish", "--partitions", "8", "--format", "msgpack", "--to", &url];
    args.extend(files.iter().map(|f| s(f)));
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let by_partition = ticks_by_partition(&server.addr(), "TICKS", 8);
    let total = placed_total(&by_partition, 8);
    let rows = |f: &Path| std::fs::read_to_string(f).expect("capture").lines().count() as u64 - 1;
    assert_eq!(total, files.iter().map(|f| rows(f)).sum::<u64>(), "every tick once");
    assert!(by_partition.values().filter(|m| !m.is_empty()).count() == 8, "200 instruments reach all 8");

    // The count is the stream's: a different one is refused, none follows it.
    let o = run(&["publish", "--partitions", "4", "--to", &url, s(&files[1])]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--partitions 4: stream TICKS holds 8 partitions (fixed when it was created)"), "{stderr}");
    let o = run(&["publish", "--to", &url, s(&files[1])]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = ticks_by_partition(&server.addr(), "TICKS", 8);
    let esh4 = partition_of("GLBX.MDP3:ESH4", 8);
    assert_eq!(after[&esh4]["GLBX.MDP3:ESH4"], 2 * by_partition[&esh4]["GLBX.MDP3:ESH4"], "followed the stream");
}

/// A run of one partition (`--partition N`) makes the replay's bars of exactly that partition's
/// instruments.
#[test]
fn a_partition_run_makes_the_replays_bars_of_its_instruments() {
    let server = NatsServer::start(tmp("nats-scale-one"));
    let url = format!("jetstream://{}/TICKS", server.addr());
    let files = captures("gen-one.csv");
    let mut args = vec!["publish", "--partitions", "8", "--to", &url];
    args.extend(files.iter().map(|f| s(f)));
    assert!(run(&args).status.success());
    let mut args = vec!["--out", "-"];
    args.extend(files.iter().map(|f| s(f)));
    let replayed = String::from_utf8(replay(&args).stdout).expect("utf-8");
    let want: Vec<&str> = replayed
        .lines()
        .skip(1)
        .filter(|l| l.split(',').next().is_some_and(|name| partition_of(name, 8) == 3))
        .collect();
    assert!(want.len() > 50, "partition 3 holds instruments");

    let (out, metrics) = (tmp("run-one.csv"), common::free_port());
    let child = Command::new(common::BIN)
        .args(["run", "--partition", "3", "--metrics-addr", &format!("127.0.0.1:{metrics}"), "--out", s(&out), &url])
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticklane run");
    let child = common::Running(Some(child));
    let consumer = || server.consumer("TICKS", "ticklane-p3");
    // Acknowledged once handed to the reader (no store): then the drain writes every bar.
    common::wait_until("partition 3 read", || {
        let c = consumer();
        c["num_pending"].as_u64() == Some(0) && c["num_ack_pending"].as_u64() == Some(0)
    });
    let stderr = child.terminate();
    let got = std::fs::read_to_string(&out).expect("run");
    let got: Vec<&str> = got.lines().skip(1).collect();
    assert!(got == want, "{} bars, want {}:\n{stderr}", got.len(), want.len());
}

/// One run reading the whole partitioned stream makes the replay's bars.
#[test]
fn a_run_over_every_partition_makes_the_replays_bars() {
    let server = NatsServer::start(tmp("nats-scale-run"));
    let url = format!("jetstream://{}/TICKS", server.addr());
    let files = captures("gen-run.csv");
    let mut args = vec!["publish", "--partitions", "8", "--to", &url];
    args.extend(files.iter().map(|f| s(f)));
    assert!(run(&args).status.success());
    let total: u64 =
        files.iter().map(|f| std::fs::read_to_string(f).expect("capture").lines().count() as u64 - 1).sum();

    let want = tmp("replay.csv");
    let mut args = vec!["--out", s(&want)];
    args.extend(files.iter().map(|f| s(f)));
    assert!(replay(&args).status.success());

    let out = tmp("run.csv");
    let stderr = run_until_read(&url, &[], &out, total);
    let (got, want) = (std::fs::read_to_string(&out).expect("run"), std::fs::read_to_string(&want).expect("replay"));
    assert!(got == want, "the run's bars differ from the replay's:\n{stderr}");
}

/// `--ticks-out` forwards the trades a run accepted (after dedupe) onto the partition subjects,
/// in event-time order, and makes no bars unless asked (at any `--bars`); a run over the stream makes the bars of
/// `replay --dedupe`. Forwarded again without dedupe, nothing is added: each trade carries its id
/// (`Nats-Msg-Id`), and the stream stores an id once within its duplicate window.
#[test]
fn ticks_out_forwards_the_accepted_trades_partitioned() {
    let server = NatsServer::start(tmp("nats-ticks-out"));
    let url = format!("jetstream://{}/FWD", server.addr());
    let gen = tmp("gen-ticks-out.csv");
    let o = run(&["gen", "--rows", "20000", "--instruments", "200", "--dup-fraction", "0.05", "--out", s(&gen)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sum = tmp("ticks-out.json");
    let args = ["--dedupe", "--ticks-out", &url, "--ticks-partitions", "8", "--ticks-format", "msgpack"];
    let o = replay(&[&args[..], &["--summary", s(&sum), s(&gen)]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "only forwarding: no bars");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sum).expect("summary")).expect("json");
    let unique = v["trades_accepted"].as_u64().expect("n") - v["duplicates"].as_u64().expect("n");
    assert!(v["duplicates"].as_u64() > Some(500), "{v}");
    assert_eq!(v["ticks_forwarded"].as_u64(), Some(unique), "{v}");

    let by_partition = ticks_by_partition(&server.addr(), "FWD", 8);
    assert_eq!(placed_total(&by_partition, 8), unique, "every accepted trade once");

    // Several widths asked for change nothing: without --out or the store no bars are made.
    let o = replay(&["--ticks-out", &url, "--bars", "1s,1m", s(&gen)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty(), "only forwarding: no bars");
    let after: u64 = ticks_by_partition(&server.addr(), "FWD", 8).values().flat_map(|m| m.values()).sum();
    assert_eq!(after, unique, "forwarded again, without dedupe, within the duplicate window: nothing added");

    let want = replay(&["--dedupe", "--out", "-", s(&gen)]);
    let out = tmp("ticks-out-run.csv");
    let stderr = run_until_read(&url, &["--dedupe"], &out, after);
    let got = std::fs::read_to_string(&out).expect("run");
    assert!(got.as_bytes() == want.stdout, "the run's bars differ from replay --dedupe's:\n{stderr}");
}
