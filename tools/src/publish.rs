//! `ticklane publish`: a capture onto NATS or JetStream, one tick per message ([`wire`]).
//! Files are read and merged as `replay` reads them; malformed records stop the command
//! (exit 2, `FILE:LINE`) after what came before was published. On JetStream, at most
//! [`IN_FLIGHT`] publishes wait for their acknowledgement; all are acknowledged before the end.

use crate::cli::{KindArg, PublishArgs, Speed};
use crate::outcome::{BadInput, Outcome};
use crate::output::stream_layout;
use anyhow::Context;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use ticklane_tools::input::{self, Chunk, Event, Merge, ReadOptions, Source};
use ticklane_tools::live::{LiveUrl, NatsTarget};
use ticklane_tools::scale::{self, Layout};
use ticklane_tools::wire::{self, WireFormat};

/// JetStream publishes awaiting their acknowledgement at most.
const IN_FLIGHT: usize = 1024;

/// Where messages go.
enum Bus {
    Core(async_nats::Client, String),
    Stream(async_nats::jetstream::Context, Subjects, VecDeque<async_nats::jetstream::context::PublishAckFuture>),
}

/// A stream's tick subjects: one, or one per partition (each instrument's partition computed
/// once, by instrument id).
struct Subjects {
    layout: Layout,
    subjects: Vec<String>,
    by_id: Vec<Option<u32>>,
}

impl Subjects {
    fn new(stream: &str, layout: Layout) -> Subjects {
        let subjects = match layout {
            Layout::Single => vec![layout.subject(stream, "")],
            Layout::Partitioned(p) => (0..p).map(|i| scale::partition_subject(stream, i)).collect(),
        };
        Subjects { layout, subjects, by_id: Vec::new() }
    }

    /// The subject of instrument `id` (named `name`).
    fn of(&mut self, id: u32, name: &str) -> &str {
        let Layout::Partitioned(p) = self.layout else { return &self.subjects[0] };
        let i = id as usize;
        if self.by_id.len() <= i {
            self.by_id.resize(i + 1, None);
        }
        let part = *self.by_id[i].get_or_insert_with(|| scale::partition_of(name, p));
        &self.subjects[part as usize]
    }
}

/// What was published.
#[derive(Default)]
struct Published {
    messages: u64,
    acknowledged: u64,
    /// Records of the kind not published (and others the readers pass over).
    skipped: u64,
}

pub(crate) fn run(a: &PublishArgs) -> anyhow::Result<Outcome> {
    let target = target(a)?;
    let opt = ReadOptions { venue: a.venue.clone(), ..ReadOptions::new(a.input_format) };
    let quotes = publishes_quotes(a, &opt)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let (published, failure) = rt.block_on(async {
        let mut bus = connect(&target, a.partitions, a.replicas).await?;
        let r = if quotes {
            let sources = open_all(a, &opt, input::open_quotes)?;
            send_all(Merge::new(sources), &mut bus, a, wire::encode_quote).await
        } else {
            let sources = open_all(a, &opt, input::open)?;
            send_all(Merge::new(sources), &mut bus, a, wire::encode_trade).await
        };
        let (mut published, failure) = r?;
        published.acknowledged += finish(&mut bus).await?;
        anyhow::Ok((published, failure))
    })?;
    eprintln!(
        "ticklane: published {} {} to {} in {:.3} s{}{}.",
        published.messages,
        if quotes { "quotes" } else { "trades" },
        a.to,
        started.elapsed().as_secs_f64(),
        match target {
            NatsTarget::JetStream { .. } => format!(" ({} acknowledged by JetStream)", published.acknowledged),
            NatsTarget::Core { .. } => String::new(),
        },
        match (published.skipped, quotes) {
            (0, _) => String::new(),
            (n, false) => format!("; {n} records of other kinds not published (--kind quotes publishes the quotes)"),
            (n, true) => format!("; {n} records of other kinds not published (--kind trades publishes the trades)"),
        }
    );
    Ok(match failure {
        Some(e) => Outcome::BadInput(format!(
            "{e}\n(stopped there: the {} records before it were published)",
            published.messages
        )),
        None => Outcome::Done,
    })
}

/// What `--to` takes.
const TO_EXPECTED: &str = "expected nats://HOST:PORT/SUBJECT or jetstream://HOST:PORT/STREAM";
/// Why `--partitions` needs a stream.
const PARTITIONS_NEED: &str = "needs --to jetstream://HOST:PORT/STREAM (the count is recorded with the stream)";

/// Where `--to` points; bad usage when it is no NATS URL, or core NATS with `--partitions`.
fn target(a: &PublishArgs) -> anyhow::Result<NatsTarget> {
    // A scheme that is no bus: say what publish takes (the URL parser lists what `run` reads).
    if let Some((scheme, _)) =
        a.to.split_once("://").filter(|(s, _)| !matches!(*s, "nats" | "jetstream" | "ws" | "wss"))
    {
        return Err(BadInput(format!("--to {}: unknown URL scheme `{scheme}`; {TO_EXPECTED}", a.to)).into());
    }
    let target = match LiveUrl::parse(&a.to) {
        Ok(Some(LiveUrl::Nats(t))) => t,
        Ok(_) => return Err(BadInput(format!("--to {}: {TO_EXPECTED}", a.to)).into()),
        Err(e) => return Err(BadInput(format!("--to {e}")).into()),
    };
    if let (Some(_), NatsTarget::Core { .. }) = (a.partitions, &target) {
        return Err(BadInput(format!("--partitions {PARTITIONS_NEED}, found {}", a.to)).into());
    }
    Ok(target)
}

/// Whether quotes are published (`--kind`; auto: when every file holds quotes and no trades).
fn publishes_quotes(a: &PublishArgs, opt: &ReadOptions) -> anyhow::Result<bool> {
    Ok(match a.kind {
        KindArg::Trades => false,
        KindArg::Quotes => true,
        KindArg::Auto => a.files.iter().try_fold(true, |only_quotes, f| {
            let k = input::kinds(f, opt).map_err(|e| BadInput(e.to_string()))?;
            anyhow::Ok(only_quotes && k.quotes && !k.trades)
        })?,
    })
}

type Opener<R> = fn(&std::path::Path, &ReadOptions) -> Result<Box<dyn Source<R>>, input::InputError>;

fn open_all<R: Event>(a: &PublishArgs, opt: &ReadOptions, open: Opener<R>) -> anyhow::Result<Vec<Box<dyn Source<R>>>> {
    a.files.iter().map(|f| open(f, opt).map_err(|e| BadInput(e.to_string()).into())).collect()
}

/// Connects (failing after the connect timeout rather than retrying forever); on JetStream,
/// creates the stream when missing (subjects `STREAM.>`, file storage, `replicas` copies, the
/// partition count asked for recorded with it) or follows the layout an existing one records.
async fn connect(target: &NatsTarget, partitions: Option<u32>, replicas: u8) -> anyhow::Result<Bus> {
    let options = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(10));
    let client =
        options.connect(target.server()).await.with_context(|| format!("cannot connect to {}", target.server()))?;
    Ok(match target {
        NatsTarget::Core { subject, .. } => Bus::Core(client, subject.clone()),
        NatsTarget::JetStream { stream, .. } => {
            let js = async_nats::jetstream::new(client);
            let layout = stream_layout(&js, stream, partitions, replicas, "--partitions").await?;
            Bus::Stream(js, Subjects::new(stream, layout), VecDeque::new())
        }
    })
}

/// Publishes every record of `merge`, paced if asked; stops at a malformed record (returned).
async fn send_all<R: Event>(
    mut merge: Merge<R>,
    bus: &mut Bus,
    a: &PublishArgs,
    encode: fn(&R, &str, WireFormat, &mut Vec<u8>),
) -> anyhow::Result<(Published, Option<input::InputError>)> {
    let mut chunk = Chunk::<R>::default();
    let mut out = Published::default();
    let mut buf = Vec::with_capacity(256);
    let mut pace: Option<(Instant, i64)> = None;
    while merge.next_chunk(&mut chunk) {
        let stop_at = chunk.errors.first().map(|(at, _)| *at);
        for (i, r) in chunk.records.iter().enumerate() {
            if stop_at == Some(i) {
                break;
            }
            if let Speed::Factor(f) = a.speed {
                let (t0, ts0) = *pace.get_or_insert((Instant::now(), r.ts_event()));
                let due = t0 + Duration::from_nanos(((r.ts_event() - ts0).max(0) as f64 / f) as u64);
                tokio::time::sleep_until(due.into()).await;
            }
            buf.clear();
            let name = merge.symbol(r.instrument().0);
            encode(r, name, a.format, &mut buf);
            out.acknowledged += publish(bus, r.instrument().0, name, buf.clone()).await?;
            out.messages += 1;
        }
        if let Some((_, e)) = chunk.errors.drain(..).next() {
            out.skipped = merge.sources().iter().map(|s| s.skipped()).sum();
            return Ok((out, Some(e)));
        }
    }
    out.skipped = merge.sources().iter().map(|s| s.skipped()).sum();
    Ok((out, None))
}

/// Publishes one message; the acknowledgements that came back meanwhile.
async fn publish(bus: &mut Bus, id: u32, name: &str, payload: Vec<u8>) -> anyhow::Result<u64> {
    match bus {
        Bus::Core(c, subject) => {
            c.publish(subject.clone(), payload.into()).await.context("publish")?;
            Ok(0)
        }
        Bus::Stream(js, subjects, acks) => {
            let subject = subjects.of(id, name).to_string();
            let mut acked = 0;
            if acks.len() >= IN_FLIGHT {
                if let Some(f) = acks.pop_front() {
                    f.await.context("JetStream did not acknowledge a publish")?;
                    acked += 1;
                }
            }
            acks.push_back(js.publish(subject, payload.into()).await.context("publish")?);
            Ok(acked)
        }
    }
}

/// Waits for every acknowledgement (JetStream) or for the buffer to reach the server (core).
async fn finish(bus: &mut Bus) -> anyhow::Result<u64> {
    match bus {
        Bus::Core(c, _) => {
            c.flush().await.context("flush")?;
            Ok(0)
        }
        Bus::Stream(_, _, acks) => {
            let mut n = 0;
            while let Some(f) = acks.pop_front() {
                f.await.context("JetStream did not acknowledge a publish")?;
                n += 1;
            }
            Ok(n)
        }
    }
}
