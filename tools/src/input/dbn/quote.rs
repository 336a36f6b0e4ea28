//! DBN top of book as quotes: MBP-1 (the book after each event), TBBO (the book just before
//! each trade) and BBO-1s / BBO-1m (the book at each interval's end), read in place at the
//! offsets of the `dbn` crate's own `repr(C)` types like the trades (see `body.rs`). A side
//! whose price is `UNDEF_PRICE` is absent (an empty book side).

use super::body::{u32_at, u64_at, Decoded};
use dbn::{BboMsg, BidAskPair, Mbp1Msg, RecordHeader};
use std::mem::{offset_of, size_of};

/// The top-of-book fields of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct QuoteFields {
    pub(super) instrument_id: u32,
    pub(super) ts_event: u64,
    pub(super) ts_recv: u64,
    /// `(price, size)` of each side, `None` when empty.
    pub(super) bid: Option<(i64, u32)>,
    pub(super) ask: Option<(i64, u32)>,
}

/// Decodes one whole record as a quote (`rec.len()` is its header's length, at least the
/// header).
#[inline]
pub(super) fn decode_quote(rec: &[u8]) -> Decoded<QuoteFields> {
    let (what, want, levels, recv) = match rec[1] {
        dbn::rtype::MBP_1 => {
            ("an MBP-1", size_of::<Mbp1Msg>(), offset_of!(Mbp1Msg, levels), offset_of!(Mbp1Msg, ts_recv))
        }
        dbn::rtype::TBBO => ("a TBBO", size_of::<Mbp1Msg>(), offset_of!(Mbp1Msg, levels), offset_of!(Mbp1Msg, ts_recv)),
        dbn::rtype::BBO_1S | dbn::rtype::BBO_1M => {
            ("a BBO", size_of::<BboMsg>(), offset_of!(BboMsg, levels), offset_of!(BboMsg, ts_recv))
        }
        _ => return Decoded::Other,
    };
    if rec.len() < want {
        return Decoded::Short { what, got: rec.len(), want };
    }
    let side = |px: usize, sz: usize| {
        let p = u64_at(rec, levels + px) as i64;
        (p != dbn::UNDEF_PRICE).then(|| (p, u32_at(rec, levels + sz)))
    };
    Decoded::Rec(QuoteFields {
        instrument_id: u32_at(rec, offset_of!(RecordHeader, instrument_id)),
        ts_event: u64_at(rec, offset_of!(RecordHeader, ts_event)),
        ts_recv: u64_at(rec, recv),
        bid: side(offset_of!(BidAskPair, bid_px), offset_of!(BidAskPair, bid_sz)),
        ask: side(offset_of!(BidAskPair, ask_px), offset_of!(BidAskPair, ask_sz)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbn::{FlagSet, Record};

    fn bytes<R: Record + AsRef<[u8]>>(r: &R) -> Vec<u8> {
        r.as_ref().to_vec()
    }

    #[test]
    fn mbp1_tbbo_and_bbo_give_the_top_of_book() {
        let level = BidAskPair { bid_px: 100, ask_px: 101, bid_sz: 3, ask_sz: 4, ..Default::default() };
        let mut m = Mbp1Msg {
            hd: RecordHeader::new::<Mbp1Msg>(dbn::rtype::MBP_1, 1, 7, 10),
            ts_recv: 11,
            levels: [level.clone()],
            action: b'A' as _,
            flags: FlagSet::default(),
            ..Default::default()
        };
        let want =
            QuoteFields { instrument_id: 7, ts_event: 10, ts_recv: 11, bid: Some((100, 3)), ask: Some((101, 4)) };
        assert_eq!(decode_quote(&bytes(&m)), Decoded::Rec(want));
        m.hd.rtype = dbn::rtype::TBBO;
        assert_eq!(decode_quote(&bytes(&m)), Decoded::Rec(want));
        m.levels[0].ask_px = dbn::UNDEF_PRICE;
        assert_eq!(decode_quote(&bytes(&m)), Decoded::Rec(QuoteFields { ask: None, ..want }), "an empty side");
        let mut b = BboMsg::default_for_schema(dbn::Schema::Bbo1S);
        b.hd = RecordHeader::new::<BboMsg>(dbn::rtype::BBO_1S, 1, 7, 10);
        (b.ts_recv, b.levels) = (11, [level]);
        assert_eq!(decode_quote(&bytes(&b)), Decoded::Rec(want));
        let short = bytes(&b);
        assert_eq!(decode_quote(&short[..40]), Decoded::Short { what: "a BBO", got: 40, want: short.len() });
        let t =
            dbn::TradeMsg { hd: RecordHeader::new::<dbn::TradeMsg>(dbn::rtype::MBP_0, 1, 7, 10), ..Default::default() };
        assert_eq!(decode_quote(&bytes(&t)), Decoded::Other, "a trade carries no book");
    }
}
