//! Shared inputs for ticklane's benchmarks: deterministic synthetic trades.

use ticklane::{Fixed, InstrumentId, Trade, TradeId};

/// `n` trades over `instruments` instruments (ids `0..instruments`), 1 µs apart, with a
/// deterministic pseudo-random price walk. Instrument ids must be interned in order by the
/// caller (`SYM0`, `SYM1`, …) when used with an engine.
pub fn synthetic_trades(n: usize, instruments: u32) -> Vec<Trade> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Trade {
                ts_event: 1_700_000_000_000_000_000 + i as i64 * 1_000,
                ts_recv: ticklane::NO_TS,
                price: Fixed::from_raw(100_000_000_000 + (x % 1_000_000) as i64 * 1_000),
                size: Fixed::from_raw(1_000_000_000 + (x >> 40) as i64 % 5_000_000_000),
                trade_id: TradeId::from_u64(i as u64),
                instrument: InstrumentId((x % u64::from(instruments.max(1))) as u32),
                side: ticklane::Side::None,
            }
        })
        .collect()
}
