//! The steps of a cursor over an unquoted CSV line, shared by the one-pass paths of the trade
//! and quote readers: where a field ends, the next comma, an integer time read in place.

use super::digits::digits;
use super::word::{equal, word_at};
use ticklane::Timestamp;

/// Whether a field ends at `i`.
#[inline]
pub(super) fn at_end(line: &[u8], i: usize) -> bool {
    matches!(line.get(i), None | Some(b','))
}

/// The index of the first comma at or after `i`, or the line's length. Eight bytes at a time
/// (fields are short: a call into `memchr` cost more than the search).
#[inline]
pub(super) fn comma(line: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(line, i) {
        let found = equal(w, b',');
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    line[i..].iter().position(|&c| c == b',').map_or(line.len(), |p| i + p)
}

/// An integer time at `i` (ns, or µs scaled to ns when `micros`) ending the field, into `out`;
/// the index after it. `None` for anything else (more than 19 digits, out of range, RFC 3339).
#[inline]
pub(super) fn time(line: &[u8], i: usize, micros: bool, out: &mut Timestamp) -> Option<usize> {
    let neg = line.get(i) == Some(&b'-');
    let start = i + usize::from(neg);
    let (v, n) = digits(line, start);
    let end = start + n;
    if n == 0 || !at_end(line, end) {
        return None;
    }
    let v = i64::try_from(v).ok()?;
    let v = if neg { -v } else { v };
    *out = if micros { v.checked_mul(1_000)? } else { v };
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas_are_found_eight_bytes_at_a_time_as_one_by_one() {
        let line = b"a,,bcdefghijklmnop,\xff\x80,,x,,,,,,,,,,,,,,,,,,,qrstuvwxyz0123456789";
        for i in 0..=line.len() {
            let slow = line[i..].iter().position(|&c| c == b',').map_or(line.len(), |p| i + p);
            assert_eq!(comma(line, i), slow, "from {i}");
        }
    }

    #[test]
    fn a_time_ends_its_field() {
        let mut t = 0;
        assert_eq!((time(b"12,x", 0, false, &mut t), t), (Some(2), 12));
        assert_eq!((time(b"x,-7", 2, true, &mut t), t), (Some(4), -7_000));
        for odd in [&b"1x,"[..], b"", b",", b"-", b"99999999999999999999", b"2023-12-25T23:00:00Z"] {
            assert_eq!(time(odd, 0, false, &mut t), None, "{}", String::from_utf8_lossy(odd));
        }
    }
}
