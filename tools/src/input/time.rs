//! Timestamps in capture files: integer nanoseconds (or microseconds, scaled by the caller)
//! and RFC 3339 text, parsed from bytes.

/// A decimal integer with an optional leading `-`; `None` for anything else or on overflow.
/// (Up to 19 digits accumulate in a `u64` without overflow, so the loop needs no checked
/// arithmetic: this runs once or twice per record.)
pub(super) fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
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

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` → ns since the epoch.
pub fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    if s.len() < 20 || !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if [4, 7].iter().any(|&i| s.as_bytes()[i] != b'-') || [13, 16].iter().any(|&i| s.as_bytes()[i] != b':') {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
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
        for bad in ["2023-13-01T00:00:00Z", "2023-12-25T23:00:00", "2023-12-25T23:00:00.1234567891Z", "nonsense"] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }
}
