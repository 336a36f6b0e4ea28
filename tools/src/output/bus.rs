//! Bars onto NATS (design.md §9): one message per bar, JSON or MessagePack
//! ([`ticklane_tools::format::bar_message`]).
//!
//! - `nats://HOST:PORT/SUBJECT`: core NATS; `{instrument}` in the subject becomes the bar's
//!   instrument (`.`, `*`, `>` and spaces replaced by `_`), so subscribers can pick instruments
//!   or classes with wildcards. Published when the client has sent them (flushed at the end).
//! - `jetstream://HOST:PORT/STREAM`: the stream (created when missing, subjects `STREAM.>`),
//!   subject `STREAM.bars`; each publish carries `Nats-Msg-Id: instrument/window_start/window_end/revision`,
//!   so a retried publish is stored once; at most [`IN_FLIGHT`] wait for their acknowledgement,
//!   and a full window blocks the writer — backpressure through the egress to the shards and
//!   the source, as with the store.
//!
//! - `--ticks-out jetstream://HOST:PORT/STREAM`: trades, on the stream's tick subjects
//!   ([`super::stream_layout`]: `STREAM.ticks`, or the instrument's partition subject), with
//!   `Nats-Msg-Id: instrument/ts_event/trade_id` when the trade has an id (a feed's resend after
//!   a reconnect is stored once within the stream's duplicate window); trades without one carry
//!   none, since two equal trades in one nanosecond are two trades.
//!
//! The sink is ready (`/readyz`: `sink --out URL`) while its client is connected. The client
//! runs on the writer's thread (a current-thread runtime: a runtime thread of its own cost 17%
//! of a forwarder's throughput); while nothing is due the writer lends it the thread for a
//! moment every [`IDLE`] ([`BusSink::idle`]), so a lost server is seen then too.
//!
//! A publish that fails for good is counted as lost (never silently): the run ends with exit 1
//! and the summary says how many bars did not reach the bus.

use super::Written;
use async_nats::jetstream::context::PublishAckFuture;
use std::collections::VecDeque;
use std::future::IntoFuture;
use std::time::Duration;
use ticklane_tools::live::NatsTarget;
use ticklane_tools::scale::Layout;

/// JetStream publishes awaiting their acknowledgement at most.
const IN_FLIGHT: usize = 256;
/// Tries of one JetStream publish before its bar is counted as lost (pauses of 100 ms doubling:
/// about 25 s in all, enough for a server restart).
const TRIES: u32 = 8;

/// A JetStream publish awaiting its acknowledgement, and what to publish again if it fails.
struct InFlight {
    ack: PublishAckFuture,
    subject: String,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
}

enum Bus {
    Core { client: async_nats::Client, subject: String },
    Stream { js: async_nats::jetstream::Context, route: Route, acks: VecDeque<InFlight> },
}

/// The subject of a JetStream message: one for every bar, or a tick's subject in its stream's
/// layout.
enum Route {
    One(String),
    Ticks { stream: String, layout: Layout },
}

impl Route {
    fn subject(&self, instrument: &str) -> String {
        match self {
            Route::One(s) => s.clone(),
            Route::Ticks { stream, layout } => layout.subject(stream, instrument),
        }
    }
}

/// A connected bus output.
pub(crate) struct BusSink {
    rt: tokio::runtime::Runtime,
    /// Up while the client is connected (kept registered while the sink lives).
    _ready: ticklane::health::Probe,
    bus: Bus,
    name: String,
    published: u64,
    acked: u64,
    lost: u64,
    error: Option<String>,
}

impl BusSink {
    /// Connects (failing within ten seconds: a wrong address is found before any input is read).
    pub(crate) fn connect(target: &NatsTarget, name: String) -> anyhow::Result<BusSink> {
        let (rt, ready) = (runtime()?, ticklane::health::probe(&format!("sink {name}")));
        let bus = rt.block_on(async {
            let client = client(target, &name, &ready).await?;
            anyhow::Ok(match target {
                NatsTarget::Core { subject, .. } => Bus::Core { client, subject: subject.clone() },
                NatsTarget::JetStream { stream, .. } => {
                    let js = async_nats::jetstream::new(client);
                    let config = async_nats::jetstream::stream::Config {
                        name: stream.clone(),
                        subjects: vec![format!("{stream}.>")],
                        storage: async_nats::jetstream::stream::StorageType::File,
                        ..Default::default()
                    };
                    js.get_or_create_stream(config)
                        .await
                        .map_err(|e| anyhow::anyhow!("{name}: stream {stream}: {e}"))?;
                    Bus::Stream { js, route: Route::One(format!("{stream}.bars")), acks: VecDeque::new() }
                }
            })
        })?;
        Ok(BusSink::new(rt, ready, bus, name))
    }

    /// Connects for ticks (`--ticks-out`): on JetStream the stream is made with `partitions`
    /// and `replicas` when missing, else its own layout is followed.
    pub(crate) fn connect_ticks(
        target: &NatsTarget,
        name: String,
        partitions: Option<u32>,
        replicas: u8,
    ) -> anyhow::Result<BusSink> {
        let NatsTarget::JetStream { stream, .. } = target else { return BusSink::connect(target, name) };
        let (rt, ready) = (runtime()?, ticklane::health::probe(&format!("sink {name}")));
        let bus = rt.block_on(async {
            let client = client(target, &name, &ready).await?;
            let js = async_nats::jetstream::new(client);
            let layout = super::stream_layout(&js, stream, partitions, replicas, "--ticks-partitions").await?;
            anyhow::Ok(Bus::Stream {
                js,
                route: Route::Ticks { stream: stream.clone(), layout },
                acks: VecDeque::new(),
            })
        })?;
        Ok(BusSink::new(rt, ready, bus, name))
    }

    fn new(rt: tokio::runtime::Runtime, ready: ticklane::health::Probe, bus: Bus, name: String) -> BusSink {
        BusSink { rt, _ready: ready, bus, name, published: 0, acked: 0, lost: 0, error: None }
    }

    /// Lets the client run for a moment (nothing is due): it reads the socket, notices a lost
    /// server, and reconnects, each reported to the readiness probe.
    pub(crate) fn idle(&mut self) {
        // The timer is made inside the runtime (it needs its clock).
        self.rt.block_on(async { tokio::time::sleep(Duration::from_millis(5)).await });
    }

    /// Publishes one message of `instrument` (`id`, on JetStream: what makes a retry harmless).
    pub(crate) fn send(&mut self, instrument: &str, id: Option<&str>, payload: &[u8]) {
        let r = match &mut self.bus {
            Bus::Core { client, subject } => {
                let subject = subject.replace("{instrument}", &token(instrument));
                self.rt.block_on(client.publish(subject, payload.to_vec().into())).map_err(|e| e.to_string())
            }
            Bus::Stream { js, route, acks } => {
                let mut r = Ok(());
                if acks.len() >= IN_FLIGHT {
                    if let Some(f) = acks.pop_front() {
                        r = settle(&self.rt, js, f).map(|()| self.acked += 1);
                    }
                }
                let mut headers = async_nats::HeaderMap::new();
                if let Some(id) = id {
                    headers.insert("Nats-Msg-Id", id);
                }
                let subject = route.subject(instrument);
                let publish = publish_retried(&self.rt, js, &subject, headers.clone(), payload);
                let payload = payload.to_vec();
                r.and(publish.map(|ack| acks.push_back(InFlight { ack, subject, headers, payload })))
            }
        };
        match r {
            Ok(()) => self.published += 1,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: String) {
        self.lost += 1;
        if self.error.is_none() {
            log::error!("{}: {e}", self.name);
            self.error = Some(format!("{}: {e}", self.name));
        }
    }

    /// Waits for every acknowledgement (JetStream) or for the client's buffer to reach the
    /// server (core): what the bus holds.
    pub(crate) fn finish(mut self) -> Written {
        match &mut self.bus {
            Bus::Core { client, .. } => {
                if let Err(e) = self.rt.block_on(client.flush()) {
                    self.error.get_or_insert(format!("{}: flush: {e}", self.name));
                }
                self.acked = self.published;
            }
            Bus::Stream { js, acks, .. } => {
                while let Some(f) = acks.pop_front() {
                    match settle(&self.rt, js, f) {
                        Ok(()) => self.acked += 1,
                        Err(e) => {
                            self.lost += 1;
                            self.error.get_or_insert(format!("{}: {e}", self.name));
                        }
                    }
                }
            }
        }
        Written { lines: self.acked, lost: self.lost, error: self.error }
    }
}

/// The client's runtime, driven by the writer's thread.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// While nothing is due, how often the client gets the writer's thread.
pub(crate) const IDLE: Duration = Duration::from_millis(200);

/// Connects to `target`'s server (failing within ten seconds); `ready` follows the connection.
async fn client(
    target: &NatsTarget,
    name: &str,
    ready: &ticklane::health::Probe,
) -> anyhow::Result<async_nats::Client> {
    let probe = ready.clone();
    let options =
        async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(10)).event_callback(move |event| {
            let probe = probe.clone();
            async move {
                match event {
                    async_nats::Event::Connected => probe.set(true),
                    async_nats::Event::Disconnected => probe.set(false),
                    _ => {}
                }
            }
        });
    let client = options.connect(target.server()).await.map_err(|e| anyhow::anyhow!("{name}: cannot connect: {e}"))?;
    ready.set(true);
    Ok(client)
}

/// Waits for a publish's acknowledgement; when it fails (the server restarted, say), publishes
/// the same message again (its id makes that harmless) until acknowledged or out of tries.
fn settle(rt: &tokio::runtime::Runtime, js: &async_nats::jetstream::Context, f: InFlight) -> Result<(), String> {
    let mut last = match rt.block_on(f.ack.into_future()) {
        Ok(_) => return Ok(()),
        Err(e) => e.to_string(),
    };
    for attempt in 0..TRIES {
        std::thread::sleep(Duration::from_millis(100 << attempt));
        match publish_retried(rt, js, &f.subject, f.headers.clone(), &f.payload)
            .map(|ack| rt.block_on(ack.into_future()))
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => last = e.to_string(),
            Err(e) => last = e,
        }
    }
    Err(format!("not acknowledged after {TRIES} tries: {last}"))
}

/// Publishes to JetStream, retrying a refused publish with a growing pause (the message id
/// makes a retry of one that did land harmless).
fn publish_retried(
    rt: &tokio::runtime::Runtime,
    js: &async_nats::jetstream::Context,
    subject: &str,
    headers: async_nats::HeaderMap,
    payload: &[u8],
) -> Result<PublishAckFuture, String> {
    let mut last = String::new();
    for attempt in 0..TRIES {
        match rt.block_on(js.publish_with_headers(subject.to_string(), headers.clone(), payload.to_vec().into())) {
            Ok(f) => return Ok(f),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(100 << attempt));
    }
    Err(format!("publish failed {TRIES} times: {last}"))
}

/// An instrument name as one subject token.
fn token(name: &str) -> String {
    name.chars().map(|c| if matches!(c, '.' | '*' | '>') || c.is_whitespace() { '_' } else { c }).collect()
}
