//! The common case of a CSV line in one pass: no quotes, every field well formed. A cursor
//! walks the columns in order, parsing numbers as it goes (digit runs eight at a time) and
//! noting where text fields are, without splitting the line first. Anything it does not
//! expect makes it give up (`None`); the general parser then reads the line again and says
//! exactly what is wrong, so this path never decides an error message.

use super::super::cursor::{at_end, comma, time};
use super::super::digits::{digits, short_decimal};
use super::Columns;
use ticklane::{Fixed, Timestamp, NO_TS, SCALE};

/// What a column holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Skip,
    Ts,
    Recv,
    Price,
    Size,
    Side,
    Id,
    Instrument,
    Exchange,
    Symbol,
}

/// A byte range of the line.
pub(super) type Span = (usize, usize);

/// One line's fields: numbers parsed, text as spans of the line (empty where the column is
/// absent).
#[derive(Default)]
pub(super) struct Parsed {
    pub(super) ts: Timestamp,
    pub(super) recv: Timestamp,
    pub(super) price: Fixed,
    pub(super) size: Fixed,
    pub(super) side: Span,
    pub(super) id: Span,
    pub(super) instrument: Span,
    pub(super) exchange: Span,
    pub(super) symbol: Span,
}

/// The columns in file order, and how times are written.
#[derive(Clone)]
pub(super) struct Fast {
    roles: Vec<Role>,
    /// Times in integer microseconds (Tardis), else nanoseconds.
    micros: bool,
}

impl Fast {
    /// For a header of `width` columns laid out as `cols`.
    pub(super) fn new(cols: &Columns, width: usize, micros: bool) -> Fast {
        let mut roles = vec![Role::Skip; width];
        let mut set = |i: Option<usize>, r| {
            if let Some(slot) = i.and_then(|i| roles.get_mut(i)) {
                *slot = r;
            }
        };
        set(Some(cols.ts), Role::Ts);
        set(cols.recv, Role::Recv);
        set(Some(cols.price), Role::Price);
        set(Some(cols.size), Role::Size);
        set(cols.side, Role::Side);
        set(cols.id, Role::Id);
        set(cols.instrument, Role::Instrument);
        set(cols.exchange, Role::Exchange);
        set(cols.symbol, Role::Symbol);
        Fast { roles, micros }
    }

    /// `line` (no line break) read in one pass, or `None` if anything is unusual.
    #[inline]
    pub(super) fn parse(&self, line: &[u8]) -> Option<Parsed> {
        let mut p = Parsed { recv: NO_TS, ..Parsed::default() };
        let mut i = 0;
        for (k, role) in self.roles.iter().enumerate() {
            if k > 0 {
                if line.get(i) != Some(&b',') {
                    return None;
                }
                i += 1;
            }
            i = match role {
                Role::Ts => time(line, i, self.micros, &mut p.ts)?,
                Role::Recv if at_end(line, i) => i,
                Role::Recv => time(line, i, self.micros, &mut p.recv)?,
                Role::Price => fixed(line, i, &mut p.price)?,
                Role::Size => fixed(line, i, &mut p.size)?,
                Role::Side => text(line, i, &mut p.side),
                Role::Id => text(line, i, &mut p.id),
                Role::Instrument => text(line, i, &mut p.instrument),
                Role::Exchange => text(line, i, &mut p.exchange),
                Role::Symbol => text(line, i, &mut p.symbol),
                Role::Skip => text(line, i, &mut (0, 0)),
            };
        }
        (i == line.len()).then_some(p)
    }
}

/// A text field from `i` to the next comma; the index of that comma (or the line's end).
#[inline]
fn text(line: &[u8], i: usize, span: &mut Span) -> usize {
    let end = comma(line, i);
    *span = (i, end);
    end
}

/// An exact decimal at `i` with at most 9 fractional digits, ending the field; the index
/// after it. Trailing zeros beyond the 9th digit, huge values and anything odd go to the
/// general parser.
#[inline]
fn fixed(line: &[u8], i: usize, out: &mut Fixed) -> Option<usize> {
    if let Some((raw, end)) = short_decimal(line, i) {
        *out = Fixed::from_raw(raw);
        return Some(end);
    }
    long_fixed(line, i, out)
}

/// [`fixed`] for decimals of more than 16 bytes or 15 digits.
#[cold]
fn long_fixed(line: &[u8], i: usize, out: &mut Fixed) -> Option<usize> {
    let sign = line.get(i).copied();
    let start = i + usize::from(matches!(sign, Some(b'-' | b'+')));
    let (int, ni) = digits(line, start);
    let mut end = start + ni;
    let (mut frac, mut nf) = (0, 0);
    if line.get(end) == Some(&b'.') {
        (frac, nf) = digits(line, end + 1);
        end += 1 + nf;
    }
    if ni + nf == 0 || nf > 9 || ni > 10 || !at_end(line, end) {
        return None;
    }
    let raw = int.checked_mul(SCALE as u64)?.checked_add(frac * 10u64.pow(9 - nf as u32))?;
    let raw = i64::try_from(raw).ok()?;
    *out = Fixed::from_raw(if sign == Some(b'-') { -raw } else { raw });
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Columns {
        Columns {
            ts: 0,
            recv: Some(1),
            price: 3,
            size: 4,
            side: Some(5),
            id: Some(6),
            instrument: Some(2),
            exchange: None,
            symbol: None,
        }
    }

    #[test]
    fn a_well_formed_line_in_one_pass() {
        let f = Fast::new(&cols(), 7, false);
        let line = b"1723161255342000000,1723161254087896568,binance:BTCUSDT,61837.63000000,0.02,sell,3735683259";
        let p = f.parse(line).expect("fast");
        assert_eq!((p.ts, p.recv), (1_723_161_255_342_000_000, 1_723_161_254_087_896_568));
        assert_eq!((p.price, p.size), (Fixed::parse("61837.63").expect("p"), Fixed::parse("0.02").expect("s")));
        let s = |sp: Span| &line[sp.0..sp.1];
        assert_eq!((s(p.instrument), s(p.side), s(p.id)), (&b"binance:BTCUSDT"[..], &b"sell"[..], &b"3735683259"[..]));
        let p = f.parse(b"-5,,X,-1.5,+2,,").expect("empty recv, side and id; signs");
        assert_eq!((p.ts, p.recv, p.price.raw(), p.size.raw()), (-5, NO_TS, -1_500_000_000, 2 * SCALE));
    }

    #[test]
    fn anything_unusual_goes_to_the_general_parser() {
        let f = Fast::new(&cols(), 7, false);
        for odd in [
            &b"2023-12-25T23:00:00Z,,X,1,1,,"[..], // RFC 3339
            b"1,,X,1.0000000000,1,,",              // trailing zeros past the 9th digit
            b"1,,X,1.5x,1,,",
            b"1,,X,1,1,,,extra",
            b"1,,X,1,1",
            b"1,,X,,1,,",
            b"99999999999999999999,,X,1,1,,",
            b"1,,X,99999999999,1,,",
        ] {
            assert!(f.parse(odd).is_none(), "{}", String::from_utf8_lossy(odd));
        }
        let tardis = Fast::new(
            &Columns {
                ts: 0,
                recv: None,
                price: 1,
                size: 2,
                side: None,
                id: None,
                instrument: None,
                exchange: Some(3),
                symbol: Some(4),
            },
            5,
            true,
        );
        let p = tardis.parse(b"1582329600123456,9682.19,0.01,binance-futures,BTCUSDT").expect("tardis");
        assert_eq!(p.ts, 1_582_329_600_123_456_000);
    }
}
