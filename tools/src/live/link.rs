//! What every live feed thread shares, whatever its protocol: the outlets to the readers, the
//! counters, the readiness probe, the stop flag; connection state changes logged and counted
//! once; malformed messages located by URL and message number.

use super::outlet::{Outlet, Sent};
use super::LinkStats;
use crate::input::binance::Bad;
use crate::input::{Event, InputError, StopFlag};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use ticklane::{health::Probe, Quote, Timestamp, Trade};

/// One live link's shared state.
pub(super) struct Link {
    pub(super) url: String,
    pub(super) stop: StopFlag,
    pub(super) stats: Arc<LinkStats>,
    probe: Probe,
    pub(super) trades: Option<Outlet<Trade>>,
    pub(super) quotes: Option<Outlet<Quote>>,
    /// The `ts_event`s accepted.
    pub(super) ts_range: (Timestamp, Timestamp),
    published: Instant,
}

impl Link {
    pub(super) fn new(url: String, stop: StopFlag, stats: Arc<LinkStats>) -> Link {
        let probe = ticklane::health::probe(&format!("source {url}"));
        Link {
            url,
            stop,
            stats,
            probe,
            trades: None,
            quotes: None,
            ts_range: (ticklane::NO_TS + 1, ticklane::WM_END - 1),
            published: Instant::now(),
        }
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Connected: ready, counted, logged.
    pub(super) fn up(&mut self) {
        self.watcher().up();
    }

    /// Disconnected: not ready.
    pub(super) fn down(&mut self) {
        self.watcher().down();
    }

    /// What a client library's connection callbacks need to report state changes.
    pub(super) fn watcher(&self) -> Watcher {
        Watcher { url: self.url.clone(), stats: self.stats.clone(), probe: self.probe.clone() }
    }

    /// Sleeps `d`, waking early when stopped.
    pub(super) fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Hands pending records to the readers (waiting only when `must`, or when they are far
    /// behind); whether any reader is left. Publishes the counters now and then.
    pub(super) fn send_pending(&mut self, must: bool) -> bool {
        let stop = &self.stop;
        let stopped = || must || stop.load(Relaxed);
        let t = self.trades.as_mut().map(|o| matches!(o.send(stopped), Sent::Ok));
        let q = self.quotes.as_mut().map(|o| matches!(o.send(stopped), Sent::Ok));
        if self.published.elapsed() >= super::PUBLISH_EVERY {
            self.published = Instant::now();
            self.stats.publish(&self.url);
        }
        t.unwrap_or(false) || q.unwrap_or(false)
    }

    /// The link is ending: everything pending goes to the readers (whose sources then end).
    pub(super) fn finish(&mut self) {
        self.send_pending(true);
        self.probe.set(false);
        self.stats.connected.store(0, Relaxed);
        self.stats.publish(&self.url);
    }

    /// Ends the readers' sources now (what was pending is handed over first), while the link
    /// goes on (to acknowledge what becomes durable).
    pub(super) fn close(&mut self) {
        self.send_pending(true);
        self.trades = None;
        self.quotes = None;
    }

    /// Tells the readers the watermark floor the records from here on are judged against;
    /// whether any reader is left.
    pub(super) fn floor(&mut self, floor: Timestamp) -> bool {
        let t = self.trades.as_mut().map(|o| o.send_floor(floor));
        let q = self.quotes.as_mut().map(|o| o.send_floor(floor));
        t.unwrap_or(false) || q.unwrap_or(false)
    }

    /// Counts one message read (of `bytes`); its number. This thread is the counters' only
    /// writer, so each is a load and a store: no locked read-modify-write per message.
    pub(super) fn count(&self, bytes: usize) -> u64 {
        let s = &self.stats;
        s.bytes.store(s.bytes.load(Relaxed) + bytes as u64, Relaxed);
        let n = s.messages.load(Relaxed) + 1;
        s.messages.store(n, Relaxed);
        n
    }

    /// Counts a message of no kind read.
    pub(super) fn skip(&self) {
        self.stats.skipped.fetch_add(1, Relaxed);
    }

    /// Where message `n` is, for errors.
    fn at(&self, n: u64) -> String {
        format!("{}: message {n}", self.url)
    }

    /// A message that is not what the stream should carry: a recoverable error for the first
    /// reader (counted as malformed there), located by the message's number.
    pub(super) fn malformed(&mut self, (reason, detail): Bad) {
        self.stats.garbage.fetch_add(1, Relaxed);
        let e = InputError { at: self.at(self.stats.messages.load(Relaxed)), reason, detail, recoverable: true };
        if let Some(o) = &mut self.trades {
            o.push(Err(e));
        } else if let Some(o) = &mut self.quotes {
            o.push(Err(e));
        }
    }

    /// A decoded trade of instrument `name` (message `n`); `false` when trades are not read.
    pub(super) fn trade(&mut self, rec: Result<Trade, Bad>, name: &[u8], n: u64) -> bool {
        let (url, range) = (&self.url, self.ts_range);
        self.trades.as_mut().map(|o| hand(o, rec, name, range, || format!("{url}: message {n}"))).is_some()
    }

    /// A decoded quote of instrument `name` (message `n`); `false` when quotes are not read.
    pub(super) fn quote(&mut self, rec: Result<Quote, Bad>, name: &[u8], n: u64) -> bool {
        let (url, range) = (&self.url, self.ts_range);
        self.quotes.as_mut().map(|o| hand(o, rec, name, range, || format!("{url}: message {n}"))).is_some()
    }
}

/// Hands one decoded message (its instrument named `name`) to its outlet.
fn hand<R: Event>(
    o: &mut Outlet<R>,
    rec: Result<R, Bad>,
    name: &[u8],
    range: (Timestamp, Timestamp),
    at: impl FnOnce() -> String,
) {
    let bad = |(reason, detail): Bad| Err(InputError { at: at(), reason, detail, recoverable: true });
    match rec {
        Ok(r) if r.ts_event() < range.0 || r.ts_event() > range.1 => {
            o.push(bad(("bad_timestamp", crate::input::out_of_range(r.ts_event(), range))))
        }
        Ok(r) => {
            let sym = o.symbols.get(name);
            o.push(Ok((sym, r)))
        }
        Err(b) => o.push(bad(b)),
    }
}

/// Reports a link's connection state changes (from any thread).
#[derive(Clone)]
pub(super) struct Watcher {
    url: String,
    stats: Arc<LinkStats>,
    probe: Probe,
}

impl Watcher {
    /// Connected: ready, counted, logged.
    pub(super) fn up(&self) {
        let n = self.stats.connects.fetch_add(1, Relaxed);
        log::info!("{}: connected{}", self.url, if n > 0 { " again" } else { "" });
        self.probe.set(true);
        self.stats.connected.store(1, Relaxed);
        self.stats.publish(&self.url);
    }

    /// The client dropped messages for a subscriber that fell behind (core NATS).
    pub(super) fn slow_consumer(&self) {
        if self.stats.slow_consumer.fetch_add(1, Relaxed) == 0 {
            log::warn!("{}: the client dropped messages: this reader fell behind the subject", self.url);
        }
    }

    /// Disconnected: not ready, logged.
    pub(super) fn down(&self) {
        if self.stats.connected.swap(0, Relaxed) == 1 {
            log::warn!("{}: disconnected", self.url);
        }
        self.probe.set(false);
        self.stats.publish(&self.url);
    }
}
