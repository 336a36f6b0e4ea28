//! Instrument names interned per reader: bytes → a local index, without allocating for
//! names already seen.

use std::sync::Arc;

/// Interns names per reader: bytes → local index, without allocating for known names. Names
/// of up to 16 bytes (nearly all tickers) are keyed by a packed integer, so a lookup hashes
/// and compares integers instead of calling `memcmp`.
#[derive(Default)]
pub(super) struct Symbols {
    short: hashbrown::HashMap<(u128, u8), u32, ahash::RandomState>,
    long: hashbrown::HashMap<Vec<u8>, u32, ahash::RandomState>,
    pub(super) names: Vec<Arc<str>>,
}

impl Symbols {
    pub(super) fn get(&mut self, name: &[u8]) -> u32 {
        let n = self.names.len() as u32;
        let i = if name.len() <= 16 {
            let mut k = [0u8; 16];
            k[..name.len()].copy_from_slice(name);
            *self.short.entry((u128::from_le_bytes(k), name.len() as u8)).or_insert(n)
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
    fn symbols_intern_short_and_long_names_apart() {
        let mut s = Symbols::default();
        let names: [&[u8]; 6] = [b"ESH4", b"ESH4\0", b"A", b"0123456789abcdef", b"0123456789abcdefg", b""];
        let ids: Vec<u32> = names.iter().map(|n| s.get(n)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        assert_eq!(names.iter().map(|n| s.get(n)).collect::<Vec<_>>(), ids, "second sighting, same index");
        assert_eq!(&*s.names[4], "0123456789abcdefg");
    }
}
