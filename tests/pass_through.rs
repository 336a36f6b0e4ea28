//! A transform that passes a batch whole (`Transform::on_batch_or_pass`) hands the batch on
//! uncopied, and an egress ships the batch it is fed as it is: downstream sees exactly what
//! copies would give it. A node whose input another node also reads takes nothing over.

mod common;

use common::{seq_trade, watchdog};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use ticklane::{Config, DagBuilder, Engine, Kind, Stamped, Trade, Transform};

/// Drops the trades whose sequence number (kept in `size`) is a multiple of 10; passes a batch
/// without one whole, counting how often.
struct SkipTens {
    whole: Arc<AtomicU64>,
}

fn dropped(t: &Stamped<Trade>) -> bool {
    t.rec.size.raw() % 10 == 0
}

impl Transform<Trade, Trade> for SkipTens {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) {
        out.extend(input.iter().filter(|t| !dropped(t)));
    }

    fn on_batch_or_pass(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) -> bool {
        if input.iter().any(dropped) {
            self.on_batch(input, out);
            return false;
        }
        self.whole.fetch_add(1, Relaxed);
        true
    }
}

type Seen = crossbeam_channel::Sender<(&'static str, u64)>;
type Collect = Box<dyn FnMut(&[Stamped<Trade>]) + Send>;

/// A shard sink sending the sequence number of every trade it gets, tagged `who`.
fn collect(who: &'static str, tx: &Seen) -> impl Fn(ticklane::ShardContext) -> Collect {
    let tx = tx.clone();
    move |_| {
        let tx = tx.clone();
        Box::new(move |b: &[Stamped<Trade>]| {
            for t in b {
                let _ = tx.send((who, t.rec.size.raw() as u64));
            }
        })
    }
}

/// feed → skip_tens → egress `out`; with `tap`, also feed → sink `all` and skip_tens → sink
/// `kept` (each feed then read twice).
fn graph(tap: bool, tx: &Seen, whole: &Arc<AtomicU64>) -> ticklane::Dag {
    let mut g = DagBuilder::new();
    let whole = whole.clone();
    g.source("feed", Kind::Trade)
        .transform::<Trade, Trade, _, _>("skip_tens", move |_| SkipTens { whole: whole.clone() })
        .sink_egress("out", Kind::Trade)
        .connect("feed", "skip_tens")
        .connect("skip_tens", "out");
    if tap {
        g.sink_shard::<Trade, _, _>("all", collect("all", tx)).connect("feed", "all");
        g.sink_shard::<Trade, _, _>("kept", collect("kept", tx)).connect("skip_tens", "kept");
    }
    g.build().expect("valid graph")
}

/// What a run of 600 trades of one instrument (sequence numbers 1..=600, in batches of 8)
/// gave: the egress's records, each tap sink's, the batches passed whole, the run's report.
struct Run {
    out: Vec<u64>,
    kept: Vec<u64>,
    all: Vec<u64>,
    whole: u64,
    report: ticklane::RunReport,
}

fn run(tap: bool, shards: usize) -> Run {
    let (tx, rx) = crossbeam_channel::unbounded();
    let whole = Arc::new(AtomicU64::new(0));
    let cfg = Config::builder().shards(shards).batch_size(8).build().expect("config");
    let mut engine = Engine::start(graph(tap, &tx, &whole), cfg).expect("start");
    let mut feed = engine.ingress::<Trade>("feed").expect("ingress");
    let egress = engine.egress::<Trade>("out").expect("egress");
    let reader = std::thread::spawn(move || egress.map(|t| t.rec.size.raw() as u64).collect::<Vec<u64>>());
    let id = feed.intern("X").expect("intern");
    let trades: Vec<Trade> = (1..=600).map(|seq| seq_trade(id, seq as i64, seq)).collect();
    feed.push_all(&trades).expect("push");
    feed.finish().expect("finish");
    let report = engine.join().expect("clean run");
    let out = reader.join().expect("egress reader");
    drop(tx);
    let (mut kept, mut all) = (Vec::new(), Vec::new());
    for (who, seq) in rx.try_iter() {
        if who == "kept" {
            kept.push(seq)
        } else {
            all.push(seq)
        }
    }
    Run { out, kept, all, whole: whole.load(Relaxed), report }
}

#[test]
fn a_batch_passed_whole_reaches_downstream_as_a_copy_would() {
    watchdog(Duration::from_secs(60), || {
        let want: Vec<u64> = (1..=600).filter(|s| s % 10 != 0).collect();
        for shards in [1, 2] {
            let r = run(false, shards);
            assert_eq!(r.out, want, "shards={shards}");
            // Of the batches of 8 consecutive numbers, those without a multiple of 10 pass
            // whole (1..=8, 41..=48, …); the others do not.
            assert!(r.whole > 0, "no batch passed whole (shards={shards})");
            let node = r.report.stats.nodes.iter().find(|n| n.name == "skip_tens").expect("node");
            assert_eq!((node.total_in(), node.total_out()), (600, want.len() as u64), "shards={shards}");
        }
    });
}

#[test]
fn a_batch_another_node_reads_is_not_taken_over() {
    watchdog(Duration::from_secs(60), || {
        let want: Vec<u64> = (1..=600).filter(|s| s % 10 != 0).collect();
        let r = run(true, 1);
        assert_eq!(r.out, want, "the egress shares its feed with a sink");
        assert_eq!(r.kept, want, "the sink shares its feed with the egress");
        assert_eq!(r.all, (1..=600).collect::<Vec<u64>>(), "the tap sees every trade");
        assert_eq!(r.whole, 0, "a transform whose input another node reads is not asked to pass it on");
    });
}
