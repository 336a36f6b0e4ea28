//! A CSV input's header line: a UTF-8 byte-order mark dropped, names split (quotes allowed)
//! and trimmed; and, when it is no trades header, a message saying what it looks like.

use super::super::excerpt::excerpt;
use super::fields::Fields;

/// What every error about an input's kind lists.
pub(in super::super) const SUPPORTED: &str = "supported inputs: ticklane CSV (ts_event,instrument,price,size\
[,ts_recv,side,trade_id]), Tardis trades CSV or quotes CSV (either may be gzip- or zstd-compressed), \
Databento DBN (.dbn, .dbn.zst), Binance stream captures (<receive_ns> <json> lines)";

const BOM: &[u8] = b"\xef\xbb\xbf";

/// The header's column names, or why the line is no CSV header at all.
pub(in crate::input) fn names(line: &[u8]) -> Result<Vec<String>, String> {
    let line = line.strip_prefix(BOM).unwrap_or(line);
    let line = trim_line_break(line);
    if let Some(at) = memchr::memchr(0, line) {
        return Err(format!("does not look like text (a NUL byte at offset {at}); {SUPPORTED}"));
    }
    let mut f = Fields::default();
    if f.split(line).is_err() {
        // Not a CSV header (a JSON line, say): split on commas so the caller can tell what it
        // looks like.
        return Ok(line.split(|&c| c == b',').map(|n| String::from_utf8_lossy(n).trim().to_string()).collect());
    }
    Ok((0..f.len()).map(|i| String::from_utf8_lossy(f.get(line, i)).trim().to_string()).collect())
}

/// `line` without its `\n` or `\r\n`.
pub(in crate::input) fn trim_line_break(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|&c| c != b'\n' && c != b'\r').map_or(0, |p| p + 1);
    &line[..end]
}

/// Why a first line that lacks column `missing` is not a trades header: what it looks like
/// when that is recognisable, what was expected, and an excerpt of it.
pub(super) fn not_a_trades_header(line: &[u8], names: &[String], missing: &str) -> String {
    let has = |n: &str| names.iter().any(|h| h == n);
    let line = trim_line_break(line.strip_prefix(BOM).unwrap_or(line));
    let looks = if has("bid_price") && has("ask_price") {
        Some("a Tardis quotes file: replay it with --kind quotes (or auto) for quote bars")
    } else if has("bid_px") || has("ask_px") {
        Some("a ticklane quotes file: replay it with --kind quotes (or auto) for quote bars")
    } else if super::super::is_stream_capture(line) {
        Some("a Binance stream capture (`<receive_ns> <json>` lines): read it with --input-format binance-stream")
    } else if line.first() == Some(&b'{') {
        Some("JSON lines: not a supported input")
    } else {
        None
    };
    match looks {
        Some(what) => format!("this looks like {what}; {SUPPORTED}; the first line is {}", excerpt(line)),
        None => format!("expected a header with a `{missing}` column, found {}; {SUPPORTED}", excerpt(line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bom_is_dropped_and_names_are_trimmed() {
        assert_eq!(
            names(b"\xef\xbb\xbfts_event, instrument ,\"price\",size\r\n").expect("header"),
            ["ts_event", "instrument", "price", "size"]
        );
        assert!(names(b"\0\0\0").expect_err("binary").contains("NUL byte at offset 0"));
    }

    #[test]
    fn unknown_headers_say_what_they_look_like() {
        let tardis_quotes = b"exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount";
        let n = names(tardis_quotes).expect("names");
        assert!(not_a_trades_header(tardis_quotes, &n, "price").contains("Tardis quotes file"));
        let stream = b"1723075200123456789 {\"stream\":\"btcusdt@trade\",\"data\":{}}";
        let n = names(stream).expect("names");
        assert!(not_a_trades_header(stream, &n, "ts_event").contains("Binance stream capture"));
        let other = names(b"a,b").expect("names");
        let m = not_a_trades_header(b"a,b", &other, "ts_event");
        assert!(m.starts_with("expected a header with a `ts_event` column, found \"a,b\""), "{m}");
    }
}
