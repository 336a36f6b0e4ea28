//! Live sources (design.md §9): a market-data stream read from the network on a thread of its
//! own (never a shard), reconnected with capped backoff, its records handed to the same reader
//! loop that replays files ([`crate::input::Source`]), its state on `/readyz` and in metrics.
//!
//! | file | what |
//! |---|---|
//! | `ws.rs` | one WebSocket connection: TCP with timeouts, handshake (TLS for `wss://`), polled reads |
//! | `binance.rs` | the feed thread for a Binance combined stream: decode, reconnect, stall, counts |
//! | `nats.rs` | the feed thread for NATS subjects and JetStream consumers (async-nats on its own runtime) |
//! | `durable.rs` | JetStream acknowledgement once bars are durably written; the checkpoint a restart resumes from |
//! | `link.rs` | what every feed thread shares: outlets, counters, readiness, malformed messages |
//! | `outlet.rs` | the hand-over to the reader loop: bounded, latency first, chunks recycled |
//! | `backoff.rs` | capped exponential backoff |
//!
//! Records are pushed as they arrive (not merged by time with other inputs), so a live URL is
//! the only input of a run.

mod backoff;
mod binance;
mod durable;
mod link;
mod nats;
mod outlet;
mod ws;

pub use backoff::Backoff;
pub use durable::{Durability, Finality, STREAM as CHECKPOINT_STREAM};
pub use nats::{connect_options, NatsTarget};
pub use outlet::LiveSource;

use crate::input::{Kinds, ReadOptions, StopFlag};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use ticklane::{Quote, Trade};

/// How often a link's counters are published to the metrics recorder while it reads.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// A live input named by URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveUrl {
    /// `ws://…` or `wss://…`: a Binance combined stream.
    WebSocket(String),
    /// `nats://HOST:PORT/SUBJECT` or `jetstream://HOST:PORT/STREAM[/CONSUMER]`: ticks on NATS.
    Nats(NatsTarget),
}

impl LiveUrl {
    /// `Ok(None)` for something that is not a URL (a file path); an error for a URL ticklane
    /// cannot read, saying what was expected.
    pub fn parse(s: &str) -> Result<Option<LiveUrl>, String> {
        let Some((scheme, rest)) = s.split_once("://") else { return Ok(None) };
        match scheme {
            "ws" | "wss" if !rest.is_empty() => Ok(Some(LiveUrl::WebSocket(s.to_string()))),
            "ws" | "wss" => Err(format!("{s}: expected ws://HOST[:PORT]/PATH")),
            "nats" | "jetstream" => NatsTarget::parse(scheme == "jetstream", rest)
                .map(|t| Some(LiveUrl::Nats(t)))
                .map_err(|e| format!("{s}: {e}")),
            _ => Err(format!(
                "{s}: unknown URL scheme `{scheme}`; expected ws://, wss://, nats://HOST:PORT/SUBJECT or \
                 jetstream://HOST:PORT/STREAM[/CONSUMER]"
            )),
        }
    }

    /// The record kinds the URL asks for: a combined stream's `streams=` names (`…@trade`,
    /// `…@bookTicker`; both when it names neither); trades on NATS (`--kind quotes` for quotes).
    pub fn kinds(&self) -> Kinds {
        let url = match self {
            LiveUrl::WebSocket(url) => url,
            LiveUrl::Nats(_) => return Kinds { trades: true, quotes: false },
        };
        let streams = url.split_once("streams=").map_or("", |(_, s)| s.split('&').next().unwrap_or(""));
        let has = |kind: &str| streams.split('/').any(|s| s.rsplit('@').next() == Some(kind));
        match (has("trade"), has("bookTicker")) {
            (false, false) => Kinds { trades: true, quotes: true },
            (trades, quotes) => Kinds { trades, quotes },
        }
    }

    /// The URL as given (for names and messages).
    pub fn text(&self) -> String {
        match self {
            LiveUrl::WebSocket(u) => u.clone(),
            LiveUrl::Nats(NatsTarget::Core { server, subject }) => format!("nats://{server}/{subject}"),
            LiveUrl::Nats(NatsTarget::JetStream { server, stream, consumer, .. }) => {
                format!("jetstream://{server}/{stream}/{consumer}")
            }
        }
    }
}

/// How a link connects and reconnects.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// The first wait before reconnecting (doubling per failure).
    pub reconnect_min: Duration,
    /// The longest wait before reconnecting.
    pub reconnect_max: Duration,
    /// No message (data, ping or pong) for this long: the connection is dropped and remade.
    pub stall_timeout: Duration,
    /// TCP connect and handshake timeout.
    pub connect_timeout: Duration,
    /// JetStream: acknowledge a tick only once its bars are durably written (else once it is
    /// handed to the engine).
    pub durability: Option<Durability>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            durability: None,
        }
    }
}

/// A link's counters (design.md §8 names when published: `ticklane_link_*{url}`).
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Connections made (the first and every reconnection).
    pub connects: AtomicU64,
    /// Connection attempts that failed.
    pub failed_connects: AtomicU64,
    /// Connections dropped for silence.
    pub stalls: AtomicU64,
    /// Messages read (written by the link's thread only).
    pub messages: AtomicU64,
    /// Bytes of messages read (written by the link's thread only).
    pub bytes: Arc<AtomicU64>,
    /// Messages not understood (bad JSON, bad fields, binary garbage).
    pub garbage: AtomicU64,
    /// Messages of no kind read (other streams, replies).
    pub skipped: Arc<AtomicU64>,
    /// 1 while connected.
    pub connected: AtomicU64,
    /// Times the client dropped messages for falling behind (core NATS).
    pub slow_consumer: AtomicU64,
    /// JetStream messages acknowledged.
    pub acked: AtomicU64,
    /// JetStream messages delivered again within one run (not waited for past the consumer's
    /// acknowledgement wait): passed over, already handed on.
    pub redelivered: AtomicU64,
    /// JetStream deliveries that never arrived (lost in flight across a reconnect: the consumer
    /// sequence jumped). Their ticks are missing from the run.
    pub lost_deliveries: AtomicU64,
    /// A JetStream consumer acknowledged by durability was deleted or made anew by another
    /// run: this link reads nothing more, and the program must exit without draining (what
    /// it would write and acknowledge belongs to the other run now).
    pub superseded: std::sync::atomic::AtomicBool,
}

impl LinkStats {
    /// Reconnections: connections after the first.
    pub fn reconnects(&self) -> u64 {
        self.connects.load(Relaxed).saturating_sub(1)
    }

    /// Copies the counters to the metrics recorder (on state changes and every
    /// [`PUBLISH_EVERY`], never per message).
    fn publish(&self, url: &str) {
        let l = [("url", url.to_string())];
        metrics::gauge!("ticklane_link_connected", &l).set(self.connected.load(Relaxed) as f64);
        metrics::counter!("ticklane_link_reconnects_total", &l).absolute(self.reconnects());
        metrics::counter!("ticklane_link_failed_connects_total", &l).absolute(self.failed_connects.load(Relaxed));
        metrics::counter!("ticklane_link_stalls_total", &l).absolute(self.stalls.load(Relaxed));
        metrics::counter!("ticklane_link_messages_total", &l).absolute(self.messages.load(Relaxed));
        metrics::counter!("ticklane_link_garbage_total", &l).absolute(self.garbage.load(Relaxed));
        metrics::counter!("ticklane_link_slow_consumer_total", &l).absolute(self.slow_consumer.load(Relaxed));
        metrics::counter!("ticklane_link_acked_total", &l).absolute(self.acked.load(Relaxed));
        metrics::counter!("ticklane_link_redelivered_total", &l).absolute(self.redelivered.load(Relaxed));
        metrics::counter!("ticklane_link_lost_deliveries_total", &l).absolute(self.lost_deliveries.load(Relaxed));
    }
}

/// A live input, open: a source per kind asked for, fed by the link's thread.
pub struct Live {
    /// Trades, when asked for.
    pub trades: Option<LiveSource<Trade>>,
    /// Quotes, when asked for.
    pub quotes: Option<LiveSource<Quote>>,
    /// The link's counters.
    pub stats: Arc<LinkStats>,
    /// Disconnected when the link's thread has ended (after its last acknowledgement).
    pub done: crossbeam_channel::Receiver<()>,
}

/// Starts reading `url` for `kinds` (per `opt`: venue, `ts_event` range; its stop flag ends
/// the link). Connection problems are not errors here: the link retries until stopped, and
/// `/readyz` says whether it is connected.
pub fn open(url: &LiveUrl, kinds: Kinds, opt: &ReadOptions, link_opt: &LinkOptions) -> std::io::Result<Live> {
    let stop = opt.stop.clone().unwrap_or_else(|| StopFlag::new(false.into()));
    let stats = Arc::new(LinkStats::default());
    let mut link = link::Link::new(url.text(), stop, stats.clone());
    link.ts_range = opt.ts_range;
    let (mut trades, mut quotes) = (None, None);
    if kinds.trades {
        let (o, s) = outlet::outlet(Some(stats.skipped.clone()), stats.bytes.clone());
        link.trades = Some(o);
        trades = Some(s);
    }
    if kinds.quotes {
        let skipped = (!kinds.trades).then(|| stats.skipped.clone());
        let (o, s) = outlet::outlet(skipped, stats.bytes.clone());
        link.quotes = Some(o);
        quotes = Some(s);
    }
    let thread = std::thread::Builder::new().name("ticklane-link".into());
    let (alive, done) = crossbeam_channel::bounded::<()>(0);
    match url {
        LiveUrl::WebSocket(_) => {
            let feed = binance::Feed::new(link, link_opt.clone(), opt.venue.as_deref());
            thread.spawn(move || {
                feed.run();
                drop(alive);
            })?;
        }
        LiveUrl::Nats(target) => {
            let feed = nats::Feed::new(link, target.clone(), link_opt.clone());
            thread.spawn(move || {
                feed.run();
                drop(alive);
            })?;
        }
    }
    Ok(Live { trades, quotes, stats, done })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_their_kinds() {
        let k = |u: &str| LiveUrl::parse(u).expect("ok").expect("a URL").kinds();
        let both = Kinds { trades: true, quotes: true };
        assert_eq!(k("wss://h:9443/stream?streams=btcusdt@trade/ethusdt@trade"), Kinds { trades: true, quotes: false });
        assert_eq!(k("ws://h/stream?streams=btcusdt@bookTicker&x=1"), Kinds { trades: false, quotes: true });
        assert_eq!(k("ws://h/stream?streams=btcusdt@trade/btcusdt@bookTicker"), both);
        assert_eq!(k("ws://h/ws"), both, "no streams named: both kinds");
        assert_eq!(LiveUrl::parse("data/x.csv"), Ok(None), "a file");
        assert_eq!(k("nats://h:4222/ticks.>"), Kinds { trades: true, quotes: false });
        let js = LiveUrl::parse("jetstream://h/TICKS").expect("ok").expect("a URL");
        assert_eq!(js.text(), "jetstream://h:4222/TICKS/ticklane", "default port and consumer");
        for bad in ["ws://", "http://h/x", "nats://h:4222", "nats:///x", "jetstream://h:1/a/b/c"] {
            assert!(LiveUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
