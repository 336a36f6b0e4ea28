//! Decimal digits eight at a time (SIMD within a register), for the readers' hot loops.

/// Every byte of a word.
const EACH: u64 = 0x0101_0101_0101_0101;

/// The value of eight ASCII digits loaded little-endian (the first digit in the low byte), or
/// `None` if any byte is not a digit. SIMD within a register: subtract `'0'` from every byte,
/// check each is below 10 (no high nibble, even after adding 6), then combine neighbours into
/// 2-, 4- and 8-digit values; no lane can carry into the next.
#[inline]
pub(super) fn eight_digits(chunk: u64) -> Option<u64> {
    let d = chunk.wrapping_sub(EACH * b'0' as u64);
    if (d | d.wrapping_add(EACH * 6)) & (EACH * 0xF0) != 0 {
        return None;
    }
    Some(combine(d))
}

/// Eight digit values (0..=9, one per byte, the first lowest) combined into their number.
#[inline(always)]
fn combine(d: u64) -> u64 {
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    (d.wrapping_mul(10_000) + (d >> 32)) & 0xFFFF_FFFF
}

/// 10^n for n in 0..=8.
const POW10: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

/// How many of the bytes of `chunk` (loaded little-endian: the first byte lowest) are ASCII
/// digits before the first that is not, 0 to 8. A borrow from a byte below `'0'` can only
/// disturb the bytes after it, never the count.
#[inline]
pub(super) fn leading_digits(chunk: u64) -> usize {
    let d = chunk.wrapping_sub(EACH * b'0' as u64);
    let bad = (d | d.wrapping_add(EACH * 6)) & (EACH * 0xF0);
    (bad.trailing_zeros() / 8) as usize
}

/// The digits at the start of `b[i..]`: their value (at most 19 digits are read) and how many
/// there were. Eight at a time while at least eight bytes remain, then one by one.
#[inline(always)]
pub(super) fn digits(b: &[u8], mut i: usize) -> (u64, usize) {
    let start = i;
    let mut v: u64 = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        let n = leading_digits(w).min(19 - (i - start));
        if n == 0 {
            return (v, i - start);
        }
        // The n digit values moved to the top of the word, zeros below: the same number
        // (n = 8 shifts by nothing).
        let d = w.wrapping_sub(EACH * b'0' as u64) << (8 * (8 - n));
        v = v * POW10[n] + combine(d);
        i += n;
        if n < 8 {
            return (v, i - start);
        }
    }
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 || i - start == 19 {
            break;
        }
        v = v * 10 + u64::from(d);
        i += 1;
    }
    (v, i - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_digits_at_once_agree_with_one_by_one() {
        for v in [0u64, 1, 9, 10, 12_345_678, 99_999_999, 10_000_000, 40_302_010] {
            let text = format!("{v:08}");
            assert_eq!(eight_digits(u64::from_le_bytes(text.as_bytes().try_into().expect("8"))), Some(v), "{text}");
        }
        for bad in [*b"1234567/", *b"1234567:", *b"/2345678", *b"12 45678", *b"\xff2345678", *b"1234567\x80"] {
            assert_eq!(eight_digits(u64::from_le_bytes(bad)), None, "{:?}", String::from_utf8_lossy(&bad));
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes().map(|b| b'0' + b % 12); // digits, ':' and ';'
            let slow = bytes.iter().try_fold(0u64, |v, &c| c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0')));
            assert_eq!(eight_digits(u64::from_le_bytes(bytes)), slow, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn runs_of_digits_anywhere_in_a_line() {
        let line = b"1700000000123456789,X,61837.63,0.002,abc,12345678901234567890123";
        assert_eq!(digits(line, 0), (1_700_000_000_123_456_789, 19));
        assert_eq!(digits(line, 22), (61837, 5));
        assert_eq!(digits(line, 28), (63, 2));
        assert_eq!(digits(line, 31), (0, 1));
        assert_eq!(digits(line, 37), (0, 0), "a letter");
        assert_eq!(digits(line, 41), (1_234_567_890_123_456_789, 19), "at most 19");
        for (i, c) in line.iter().enumerate() {
            let n = line[i..].iter().take_while(|c| c.is_ascii_digit()).count().min(19);
            let v = line[i..i + n].iter().fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
            assert_eq!(digits(line, i), (v, n), "at {i} ({})", *c as char);
        }
    }
}
