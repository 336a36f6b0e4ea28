//! DBN record bodies, read in large blocks and decoded in place.
//!
//! The `dbn` crate decodes the metadata; the records after it are walked here. Its record
//! decoder costs about 30 ns per record (a state machine step, a dynamic length check and a
//! copy per call: measured on the 10M-trade replay, where it was 40% of the reader); a trade
//! is a fixed little-endian layout, so this walks a buffer of whole records and reads the few
//! fields a trade needs straight from the bytes, at the offsets of the crate's own `repr(C)`
//! types. Every length is checked before a field is read: a short or corrupt record is an
//! error, never a panic.

use std::io::{self, Read};
use std::mem::{offset_of, size_of};

use dbn::{Mbp1Msg, RecordHeader, TradeMsg};

/// Bytes read per refill (a record is at most 255 × 4 bytes).
const BLOCK: usize = 1 << 20;
/// The record header every record starts with: its length in 4-byte words first.
const HEADER: usize = size_of::<RecordHeader>();

// The fields read below sit at the same offsets in both trade-carrying layouts.
const _: () = {
    assert!(HEADER == 16 && offset_of!(TradeMsg, hd) == 0 && offset_of!(Mbp1Msg, hd) == 0);
    assert!(offset_of!(TradeMsg, price) == offset_of!(Mbp1Msg, price));
    assert!(offset_of!(TradeMsg, size) == offset_of!(Mbp1Msg, size));
    assert!(offset_of!(TradeMsg, action) == offset_of!(Mbp1Msg, action));
    assert!(offset_of!(TradeMsg, side) == offset_of!(Mbp1Msg, side));
    assert!(offset_of!(TradeMsg, ts_recv) == offset_of!(Mbp1Msg, ts_recv));
};

/// The trade fields of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fields {
    pub(super) instrument_id: u32,
    pub(super) ts_event: u64,
    pub(super) price: i64,
    pub(super) size: u32,
    pub(super) side: u8,
    pub(super) ts_recv: u64,
}

/// What one whole record is, for a reader of records `F` (trade or quote fields).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded<F> {
    /// A record of the kind read: a trade (a trade record, an MBP-1 trade event, a TBBO
    /// record), or a top-of-book quote (see `quote.rs`).
    Rec(F),
    /// Any other record (definitions, statistics, the other kind…).
    Other,
    /// A record type of the kind read, too short for its layout.
    Short { what: &'static str, got: usize, want: usize },
}

/// Decodes one whole record as a trade (`rec.len()` is its header's length, at least
/// [`HEADER`]): trade records, MBP-1 records whose action is a trade, and TBBO records (each a
/// trade, with the book before it).
#[inline]
pub(super) fn decode(rec: &[u8]) -> Decoded<Fields> {
    let (what, want) = match rec[1] {
        dbn::rtype::MBP_0 => ("a trade", size_of::<TradeMsg>()),
        dbn::rtype::MBP_1 => ("an MBP-1", size_of::<Mbp1Msg>()),
        dbn::rtype::TBBO => ("a TBBO", size_of::<Mbp1Msg>()),
        _ => return Decoded::Other,
    };
    if rec.len() < want {
        return Decoded::Short { what, got: rec.len(), want };
    }
    if rec[1] == dbn::rtype::MBP_1 && rec[offset_of!(Mbp1Msg, action)] != b'T' {
        return Decoded::Other; // a book update, not a trade
    }
    Decoded::Rec(Fields {
        instrument_id: u32_at(rec, offset_of!(RecordHeader, instrument_id)),
        ts_event: u64_at(rec, offset_of!(RecordHeader, ts_event)),
        price: u64_at(rec, offset_of!(TradeMsg, price)) as i64,
        size: u32_at(rec, offset_of!(TradeMsg, size)),
        side: rec[offset_of!(TradeMsg, side)],
        ts_recv: u64_at(rec, offset_of!(TradeMsg, ts_recv)),
    })
}

#[inline]
pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[inline]
pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// The next record of a body, or why there is none.
#[derive(Debug)]
pub(super) enum Next {
    /// A whole record at `buf[start..start + len]` (see [`Body::record`]).
    Record { start: usize, len: usize },
    /// The end of the input, with this many bytes of an incomplete record before it.
    End { trailing: usize },
    /// A record header whose length is shorter than the header itself.
    BadLength(usize),
    /// Reading (or decompressing) failed.
    Io(io::Error),
}

/// The records after a DBN file's metadata, read [`BLOCK`] bytes at a time.
pub(super) struct Body<R> {
    bytes: R,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out.
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Body<R> {
    pub(super) fn new(bytes: R) -> Body<R> {
        Body { bytes, buf: vec![0; BLOCK], start: 0, end: 0, eof: false }
    }

    /// The next whole record (its bytes through [`Body::record`]).
    #[inline]
    pub(super) fn next(&mut self) -> Next {
        loop {
            let avail = self.end - self.start;
            let mut want = HEADER;
            if avail >= HEADER {
                let len = usize::from(self.buf[self.start]) * 4;
                if len < HEADER {
                    return Next::BadLength(len);
                }
                if avail >= len {
                    let start = self.start;
                    self.start += len;
                    return Next::Record { start, len };
                }
                want = len;
            }
            if self.eof {
                return Next::End { trailing: avail };
            }
            if let Err(e) = self.fill(want) {
                return Next::Io(e);
            }
        }
    }

    /// The bytes of a record [`Body::next`] handed out.
    #[inline]
    pub(super) fn record(&self, start: usize, len: usize) -> &[u8] {
        &self.buf[start..start + len]
    }

    /// Reads until at least `want` bytes are buffered or the input ends.
    #[cold]
    fn fill(&mut self, want: usize) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        (self.end, self.start) = (self.end - self.start, 0);
        while self.end < want && !self.eof {
            match self.bytes.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbn::{RecordRef, WithTsOut};

    fn trade(id: u32, ts: u64, price: i64) -> TradeMsg {
        TradeMsg {
            hd: RecordHeader::new::<TradeMsg>(dbn::rtype::MBP_0, 1, id, ts),
            price,
            size: 7,
            side: b'B' as _,
            ts_recv: ts + 5,
            ..TradeMsg::default()
        }
    }

    fn bytes<R: dbn::HasRType>(r: &R) -> Vec<u8> {
        RecordRef::from(r).as_ref().to_vec()
    }

    #[test]
    fn fields_are_read_where_the_dbn_crate_puts_them() {
        let t = trade(42, 1_700_000_000_000_000_000, -12_345);
        let want = Fields {
            instrument_id: 42,
            ts_event: t.hd.ts_event,
            price: -12_345,
            size: 7,
            side: b'B',
            ts_recv: t.ts_recv,
        };
        assert_eq!(decode(&bytes(&t)), Decoded::Rec(want));
        // With `ts_out` the record is 8 bytes longer; the fields stay where they were.
        let mut out = WithTsOut::new(t.clone(), 99);
        out.rec.hd = RecordHeader::new::<WithTsOut<TradeMsg>>(dbn::rtype::MBP_0, 1, 42, t.hd.ts_event);
        assert_eq!(decode(&bytes(&out)), Decoded::Rec(want));
    }

    #[test]
    fn mbp1_records_are_trades_only_for_trade_actions() {
        let mut m = Mbp1Msg {
            hd: RecordHeader::new::<Mbp1Msg>(dbn::rtype::MBP_1, 1, 3, 10),
            price: 5,
            size: 2,
            action: b'T' as _,
            side: b'A' as _,
            ts_recv: 11,
            ..Mbp1Msg::default()
        };
        let want = Fields { instrument_id: 3, ts_event: 10, price: 5, size: 2, side: b'A', ts_recv: 11 };
        assert_eq!(decode(&bytes(&m)), Decoded::Rec(want));
        m.action = b'A' as _;
        assert_eq!(decode(&bytes(&m)), Decoded::Other);
    }

    #[test]
    fn short_trade_records_and_other_types_are_told_apart() {
        let b = bytes(&trade(1, 1, 1));
        assert_eq!(decode(&b[..20]), Decoded::Short { what: "a trade", got: 20, want: 48 });
        let mut other = b.clone();
        other[1] = dbn::rtype::OHLCV_1S;
        assert_eq!(decode(&other[..16]), Decoded::Other);
    }

    /// Hands out at most `step` bytes per read (rotating 1..=step), or fails after `fail_at`.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        n: usize,
        fail_at: Option<usize>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("boom"));
            }
            self.n += 1;
            let k = (1 + self.n % self.step).min(buf.len()).min(self.data.len() - self.at);
            buf[..k].copy_from_slice(&self.data[self.at..self.at + k]);
            self.at += k;
            Ok(k)
        }
    }

    fn walk(data: Vec<u8>, step: usize, fail_at: Option<usize>) -> (Vec<Vec<u8>>, Next) {
        let mut body = Body::new(Trickle { data, at: 0, step, n: 0, fail_at });
        let mut recs = Vec::new();
        loop {
            match body.next() {
                Next::Record { start, len } => recs.push(body.record(start, len).to_vec()),
                end => return (recs, end),
            }
        }
    }

    #[test]
    fn records_split_across_reads_come_out_whole_and_in_order() {
        let recs: Vec<Vec<u8>> = (0..500u32).map(|i| bytes(&trade(i, u64::from(i), i64::from(i)))).collect();
        let mut data = recs.concat();
        data.extend_from_slice(&bytes(&Mbp1Msg::default())); // an 80-byte record among them
        for step in [1, 7, 48, 1000, BLOCK] {
            let (got, end) = walk(data.clone(), step, None);
            assert_eq!(got.len(), 501, "step {step}");
            assert_eq!(got[..500], recs[..], "step {step}");
            assert!(matches!(end, Next::End { trailing: 0 }), "step {step}: {end:?}");
        }
    }

    #[test]
    fn a_cut_record_a_bad_length_and_a_failed_read_are_reported() {
        let data = [bytes(&trade(1, 1, 1)), bytes(&trade(2, 2, 2))].concat();
        for cut in 1..48 {
            let (got, end) = walk(data[..48 + cut].to_vec(), 5, None);
            assert_eq!(got.len(), 1);
            assert!(matches!(end, Next::End { trailing } if trailing == cut), "cut {cut}: {end:?}");
        }
        let mut zero = data.clone();
        zero[48] = 0;
        assert!(matches!(walk(zero, 5, None).1, Next::BadLength(0)));
        zero = data.clone();
        zero[48] = 3;
        assert!(matches!(walk(zero, 5, None).1, Next::BadLength(12)));
        let (got, end) = walk(data, 5, Some(60));
        assert_eq!(got.len(), 1);
        assert!(matches!(end, Next::Io(e) if e.to_string() == "boom"));
    }
}
