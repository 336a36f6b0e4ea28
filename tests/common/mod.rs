//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[path = "../../examples/feed_service.rs"]
pub mod feed_service;
pub mod golden;

use std::sync::mpsc;
use std::time::Duration;
use ticklane::{Fixed, InstrumentId, Stamped, Trade, TradeId, Transform};

/// A trade of instrument `id` at `ts` carrying `seq` in its size (raw units) and trade id.
pub fn seq_trade(id: InstrumentId, ts: i64, seq: u64) -> Trade {
    Trade {
        ts_event: ts,
        ts_recv: ticklane::NO_TS,
        price: Fixed::from_raw(100 * ticklane::SCALE),
        size: Fixed::from_raw(seq as i64),
        trade_id: TradeId::from_u64(seq),
        instrument: id,
        side: ticklane::Side::Buy,
    }
}

/// Runs `f` on a thread and fails the test if it takes longer than `limit` (a hang guard,
/// not a speed assertion).
pub fn watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => panic!("watchdog: still running after {limit:?} (hang)"),
    }
}

/// xorshift64*: a tiny deterministic generator for test streams.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A transform that passes trades through and panics at its `k`-th (fault injection).
pub struct PanicsOnKth {
    pub k: u64,
    pub seen: u64,
}

impl Transform<Trade, Trade> for PanicsOnKth {
    fn on_batch(&mut self, input: &[Stamped<Trade>], out: &mut Vec<Stamped<Trade>>) {
        for t in input {
            self.seen += 1;
            if self.seen == self.k {
                panic!("injected failure at event {}", self.k);
            }
            out.push(*t);
        }
    }
}
