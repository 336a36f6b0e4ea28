//! Eight bytes at a time (SIMD within a register): a word loaded from a line, and the bytes of
//! a word flagged by value, for the readers' and the wire scanner's searches. A flag is the
//! byte's high bit; the lowest flag of a word is exact (borrows only run upwards from a
//! flagged byte), so `found.trailing_zeros() / 8` is the first match.

/// Every byte of a word.
const EACH: u64 = 0x0101_0101_0101_0101;
/// Every byte's high bit.
const HIGH: u64 = EACH * 0x80;

/// The eight bytes at `b[i..]` as a word, the first byte lowest; `None` when fewer remain.
#[inline(always)]
pub(crate) fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let chunk = b.get(i..i + 8)?;
    Some(u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]))
}

/// Flags the bytes of `w` equal to `c`.
#[inline(always)]
pub(crate) fn equal(w: u64, c: u8) -> u64 {
    below(w ^ (EACH * u64::from(c)), 1)
}

/// Flags the bytes of `w` below `n` (`n` at most 0x80).
#[inline(always)]
pub(crate) fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(EACH * u64::from(n)) & !w & HIGH
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The first flag is the first byte that matches, one by one.
        #[test]
        fn the_first_flag_is_the_first_match(bytes in any::<[u8; 8]>(), c in any::<u8>(), n in 0u8..=0x80) {
            let w = u64::from_le_bytes(bytes);
            let first = |f: u64| (f != 0).then(|| (f.trailing_zeros() / 8) as usize);
            prop_assert_eq!(first(equal(w, c)), bytes.iter().position(|&b| b == c));
            prop_assert_eq!(first(below(w, n)), bytes.iter().position(|&b| b < n));
        }
    }
}
