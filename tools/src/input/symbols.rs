//! Instrument names interned per reader: bytes → a local index, without allocating for
//! names already seen.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use ticklane::FoldState;

/// Names of up to this many bytes are keyed by packed integers.
const PACKED: usize = 32;

/// Interns names per reader: bytes → local index, without allocating for known names. Names
/// of up to 32 bytes (tickers, and venue-prefixed names like `binance-futures:BTCUSDT`) are
/// keyed by packed integers, hashed ([`FoldState`]) over the words in use and compared as
/// integers; longer names go through a byte-string table.
#[derive(Default, Clone)]
pub(crate) struct Symbols {
    short: hashbrown::HashMap<Packed, u32, FoldState>,
    long: hashbrown::HashMap<Vec<u8>, u32, ahash::RandomState>,
    pub(crate) names: Vec<Arc<str>>,
}

/// A name of at most [`PACKED`] bytes, zero-padded, and its length.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Packed {
    words: [u64; PACKED / 8],
    len: u8,
}

impl Packed {
    /// `name` must be at most [`PACKED`] bytes.
    #[inline]
    fn new(name: &[u8]) -> Packed {
        let word = |k: usize| name.get(8 * k..).map_or(0, |rest| word(&rest[..rest.len().min(8)]));
        Packed { words: [word(0), word(1), word(2), word(3)], len: name.len() as u8 }
    }
}

/// Up to eight bytes as a little-endian word, zero-padded, with a few possibly overlapping
/// loads (no copy through a buffer).
#[inline(always)]
fn word(b: &[u8]) -> u64 {
    let byte = |i: usize| u64::from(b[i]) << (8 * i);
    let half = |i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])) << (8 * i);
    match b.len() {
        0 => 0,
        n @ 1..=3 => byte(0) | byte(n / 2) | byte(n - 1),
        n @ 4..=7 => half(0) | half(n - 4),
        _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}

impl Hash for Packed {
    /// The length and only the words the name uses.
    #[inline]
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u8(self.len);
        for &w in &self.words[..usize::from(self.len).div_ceil(8)] {
            h.write_u64(w);
        }
    }
}

impl Symbols {
    #[inline]
    pub(crate) fn get(&mut self, name: &[u8]) -> u32 {
        let n = self.names.len() as u32;
        let i = if name.len() <= PACKED {
            let key = Packed::new(name);
            match self.short.get(&key) {
                Some(&i) => i,
                None => *self.short.entry(key).or_insert(n),
            }
        } else {
            match self.long.get(name) {
                Some(&i) => i,
                None => *self.long.entry(name.to_vec()).or_insert(n),
            }
        };
        if i == n {
            self.names.push(Arc::from(String::from_utf8_lossy(name).as_ref()));
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_the_zero_padded_bytes() {
        let bytes = *b"abcdefghi";
        for n in 0..=8 {
            let mut padded = [0u8; 8];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(word(&bytes[..n]), u64::from_le_bytes(padded), "{n} bytes");
        }
    }

    #[test]
    fn symbols_intern_short_and_long_names_apart() {
        let mut s = Symbols::default();
        let long = [b'x'; 33];
        let names: [&[u8]; 8] = [
            b"ESH4",
            b"ESH4\0",
            b"A",
            b"0123456789abcdef",
            b"0123456789abcdefg",
            b"",
            b"binance-futures:BTCUSDT",
            &long,
        ];
        let ids: Vec<u32> = names.iter().map(|n| s.get(n)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(names.iter().map(|n| s.get(n)).collect::<Vec<_>>(), ids, "second sighting, same index");
        assert_eq!(&*s.names[4], "0123456789abcdefg");
    }
}
