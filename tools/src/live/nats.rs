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

mod jetstream;
mod pulls;

use super::link::{Link, Watcher};
use super::ws::POLL;
use super::LinkOptions;
use crate::wire::{decode, Tick, WireFormat};
use futures_util::{FutureExt, Stream, StreamExt};
use std::time::{Duration, Instant};
use ticklane::Timestamp;

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
    /// What the caller's function made of the stream's next item (an item of `None`: the
    /// stream ended).
    Item(T),
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
        /// Only this partition's subject (`STREAM.ticks.{N}`) of a partitioned stream (design.md
        /// §10); `None`: every subject.
        partition: Option<u32>,
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
            (true, [stream]) => Ok(NatsTarget::JetStream {
                server,
                stream: stream.to_string(),
                consumer: "ticklane".into(),
                partition: None,
            }),
            (true, [stream, consumer]) => Ok(NatsTarget::JetStream {
                server,
                stream: stream.to_string(),
                consumer: consumer.to_string(),
                partition: None,
            }),
            (true, _) => Err("expected jetstream://HOST:PORT/STREAM[/CONSUMER]".into()),
        }
    }

    /// The same consumer's partition `p` alone: the consumer named `{CONSUMER}-p{p}` (each
    /// partition has its own acknowledged position and checkpoint), reading `STREAM.ticks.{p}`.
    /// Core NATS is left as it is.
    pub fn partition(self, p: u32) -> NatsTarget {
        match self {
            NatsTarget::JetStream { server, stream, consumer, partition: None } => {
                NatsTarget::JetStream { server, stream, consumer: format!("{consumer}-p{p}"), partition: Some(p) }
            }
            other => other,
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

    /// The next item of `s`, given to `on` (with the feed): at once when the client holds
    /// one (within a [`BURST`]); otherwise the records read so far are handed to the reader
    /// first, then the item is waited for, up to [`POLL`]. (`on` takes the item where it was
    /// polled: returned instead, a JetStream message, a few hundred bytes, was copied at each
    /// step out, a tenth of the thread's time.)
    async fn next<S: Stream + Unpin, T>(
        &mut self,
        s: &mut S,
        on: impl FnOnce(&mut Self, Option<S::Item>) -> T,
    ) -> Next<T> {
        if self.in_burst() {
            if let Some(item) = s.next().now_or_never() {
                if self.burst == 0 {
                    self.burst_start = Instant::now();
                }
                self.burst += 1;
                return Next::Item(on(self, item));
            }
        }
        self.burst = 0;
        if !self.link.send_pending(false) {
            return Next::Gone;
        }
        match tokio::time::timeout(POLL, s.next()).await {
            Ok(item) => {
                (self.burst, self.burst_start) = (1, Instant::now());
                Next::Item(on(self, item))
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
                    let read = |feed: &mut Feed, m: Option<async_nats::Message>| m.map(|m| feed.on_message(&m.payload));
                    match self.next(&mut sub, read).await {
                        Next::Item(Some(_)) => {}
                        Next::Item(None) => return Err("the subscription ended".into()),
                        Next::Quiet => {}
                        Next::Gone => break,
                    }
                }
                let _ = sub.unsubscribe().await;
            }
            NatsTarget::JetStream { stream, consumer, partition, .. } => {
                self.read_stream(client.clone(), &stream, &consumer, partition).await;
                // The last acknowledgements are only queued in the client: send them before the
                // runtime goes.
                if let Err(e) = client.flush().await {
                    log::warn!("{}: the last acknowledgements may not have reached the server: {e}", self.link.url);
                }
            }
        }
        Ok(())
    }

    /// One tick: a trade or quote for its reader, or counted as skipped or malformed; its
    /// `ts_event` when it was handed on.
    fn on_message(&mut self, payload: &[u8]) -> Option<Timestamp> {
        let n = self.link.count(payload.len());
        let (taken, ts) = match decode(payload, format_of(payload)) {
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

/// The `ts_event` of the tick in `payload`, if it is one (a message seen before, not handed on
/// again).
fn tick_time(payload: &[u8]) -> Option<Timestamp> {
    match decode(payload, format_of(payload)) {
        Ok(Tick::Trade(t, _)) => Some(t.ts_event),
        Ok(Tick::Quote(q, _)) => Some(q.ts_event),
        Err(_) => None,
    }
}

/// JSON or MessagePack, told apart by the first byte.
fn format_of(payload: &[u8]) -> WireFormat {
    if payload.first() == Some(&b'{') {
        WireFormat::Json
    } else {
        WireFormat::Msgpack
    }
}
