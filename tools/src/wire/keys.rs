//! The map's keys as an encoder writes them — a JSON key with its quotes and colon, a
//! MessagePack fixstr — recognised by comparing two words, not by reading the key as a string
//! and then matching its name. After each key the scanners try the few keys that follow it in
//! [`Msg`](super::Msg)'s field order when fields are left out (the order serde's derive, and
//! so `ticklane publish`, writes them); any other order or spelling (whitespace before a colon,
//! another string marker, an unknown key) is read the long way.

use crate::input::word::word_at;

/// The field names, by the field's bit in [`super::scan::Fields`].
pub(super) const NAMES: [&[u8]; 12] = [
    b"ts_event",
    b"instrument",
    b"price",
    b"size",
    b"bid_px",
    b"bid_sz",
    b"ask_px",
    b"ask_sz",
    b"side",
    b"ts_recv",
    b"trade_id",
    b"update_id",
];

/// The keys to try after the start of the map (row 0) and after each key (row `bit + 1`): the
/// keys that come next in `Msg`'s field order in a trade or a quote, fields being optional.
const FOLLOW: [&[usize]; 13] = [
    &[0],         // the start: ts_event
    &[1, 9],      // ts_event: instrument, ts_recv
    &[2, 4, 6],   // instrument: price, bid_px, ask_px
    &[3],         // price: size
    &[9, 8, 10],  // size: ts_recv, side, trade_id
    &[5],         // bid_px: bid_sz
    &[6, 9, 11],  // bid_sz: ask_px, ts_recv, update_id
    &[7],         // ask_px: ask_sz
    &[9, 11],     // ask_sz: ts_recv, update_id
    &[10],        // side: trade_id
    &[8, 10, 11], // ts_recv: side, trade_id, update_id
    &[],          // trade_id: the end
    &[],          // update_id: the end
];

/// The bit of the field named `key`.
pub(super) fn bit_of(key: &[u8]) -> Option<usize> {
    NAMES.iter().position(|&n| n == key)
}

/// One key as written (5 to 16 bytes): its first and last eight bytes as words (one word,
/// masked, when shorter than eight), to compare with the words loaded at a position.
#[derive(Clone, Copy)]
struct Lit {
    head: u64,
    head_mask: u64,
    tail: u64,
    tail_mask: u64,
    len: usize,
}

impl Lit {
    const EMPTY: Lit = Lit { head: 0, head_mask: 0, tail: 0, tail_mask: 0, len: 0 };

    /// `prefix`, `name` and `suffix` written one after the other.
    const fn new(prefix: &[u8], name: &[u8], suffix: &[u8]) -> Lit {
        let mut b = [0u8; 16];
        let mut n = 0;
        let parts = [prefix, name, suffix];
        let mut p = 0;
        while p < parts.len() {
            let mut k = 0;
            while k < parts[p].len() {
                b[n] = parts[p][k];
                n += 1;
                k += 1;
            }
            p += 1;
        }
        assert!(n >= 1 && n <= 16, "a key of 1 to 16 bytes");
        if n >= 8 {
            let tail = [b[n - 8], b[n - 7], b[n - 6], b[n - 5], b[n - 4], b[n - 3], b[n - 2], b[n - 1]];
            let head = [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
            return Lit {
                head: u64::from_le_bytes(head),
                head_mask: !0,
                tail: u64::from_le_bytes(tail),
                tail_mask: !0,
                len: n,
            };
        }
        // Shorter than a word: in the top bytes of the word that ends where the key ends.
        let shift = 8 * (8 - n as u32);
        let word = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) << shift;
        let mask = !0u64 << shift;
        Lit { head: word, head_mask: mask, tail: word, tail_mask: mask, len: n }
    }

    /// Whether `b[i..]` starts with this key (`false` also when the word before its end
    /// would start before `b`).
    #[inline(always)]
    fn at(&self, b: &[u8], i: usize) -> bool {
        let Some(tail_at) = (i + self.len).checked_sub(8) else { return false };
        let head_at = i.min(tail_at);
        match (word_at(b, head_at), word_at(b, tail_at)) {
            (Some(h), Some(t)) => ((h ^ self.head) & self.head_mask) | ((t ^ self.tail) & self.tail_mask) == 0,
            _ => false,
        }
    }
}

/// Every key as one format writes it, by bit.
pub(super) struct Keys([Lit; 12]);

impl Keys {
    /// JSON: `"name":`.
    pub(super) const JSON: Keys = Keys::of(true);
    /// MessagePack: the fixstr `0xa0 | len` followed by the name.
    pub(super) const MSGPACK: Keys = Keys::of(false);

    const fn of(json: bool) -> Keys {
        let mut lits = [Lit::EMPTY; 12];
        let mut k = 0;
        while k < NAMES.len() {
            lits[k] = if json {
                Lit::new(b"\"", NAMES[k], b"\":")
            } else {
                Lit::new(&[0xa0 | NAMES[k].len() as u8], NAMES[k], b"")
            };
            k += 1;
        }
        Keys(lits)
    }

    /// The key at `b[i..]`, when it is one that may follow the key of bit `after - 1` (the
    /// start of the map for `after` 0) and its bit is clear in `seen`: its bit and length as
    /// written.
    #[inline]
    pub(super) fn find(&self, b: &[u8], i: usize, seen: u16, after: usize) -> Option<(usize, usize)> {
        let tries = FOLLOW.get(after)?;
        let bit = *tries.iter().find(|&&bit| seen & (1 << bit) == 0 && self.0[bit].at(b, i))?;
        Some((bit, self.0[bit].len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A key is found where the bytes start with it as written, and only there.
        #[test]
        fn a_key_is_found_exactly_where_it_is_written(bit in 0usize..12, json in any::<bool>(),
                                                       before in proptest::collection::vec(any::<u8>(), 0..10),
                                                       after in proptest::collection::vec(any::<u8>(), 0..10),
                                                       flip in any::<proptest::sample::Index>(), xor in 1u8..) {
            let name = NAMES[bit];
            let mut written = if json { [b"\"", name, b"\":"].concat() } else { [&[0xa0 | name.len() as u8], name].concat() };
            let keys = if json { &Keys::JSON } else { &Keys::MSGPACK };
            let b = [&before[..], &written[..], &after[..]].concat();
            let lit = keys.0[bit];
            prop_assert_eq!(lit.at(&b, before.len()), before.len() + written.len() >= 8);
            // One byte different: not this key.
            let at = flip.index(written.len());
            written[at] ^= xor;
            let b = [&before[..], &written[..], &after[..]].concat();
            prop_assert!(!lit.at(&b, before.len()));
        }
    }

    #[test]
    fn keys_are_tried_after_those_they_follow_and_once() {
        let b = br#"{"ts_recv":1,"side":"b"}"#;
        let keys = &Keys::JSON;
        assert_eq!(keys.find(b, 1, 0, 0), None, "ts_recv does not start a map as written");
        assert_eq!(keys.find(b, 1, 1, 1), Some((9, 10)), "after ts_event");
        assert_eq!(keys.find(b, 1, 1 << 9, 1), None, "a key seen is not found again");
        assert_eq!(keys.find(b, 13, 1 << 9, 10), Some((8, 7)), "side after ts_recv");
        assert_eq!(keys.find(b, 13, 1 << 9, 11), None, "nothing after trade_id");
        assert_eq!(bit_of(b"update_id"), Some(11));
        assert_eq!(bit_of(b"venue"), None);
    }

    /// Each row follows `Msg`'s field order: a later field, and the next present one of a
    /// trade or a quote whatever optional fields are left out.
    #[test]
    fn every_key_follows_one_before_it_in_field_order() {
        const ORDER: [usize; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 9, 8, 10, 11];
        let pos = |bit: usize| ORDER.iter().position(|&b| b == bit);
        for (row, tries) in FOLLOW.iter().enumerate().skip(1) {
            assert!(tries.iter().all(|&t| pos(t) > pos(row - 1)), "row {row}");
        }
    }
}
