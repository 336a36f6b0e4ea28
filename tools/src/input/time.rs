//! Timestamps in capture files: integer nanoseconds (or microseconds, scaled by the caller)
//! and RFC 3339 text, parsed from bytes.

use super::digits::eight_digits;

/// A decimal integer with an optional leading `-`; `None` for anything else or on overflow.
/// Eight digits at a time ([`eight_digits`]), the rest one by one; up to 19 digits accumulate
/// in a `u64` without overflow, so no checked arithmetic: this runs once or twice per record.
pub(super) fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    let mut rest = digits;
    while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
        v = v * 100_000_000 + eight_digits(u64::from_le_bytes(*chunk))?;
        rest = tail;
    }
    for &c in rest {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    if neg {
        // -2^63 is the one magnitude beyond i64::MAX that fits.
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// The decimal number in `b[at..at + n]`: exactly `n` ASCII digits, else `None`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let d = b.get(at..at + n)?;
    d.iter().try_fold(0i64, |v, &c| c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0')))
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` → ns since the epoch. Parsed on bytes at fixed
/// offsets (never slicing text inside a multi-byte character): anything else is `None`.
pub fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && matches!(b.get(10), Some(b'T' | b't' | b' ')) && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (y, mo, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    let (h, mi, se) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return None;
        }
        nanos = digits(frac, 0, n)? * 10i64.pow(9 - n as u32);
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (digits(rest, 1, 2)?, digits(rest, 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            (oh * 3600 + om * 60) * if *sign == b'-' { -1 } else { 1 }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's well-known formula.
    let (yy, mm) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"1700000000000000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_int(b"-5"), Some(-5));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"0000000000000000007"), Some(7));
        for bad in [
            &b""[..],
            b"-",
            b"1.5",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"9999999999999999999",
            b"18446744073709551616",
            b"12a",
            b"+1",
            b"1/",
            b"1:",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339(b"2023-12-25T23:00:00.000000000Z"), Some(1_703_545_200_000_000_000));
        assert_eq!(parse_rfc3339(b"2023-12-26T00:00:00.5+01:00"), Some(1_703_545_200_500_000_000));
        assert_eq!(parse_rfc3339(b"2023-12-25 23:00:00Z"), Some(1_703_545_200_000_000_000));
        for bad in [
            "2023-13-01T00:00:00Z",
            "2023-12-25T23:00:00",
            "2023-12-25T23:00:00.1234567891Z",
            "nonsense",
            "+023-12-25T23:00:00Z",
            "2023-12-25T23:00:00+24:00",
            "2023-12-25T23:00:00+01:0x",
        ] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }

    /// Regression (issue 17): a multi-byte character where the offset's `:` belongs panicked
    /// (`&rest[3..4]` sliced inside `€`). Every byte string is parsed or refused, never a panic.
    #[test]
    fn multibyte_and_arbitrary_bytes_are_refused_not_panicked_on() {
        assert_eq!(parse_rfc3339("2023-12-25T23:00:00+a€b".as_bytes()), None);
        assert_eq!(parse_rfc3339("2023-12-25T23:00:00€".as_bytes()), None);
        assert_eq!(parse_rfc3339("2023-12-2€T23:00:00Z".as_bytes()), None);
        let base = b"2023-12-25T23:00:00.5+01:00";
        for i in 0..base.len() {
            for b in [0u8, b'9', 0x80, 0xe2, 0xff] {
                let mut v = base.to_vec();
                v[i] = b;
                let _ = parse_rfc3339(&v);
                v.truncate(i);
                let _ = parse_rfc3339(&v);
            }
        }
    }
}
