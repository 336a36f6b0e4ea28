//! The keys dedupe remembers, each packed into a few words. (Each also names an all-zeros
//! filler for the table's unused slots; a slot's control byte, not its key, says whether it is
//! free, so the filler may equal a real key.)

use super::table::{fold, TableKey};
use ticklane_engine::{Fixed, Timestamp, Trade, TradeId};

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// `(instrument, trade_id)` for an id of at most eight bytes (every numeric id up to eight
/// digits, most venues' short ids): the id's bytes and the instrument with the id's encoding
/// tag (never zero for a present id). A slot with its time is 24 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct NarrowKey([u64; 2]);

/// `(instrument, trade_id)` for any id: its sixteen bytes, and the instrument with the tag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct IdKey([u64; 3]);

/// An id key in the narrowest form that holds it.
#[derive(Clone, Copy)]
pub(super) enum IdShape {
    Narrow(NarrowKey),
    Wide(IdKey),
}

impl IdShape {
    /// The key of `id` (present) of instrument `inst`.
    #[inline]
    pub(super) fn new(inst: u32, id: TradeId) -> IdShape {
        let (bytes, tag) = id.key();
        let meta = u64::from(inst) | u64::from(tag) << 32;
        match u64::try_from(bytes) {
            Ok(b) => IdShape::Narrow(NarrowKey([b, meta])),
            Err(_) => IdShape::Wide(IdKey([bytes as u64, (bytes >> 64) as u64, meta])),
        }
    }
}

impl TableKey for NarrowKey {
    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        let [a, b] = self.0;
        fold(fold(a ^ seed, b ^ MIX), MIX)
    }
}

impl TableKey for IdKey {
    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        let [a, b, c] = self.0;
        fold(fold(a ^ seed, b ^ MIX) ^ c, MIX)
    }
}

/// The content key; `side` is stored plus one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct ContentKey(u32, u8, Timestamp, Timestamp, Fixed, Fixed);

impl ContentKey {
    pub(super) fn new(t: &Trade) -> ContentKey {
        ContentKey(t.instrument.0, t.side as u8 + 1, t.ts_event, t.ts_recv, t.price, t.size)
    }
}

impl TableKey for ContentKey {
    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        let head = u64::from(self.0) | u64::from(self.1) << 32;
        let a = fold(head ^ seed, self.2 as u64 ^ MIX);
        let b = fold(self.3 as u64 ^ MIX, self.4.raw() as u64 ^ seed);
        fold(a ^ b ^ self.5.raw() as u64, MIX)
    }
}

/// A quote's key: its venue update id ([`ID_TAG`]) or its whole content — instrument, which
/// sides are present (plus one: never zero), both clocks, and the present sides' price and
/// size (zero for an absent side, whatever its fields hold).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct QuoteKey(u32, u8, Timestamp, Timestamp, [Fixed; 4]);

/// The second field of a key made from a venue's update id (a content key's is 1 to 4: which
/// sides it has).
const ID_TAG: u8 = 5;

impl QuoteKey {
    /// `(instrument, update_id)` where the venue gave one (tagged apart from every content
    /// key), else the content.
    pub(super) fn new(q: &ticklane_engine::Quote) -> QuoteKey {
        if let Some(id) = q.update_id {
            return QuoteKey(q.instrument.0, ID_TAG, id.get() as Timestamp, 0, [Fixed::ZERO; 4]);
        }
        let (bid, ask) = (q.bid().unwrap_or_default(), q.ask().unwrap_or_default());
        let sides = 1 + u8::from(q.has_bid) + 2 * u8::from(q.has_ask);
        QuoteKey(q.instrument.0, sides, q.ts_event, q.ts_recv, [bid.0, bid.1, ask.0, ask.1])
    }
}

impl TableKey for QuoteKey {
    #[inline]
    fn hash(&self, seed: u64) -> u64 {
        let head = u64::from(self.0) | u64::from(self.1) << 32;
        let a = fold(head ^ seed, self.2 as u64 ^ MIX);
        let b = fold(self.3 as u64 ^ MIX, self.4[0].raw() as u64 ^ seed);
        let c = fold(self.4[1].raw() as u64 ^ MIX, self.4[2].raw() as u64 ^ seed);
        fold(a ^ b ^ c ^ self.4[3].raw() as u64, MIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_up_to_eight_bytes_are_narrow_and_distinct_ids_distinct_keys() {
        let shape = |inst, id: &str| IdShape::new(inst, TradeId::from_text(id.as_bytes()));
        assert!(matches!(shape(1, "12345678"), IdShape::Narrow(_)));
        assert!(matches!(shape(1, "123456789"), IdShape::Wide(_)));
        let narrow = |inst, id| match shape(inst, id) {
            IdShape::Narrow(k) => k.0,
            IdShape::Wide(_) => unreachable!("narrow"),
        };
        assert_ne!(narrow(1, "7"), narrow(2, "7"), "instrument");
        assert_ne!(narrow(1, "7"), narrow(1, "07"), "length");
        assert_ne!(narrow(1, "7"), narrow(1, "8"));
        assert_ne!(narrow(1, "a"), [0, 0], "a present id never packs to all zeros");
    }
}
