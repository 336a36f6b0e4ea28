//! A NATS feed (design.md §9) on a thread of its own, the official client (async-nats) driven by
//! a single-threaded tokio runtime there: `nats://HOST:PORT/SUBJECT` subscribes to a subject
//! (wildcards allowed); `jetstream://HOST:PORT/STREAM[/CONSUMER]` reads a stream through a
//! durable pull consumer (default name `ticklane`), acknowledging (ack-all) what was handed to
//! the engine's reader, so that a restart resumes after it. Each message is one tick
//! ([`crate::wire`]), JSON or MessagePack, told apart by its first byte.
//!
//! The client reconnects by itself, with the same capped backoff as the other links; the
//! connection callbacks flip readiness and count. Core NATS drops messages for a subscriber
//! that falls too far behind (counted: `slow_consumer`); JetStream does not (the consumer stops
//! pulling: backpressure).

use super::durable::{Checkpoint, Pending};
use super::link::{Link, Watcher};
use super::ws::POLL;
use super::Durability;
use super::LinkOptions;
use crate::wire::{decode, Tick, WireFormat};
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy};
use futures_util::{FutureExt, Stream, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use ticklane::Timestamp;

/// Acknowledge at least every this many JetStream messages (and whenever the feed goes quiet).
const ACK_EVERY: u64 = 512;
/// How long JetStream waits for an ack before delivering a message again.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// The same when acknowledging by durability: a tick waits for its window to close and be
/// written (redeliveries within a run are passed over, so this only saves the server work).
const DURABLE_ACK_WAIT: Duration = Duration::from_secs(300);
/// Messages between two looks at the durable progress (and whenever the feed goes quiet).
const TRY_ACK_EVERY: u32 = 64;
/// Messages per pull request (the client asks for more when half are left: at most about
/// this many are buffered in the client).
const PULL_BATCH: usize = 1000;
/// The server's idle heartbeat on a pull that has nothing to send (the client's default).
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Messages the client already holds are decoded, up to this many or for up to [`BURST_TIME`],
/// before their records go to the reader: one hand-over (and at most one wake-up of the
/// reader) per burst instead of per message, which on two cores is what lets the feed keep up
/// (bench/README.md). A message that has to be waited for never waits behind records not
/// handed over: those go first.
const BURST: u32 = 256;
/// The longest a burst's first record waits for the rest of the burst to be decoded (checked
/// every 32 messages).
const BURST_TIME: Duration = Duration::from_micros(250);

/// What [`Feed::next`] got.
enum Next<T> {
    /// The stream's next item (`None`: it ended).
    Item(Option<T>),
    /// Nothing came within [`POLL`].
    Quiet,
    /// The reader is gone.
    Gone,
}

/// Where a NATS feed reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatsTarget {
    /// Core NATS: a subject.
    Core {
        /// `HOST:PORT`.
        server: String,
        /// The subject (wildcards allowed).
        subject: String,
    },
    /// JetStream: a stream and a durable consumer.
    JetStream {
        /// `HOST:PORT`.
        server: String,
        /// The stream.
        stream: String,
        /// The durable consumer's name.
        consumer: String,
    },
}

impl NatsTarget {
    /// From the part of a URL after `nats://` or `jetstream://`.
    pub(super) fn parse(jetstream: bool, rest: &str) -> Result<NatsTarget, String> {
        let (server, path) = rest.split_once('/').unwrap_or((rest, ""));
        if server.is_empty() {
            return Err("expected HOST:PORT after the scheme".into());
        }
        let server = if server.contains(':') { server.to_string() } else { format!("{server}:4222") };
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match (jetstream, parts.as_slice()) {
            (false, [subject]) => Ok(NatsTarget::Core { server, subject: subject.to_string() }),
            (false, _) => Err("expected nats://HOST:PORT/SUBJECT".into()),
            (true, [stream]) => {
                Ok(NatsTarget::JetStream { server, stream: stream.to_string(), consumer: "ticklane".into() })
            }
            (true, [stream, consumer]) => {
                Ok(NatsTarget::JetStream { server, stream: stream.to_string(), consumer: consumer.to_string() })
            }
            (true, _) => Err("expected jetstream://HOST:PORT/STREAM[/CONSUMER]".into()),
        }
    }

    /// `HOST:PORT`.
    pub fn server(&self) -> &str {
        match self {
            NatsTarget::Core { server, .. } | NatsTarget::JetStream { server, .. } => server,
        }
    }
}

/// The client's options: reconnect forever with the link's capped backoff.
pub fn connect_options(opt: &LinkOptions) -> async_nats::ConnectOptions {
    let (min, max) = (opt.reconnect_min, opt.reconnect_max);
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(opt.connect_timeout)
        .reconnect_delay_callback(move |attempts| min.saturating_mul(1u32 << attempts.min(20) as u32).min(max))
}

/// [`connect_options`] reporting state changes through `w`.
fn watched(opt: &LinkOptions, w: Watcher) -> async_nats::ConnectOptions {
    connect_options(opt).event_callback(move |event| {
        let w = w.clone();
        async move {
            match event {
                async_nats::Event::Connected => w.up(),
                async_nats::Event::Disconnected | async_nats::Event::Closed => w.down(),
                async_nats::Event::SlowConsumer(_) => w.slow_consumer(),
                other => log::warn!("NATS: {other}"),
            }
        }
    })
}

/// The feed thread's state.
pub(super) struct Feed {
    link: Link,
    target: NatsTarget,
    opt: LinkOptions,
    /// Messages taken without waiting since the last hand-over, and when the first was.
    burst: u32,
    burst_start: Instant,
}

impl Feed {
    pub(super) fn new(link: Link, target: NatsTarget, opt: LinkOptions) -> Feed {
        Feed { link, target, opt, burst: 0, burst_start: Instant::now() }
    }

    /// The next item of `s`: at once when the client holds one (within a [`BURST`]);
    /// otherwise the records read so far are handed to the reader first, then the item is
    /// waited for, up to [`POLL`].
    async fn next<S: Stream + Unpin>(&mut self, s: &mut S) -> Next<S::Item> {
        if self.in_burst() {
            if let Some(item) = s.next().now_or_never() {
                if self.burst == 0 {
                    self.burst_start = Instant::now();
                }
                self.burst += 1;
                return Next::Item(item);
            }
        }
        self.burst = 0;
        if !self.link.send_pending(false) {
            return Next::Gone;
        }
        match tokio::time::timeout(POLL, s.next()).await {
            Ok(item) => {
                (self.burst, self.burst_start) = (1, Instant::now());
                Next::Item(item)
            }
            Err(_) => Next::Quiet,
        }
    }

    /// Reads until stopped (or no reader is left); then hands over what is pending.
    pub(super) fn run(mut self) {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                log::error!("{}: cannot start the NATS client's runtime: {e}", self.link.url);
                return self.link.finish();
            }
        };
        if let Err(e) = rt.block_on(self.read()) {
            log::error!("{}: {e}", self.link.url);
        }
        self.link.finish();
    }

    /// Whether the current burst may take one more message.
    fn in_burst(&self) -> bool {
        self.burst < BURST
            && (!self.burst.is_multiple_of(32) || self.burst == 0 || self.burst_start.elapsed() < BURST_TIME)
    }

    async fn read(&mut self) -> Result<(), String> {
        let options = watched(&self.opt, self.link.watcher());
        let client = options.connect(self.target.server()).await.map_err(|e| format!("cannot connect: {e}"))?;
        match self.target.clone() {
            NatsTarget::Core { subject, .. } => {
                let mut sub = client.subscribe(subject.clone()).await.map_err(|e| format!("cannot subscribe: {e}"))?;
                while !self.link.stopped() {
                    match self.next(&mut sub).await {
                        Next::Item(Some(m)) => {
                            self.on_message(&m.payload);
                        }
                        Next::Item(None) => return Err("the subscription ended".into()),
                        Next::Quiet => {}
                        Next::Gone => break,
                    }
                }
                let _ = sub.unsubscribe().await;
            }
            NatsTarget::JetStream { stream, consumer, .. } => {
                let r = self.read_stream(client.clone(), &stream, &consumer).await;
                // The last acknowledgements are only queued in the client: send them before the
                // runtime goes.
                if let Err(e) = client.flush().await {
                    log::warn!("{}: the last acknowledgements may not have reached the server: {e}", self.link.url);
                }
                r?
            }
        }
        Ok(())
    }

    /// Reads a JetStream stream through its durable consumer, acknowledging what was handed on
    /// (or, with a store, what is durably written: [`super::durable`]).
    async fn read_stream(&mut self, client: async_nats::Client, stream: &str, consumer: &str) -> Result<(), String> {
        let js = jetstream::new(client);
        let s = loop {
            match js.get_stream(stream).await {
                Ok(s) => break s,
                Err(e) if self.link.stopped() => return Err(format!("stream {stream}: {e}")),
                Err(e) => {
                    log::warn!("{}: stream {stream}: {e}; retrying", self.link.url);
                    self.link.sleep(self.opt.reconnect_max.min(Duration::from_secs(1)));
                }
            }
        };
        let durable = self.opt.durability.clone();
        let config = pull::Config {
            durable_name: Some(consumer.to_string()),
            ack_policy: AckPolicy::All,
            ack_wait: if durable.is_some() { DURABLE_ACK_WAIT } else { ACK_WAIT },
            // Acknowledgements wait for windows to close: the run, not the server, bounds
            // what it takes (it stops pulling when the engine or the store is behind).
            max_ack_pending: if durable.is_some() { -1 } else { 0 },
            ..pull::Config::default()
        };
        let c = if durable.is_some() {
            self.restart_consumer(&s, consumer, config).await?
        } else {
            s.get_or_create_consumer(consumer, config).await.map_err(|e| format!("consumer {consumer}: {e}"))?
        };
        let mut checkpoint = match &durable {
            Some(_) => Some(self.resume(&js, stream, consumer).await?),
            None => None,
        };
        let messages = c.stream().max_messages_per_batch(PULL_BATCH).heartbeat(HEARTBEAT).messages().await;
        let messages = messages.map_err(|e| format!("consumer {consumer}: {e}"))?;
        match (durable, &mut checkpoint) {
            (Some(d), Some(cp)) => self.read_durably(messages, &d, cp).await,
            _ => self.read_handed_over(messages).await,
        }
    }

    /// The durable consumer made anew at its acknowledged position: what an earlier run took
    /// and did not acknowledge (it died, say) comes again at once, not after the
    /// acknowledgement wait. The consumer is this run's alone while it reads.
    async fn restart_consumer(
        &mut self,
        s: &jetstream::stream::Stream,
        consumer: &str,
        mut config: pull::Config,
    ) -> Result<jetstream::consumer::PullConsumer, String> {
        let failed = |e: &dyn std::fmt::Display| format!("consumer {consumer}: {e}");
        if let Ok(info) = s.consumer_info(consumer).await {
            let next = info.ack_floor.stream_sequence + 1;
            log::info!(
                "{}: consumer {consumer} resumes at stream sequence {next} (after what it acknowledged)",
                self.link.url
            );
            s.delete_consumer(consumer).await.map_err(|e| failed(&e))?;
            config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence: next };
        }
        s.create_consumer(config).await.map_err(|e| failed(&e))
    }

    /// The consumer's checkpoint; when it holds one, the readers are told the watermark floor
    /// the redelivered ticks are judged against (just below it: what was durable then).
    async fn resume(&mut self, js: &jetstream::Context, stream: &str, consumer: &str) -> Result<Checkpoint, String> {
        let mut cp = Checkpoint::open(js, stream, consumer).await?;
        if let Some(progress) = cp.load().await? {
            log::info!("{}: resuming from a checkpoint: bars ending before {progress} are written", self.link.url);
            self.link.floor(progress.saturating_sub(1));
        }
        Ok(cp)
    }

    /// Acknowledges every [`ACK_EVERY`] messages and when the feed goes quiet: everything up to
    /// the message acknowledged was handed to the reader.
    async fn read_handed_over(&mut self, mut messages: pull::Stream) -> Result<(), String> {
        let (mut unacked, mut last): (u64, Option<jetstream::Message>) = (0, None);
        while !self.link.stopped() {
            let quiet = match self.next(&mut messages).await {
                Next::Item(Some(Ok(m))) => {
                    self.on_message(&m.payload);
                    (unacked, last) = (unacked + 1, Some(m));
                    false
                }
                Next::Item(Some(Err(e))) => {
                    log::warn!("{}: {e}", self.link.url);
                    false
                }
                Next::Item(None) => return Err("the consumer's message stream ended".into()),
                Next::Quiet => true,
                Next::Gone => break,
            };
            if unacked >= ACK_EVERY || (unacked > 0 && quiet) {
                // Ack-all: everything up to this message was handed to the reader (a quiet
                // wait came after a hand-over; a full count hands over first).
                if !quiet && !self.link.send_pending(false) {
                    break;
                }
                self.burst = 0;
                if let Some(m) = last.take() {
                    self.ack(&m, unacked).await;
                }
                unacked = 0;
            }
        }
        self.link.send_pending(true);
        if let Some(m) = last {
            self.ack(&m, unacked).await;
        }
        Ok(())
    }

    /// Acknowledges a message once the bars of every tick up to it are durably written; a
    /// message delivered again within the run (past the acknowledgement wait) is passed over.
    /// When stopped, the readers' sources end and what becomes durable while the run drains
    /// is acknowledged, until the store has finished.
    async fn read_durably(
        &mut self,
        mut messages: pull::Stream,
        d: &Durability,
        cp: &mut Checkpoint,
    ) -> Result<(), String> {
        let mut pending = Pending::default();
        let (mut seen, mut since_try) = (0u64, 0u32);
        while !self.link.stopped() {
            match self.next(&mut messages).await {
                Next::Item(Some(Ok(m))) => {
                    let seq = m.info().map_or(0, |i| i.stream_sequence);
                    if seq != 0 && seq <= seen {
                        self.link.stats.redelivered.fetch_add(1, Relaxed);
                        continue;
                    }
                    seen = seq;
                    let ts = self.on_message(&m.payload);
                    pending.note(d.final_at(ts), m);
                    since_try += 1;
                }
                Next::Item(Some(Err(e))) => log::warn!("{}: {e}", self.link.url),
                Next::Item(None) => return Err("the consumer's message stream ended".into()),
                Next::Quiet => {
                    pending.close();
                    since_try = u32::MAX;
                }
                Next::Gone => break,
            }
            if since_try >= TRY_ACK_EVERY {
                self.ack_durable(&mut pending, d, cp).await;
                since_try = 0;
            }
        }
        self.link.close();
        pending.close();
        loop {
            let done = d.done();
            self.ack_durable(&mut pending, d, cp).await;
            if done || pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(POLL.min(Duration::from_millis(20))).await;
        }
    }

    /// Acknowledges the groups of `pending` whose bars are durable, the checkpoint saved first.
    async fn ack_durable(&mut self, pending: &mut Pending<jetstream::Message>, d: &Durability, cp: &mut Checkpoint) {
        let progress = d.progress();
        let Some(i) = pending.ready(progress) else { return };
        if let Err(e) = cp.save(progress).await {
            return log::warn!("{}: {e}; not acknowledging until it is saved", self.link.url);
        }
        if let Err(e) = pending.last(i).ack().await {
            return log::warn!("{}: ack: {e}", self.link.url);
        }
        let n = pending.acked(i);
        self.link.stats.acked.fetch_add(n, Relaxed);
    }

    /// Acknowledges (ack-all) up to `m`, counting `n` messages.
    async fn ack(&self, m: &jetstream::Message, n: u64) {
        match m.ack().await {
            Ok(()) => {
                self.link.stats.acked.fetch_add(n, Relaxed);
            }
            Err(e) => log::warn!("{}: ack: {e}", self.link.url),
        }
    }

    /// One tick: a trade or quote for its reader, or counted as skipped or malformed; its
    /// `ts_event` when it was handed on.
    fn on_message(&mut self, payload: &[u8]) -> Option<Timestamp> {
        let n = self.link.count(payload.len());
        let format = if payload.first() == Some(&b'{') { WireFormat::Json } else { WireFormat::Msgpack };
        let (taken, ts) = match decode(payload, format) {
            Ok(Tick::Trade(t, name)) => (self.link.trade(Ok(t), name.as_bytes(), n), t.ts_event),
            Ok(Tick::Quote(q, name)) => (self.link.quote(Ok(q), name.as_bytes(), n), q.ts_event),
            Err(bad) => {
                self.link.malformed(bad);
                return None;
            }
        };
        if !taken {
            self.link.skip();
        }
        taken.then_some(ts)
    }
}
