//! Tardis CSV (`exchange,symbol,timestamp,local_timestamp,id,side,price,amount`, µs
//! timestamps), read by the CSV reader with these columns; the instrument is
//! `exchange:symbol`.

use super::csv::{find, Columns};
use super::time::parse_int;
use super::InputError;

/// What a Tardis timestamp is, for error messages.
pub(super) const TIME_UNIT: &str = "integer microseconds";

/// Whether `header` is a Tardis trades header.
pub(super) fn looks_like(header: &[String]) -> bool {
    find(header, "local_timestamp").is_some() && find(header, "amount").is_some()
}

/// Tardis trades' columns: `timestamp`, `price`, `amount`, `exchange`, `symbol` required.
pub(super) fn columns(header: &[String], missing: impl Fn(&str) -> InputError) -> Result<Columns, InputError> {
    Ok(Columns {
        ts: find(header, "timestamp").ok_or_else(|| missing("timestamp"))?,
        recv: find(header, "local_timestamp"),
        price: find(header, "price").ok_or_else(|| missing("price"))?,
        size: find(header, "amount").ok_or_else(|| missing("amount"))?,
        side: find(header, "side"),
        id: find(header, "id"),
        instrument: None,
        exchange: Some(find(header, "exchange").ok_or_else(|| missing("exchange"))?),
        symbol: Some(find(header, "symbol").ok_or_else(|| missing("symbol"))?),
    })
}

/// Integer microseconds → nanoseconds (`None` on bad text or overflow).
pub(super) fn time(field: &[u8]) -> Option<i64> {
    parse_int(field).and_then(|us| us.checked_mul(1_000))
}
