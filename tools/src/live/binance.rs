//! A live Binance combined stream (`wss://…/stream?streams=btcusdt@trade/btcusdt@bookTicker`)
//! on a thread of its own: connects, reads messages, decodes `trade` messages into trades and
//! `bookTicker` messages into quotes exactly as a stream capture's lines are decoded
//! (design.md §6; the receive time is this host's clock when the message was read), and hands
//! them to the reader loops ([`super::outlet`]). Reconnects with capped backoff when the
//! connection fails, closes, or stalls; counts and logs each state change once.

use super::backoff::Backoff;
use super::link::Link;
use super::ws::{Conn, Read};
use super::LinkOptions;
use crate::input::binance::{message, StreamKind, DEFAULT_VENUE};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use ticklane::{Quote, Timestamp, Trade};

/// The feed thread's state.
pub(super) struct Feed {
    pub(super) link: Link,
    opt: LinkOptions,
    /// `<venue>:`, the instrument prefix; a name is built after it.
    name: Vec<u8>,
    prefix: usize,
}

/// Why a connection ended.
enum Ended {
    /// It failed, closed or stalled: reconnect.
    Lost(String),
    /// Stop asked for, or no reader left.
    Stop,
}

impl Feed {
    pub(super) fn new(link: Link, opt: LinkOptions, venue: Option<&str>) -> Feed {
        let mut name = venue.unwrap_or(DEFAULT_VENUE).as_bytes().to_vec();
        name.push(b':');
        Feed { link, opt, prefix: name.len(), name }
    }

    /// Connects and reads until stopped (or no reader is left), reconnecting as needed; then
    /// hands over what is pending, which ends the readers' sources.
    pub(super) fn run(mut self) {
        let mut backoff = Backoff::new(self.opt.reconnect_min, self.opt.reconnect_max);
        let mut last_error: Option<String> = None;
        while !self.link.stopped() {
            match Conn::open(&self.link.url, self.opt.connect_timeout) {
                Ok(conn) => {
                    self.link.up();
                    last_error = None;
                    backoff.reset();
                    let ended = self.pump(conn);
                    self.link.down();
                    match ended {
                        Ended::Stop => break,
                        Ended::Lost(why) => log::warn!("{}: {why}; reconnecting", self.link.url),
                    }
                }
                Err(e) => {
                    self.link.stats.failed_connects.fetch_add(1, Relaxed);
                    if last_error.as_deref() != Some(e.as_str()) {
                        log::warn!("{}: {e}; retrying (backoff up to {:?})", self.link.url, self.opt.reconnect_max);
                        last_error = Some(e);
                    }
                }
            }
            self.link.sleep(backoff.next_wait());
        }
        self.link.finish();
    }

    /// Reads one connection until it ends.
    fn pump(&mut self, mut conn: Conn) -> Ended {
        let mut last = Instant::now();
        loop {
            if self.link.stopped() {
                conn.close();
                return Ended::Stop;
            }
            match conn.read() {
                Read::Text(t) => {
                    last = Instant::now();
                    self.on_message(t.as_str());
                }
                Read::Other(garbage) => {
                    last = Instant::now();
                    if garbage {
                        self.link.malformed(("bad_message", "a binary message that is not UTF-8 text".into()));
                    }
                }
                Read::Nothing if last.elapsed() >= self.opt.stall_timeout => {
                    self.link.stats.stalls.fetch_add(1, Relaxed);
                    conn.close();
                    return Ended::Lost(format!("no message for {:?}: the stream stalled", self.opt.stall_timeout));
                }
                Read::Nothing => {}
                Read::Closed(why) => return Ended::Lost(why),
            }
            if !self.link.send_pending(false) {
                conn.close();
                return Ended::Stop;
            }
        }
    }

    /// One message: a trade or quote for its reader, or counted as skipped or malformed.
    fn on_message(&mut self, text: &str) {
        let n = self.link.count(text.len());
        let recv = now_ns();
        let m = match message(text) {
            Ok(m) => m,
            Err(bad) => return self.link.malformed(bad),
        };
        let Some((kind, data)) = m.parts() else { return self.link.skip() };
        self.name.truncate(self.prefix);
        let taken = match kind {
            Trade::STREAM if self.link.trades.is_some() => {
                let r = Trade::parse(data, recv, &mut self.name);
                self.link.trade(r, &self.name, n)
            }
            Quote::STREAM if self.link.quotes.is_some() => {
                let r = Quote::parse(data, recv, &mut self.name);
                self.link.quote(r, &self.name, n)
            }
            _ => false,
        };
        if !taken {
            self.link.skip();
        }
    }
}

/// This host's clock, ns since the Unix epoch.
pub(super) fn now_ns() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as Timestamp)
}
