//! A live Binance combined stream (`wss://…/stream?streams=btcusdt@trade/btcusdt@bookTicker`)
//! on a thread of its own: connects, reads messages, decodes `trade` messages into trades and
//! `bookTicker` messages into quotes exactly as a stream capture's lines are decoded
//! (design.md §6; the receive time is this host's clock when the message was read), and hands
//! them to the reader loops ([`super::outlet`]). Reconnects with capped backoff when the
//! connection fails, closes, or stalls; counts and logs each state change once.

use super::backoff::Backoff;
use super::outlet::{Outlet, Sent};
use super::ws::{Conn, Read};
use super::{LinkOptions, LinkStats};
use crate::input::binance::{message, Bad, StreamKind, DEFAULT_VENUE};
use crate::input::{Event, InputError, StopFlag};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use ticklane::{health::Probe, Quote, Timestamp, Trade};

/// The feed thread's state.
pub(super) struct Feed {
    pub(super) url: String,
    pub(super) opt: LinkOptions,
    pub(super) stop: StopFlag,
    pub(super) stats: Arc<LinkStats>,
    pub(super) probe: Probe,
    pub(super) trades: Option<Outlet<Trade>>,
    pub(super) quotes: Option<Outlet<Quote>>,
    /// `<venue>:`, the instrument prefix; a name is built after it.
    name: Vec<u8>,
    prefix: usize,
    pub(super) ts_range: (Timestamp, Timestamp),
}

/// Why a connection ended.
enum Ended {
    /// It failed, closed or stalled: reconnect.
    Lost(String),
    /// Stop asked for, or no reader left.
    Stop,
}

impl Feed {
    pub(super) fn new(
        url: String,
        opt: LinkOptions,
        stop: StopFlag,
        stats: Arc<LinkStats>,
        venue: Option<&str>,
    ) -> Feed {
        let mut name = venue.unwrap_or(DEFAULT_VENUE).as_bytes().to_vec();
        name.push(b':');
        let probe = ticklane::health::probe(&format!("source {url}"));
        Feed {
            url,
            opt,
            stop,
            stats,
            probe,
            trades: None,
            quotes: None,
            prefix: name.len(),
            name,
            ts_range: (ticklane::NO_TS + 1, ticklane::WM_END - 1),
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    /// Connects and reads until stopped (or no reader is left), reconnecting as needed; then
    /// hands over what is pending, which ends the readers' sources.
    pub(super) fn run(mut self) {
        let mut backoff = Backoff::new(self.opt.reconnect_min, self.opt.reconnect_max);
        let mut last_error: Option<String> = None;
        while !self.stopped() {
            match Conn::open(&self.url, self.opt.connect_timeout) {
                Ok(conn) => {
                    self.up();
                    last_error = None;
                    backoff.reset();
                    let ended = self.pump(conn);
                    self.down();
                    match ended {
                        Ended::Stop => break,
                        Ended::Lost(why) => log::warn!("{}: {why}; reconnecting", self.url),
                    }
                }
                Err(e) => {
                    self.stats.failed_connects.fetch_add(1, Relaxed);
                    if last_error.as_deref() != Some(e.as_str()) {
                        log::warn!("{}: {e}; retrying (backoff up to {:?})", self.url, self.opt.reconnect_max);
                        last_error = Some(e);
                    }
                }
            }
            self.sleep(backoff.next_wait());
        }
        self.send_pending(true);
        self.probe.set(false);
        self.stats.publish(&self.url);
    }

    fn up(&mut self) {
        let n = self.stats.connects.fetch_add(1, Relaxed);
        log::info!("{}: connected{}", self.url, if n > 0 { " again" } else { "" });
        self.probe.set(true);
        self.stats.connected.store(1, Relaxed);
        self.stats.publish(&self.url);
    }

    fn down(&mut self) {
        self.probe.set(false);
        self.stats.connected.store(0, Relaxed);
        self.stats.publish(&self.url);
    }

    /// Sleeps `d`, waking early when stopped.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Reads one connection until it ends.
    fn pump(&mut self, mut conn: Conn) -> Ended {
        let mut last = Instant::now();
        let mut published = last;
        loop {
            if self.stopped() {
                conn.close();
                return Ended::Stop;
            }
            match conn.read() {
                Read::Text(t) => {
                    last = Instant::now();
                    self.stats.bytes.fetch_add(t.len() as u64, Relaxed);
                    self.on_message(t.as_str());
                }
                Read::Other(garbage) => {
                    last = Instant::now();
                    if garbage {
                        self.malformed(("bad_message", "a binary message that is not UTF-8 text".into()));
                    }
                }
                Read::Nothing if last.elapsed() >= self.opt.stall_timeout => {
                    self.stats.stalls.fetch_add(1, Relaxed);
                    conn.close();
                    return Ended::Lost(format!("no message for {:?}: the stream stalled", self.opt.stall_timeout));
                }
                Read::Nothing => {}
                Read::Closed(why) => return Ended::Lost(why),
            }
            if !self.send_pending(false) {
                conn.close();
                return Ended::Stop;
            }
            if published.elapsed() >= super::PUBLISH_EVERY {
                published = Instant::now();
                self.stats.publish(&self.url);
            }
        }
    }

    /// Hands pending records to the readers (waiting only when `must`, or when they are far
    /// behind); whether any reader is left.
    fn send_pending(&mut self, must: bool) -> bool {
        let stop = &self.stop;
        let stopped = || must || stop.load(Relaxed);
        let t = self.trades.as_mut().map(|o| matches!(o.send(stopped), Sent::Ok));
        let q = self.quotes.as_mut().map(|o| matches!(o.send(stopped), Sent::Ok));
        t.unwrap_or(false) || q.unwrap_or(false)
    }

    /// One message: a trade or quote for its reader, or counted as skipped or malformed.
    fn on_message(&mut self, text: &str) {
        let n = self.stats.messages.fetch_add(1, Relaxed) + 1;
        let recv = now_ns();
        let m = match message(text) {
            Ok(m) => m,
            Err(bad) => return self.malformed(bad),
        };
        let Some((kind, data)) = m.parts() else {
            self.stats.skipped.fetch_add(1, Relaxed);
            return;
        };
        self.name.truncate(self.prefix);
        let at = || format!("{}: message {n}", self.url);
        let taken = match kind {
            Trade::STREAM => self.trades.as_mut().map(|o| {
                let r = Trade::parse(data, recv, &mut self.name);
                take(o, r, &self.name, self.ts_range, at)
            }),
            Quote::STREAM => self.quotes.as_mut().map(|o| {
                let r = Quote::parse(data, recv, &mut self.name);
                take(o, r, &self.name, self.ts_range, at)
            }),
            _ => None,
        };
        if taken.is_none() {
            self.stats.skipped.fetch_add(1, Relaxed);
        }
    }

    /// A message that is not what the stream should carry: a recoverable error for the first
    /// reader (counted as malformed there, located by the message's number).
    fn malformed(&mut self, (reason, detail): Bad) {
        self.stats.garbage.fetch_add(1, Relaxed);
        let at = format!("{}: message {}", self.url, self.stats.messages.load(Relaxed));
        let e = InputError { at, reason, detail, recoverable: true };
        match (&mut self.trades, &mut self.quotes) {
            (Some(o), _) => o.push(Err(e)),
            (None, Some(o)) => o.push(Err(e)),
            (None, None) => {}
        }
    }
}

/// Hands one decoded message (its instrument named `name`) to its outlet.
fn take<R: Event>(
    o: &mut Outlet<R>,
    rec: Result<R, Bad>,
    name: &[u8],
    range: (Timestamp, Timestamp),
    at: impl Fn() -> String,
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

/// This host's clock, ns since the Unix epoch.
fn now_ns() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as Timestamp)
}
