//! Exact fixed-point decimals: `i64` with scale 1e-9 (the DBN convention).
//!
//! Prices and sizes never touch `f64`. Parsing is exact: `"61837.63000000"` becomes
//! `61_837_630_000_000` nano-units. A non-zero digit past the ninth fractional place is an
//! input error ([`DecimalError::TooPrecise`]), never a silent rounding; extra *zero* digits
//! past the ninth place are accepted because they change nothing. Formatting trims trailing
//! zeros (`61837.63`, `5`, `0.002`), as design.md §5 requires for output files.
//!
//! Sums that can outgrow `i64` (volume, notional) use [`Wide`], an `i128` with the same
//! scale, whose additions are checked.

use std::fmt;

/// Number of fractional digits carried by [`Fixed`] and [`Wide`].
pub const FRAC_DIGITS: u32 = 9;
/// `10^FRAC_DIGITS`: the raw value of `1`.
pub const SCALE: i64 = 1_000_000_000;

/// Why a decimal text was rejected. Small and `Copy`: it sits on the ingest hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text was empty (or only a sign).
    #[error("expected a decimal number, found an empty field")]
    Empty,
    /// A byte that is neither a digit, nor a leading sign, nor the single decimal point.
    #[error("expected a decimal number, found an invalid character at byte {at}")]
    InvalidChar {
        /// Byte offset of the offending character inside the field.
        at: usize,
    },
    /// A non-zero digit beyond the 9th fractional place.
    #[error("expected at most 9 fractional digits (exact nano units), found more")]
    TooPrecise,
    /// The value does not fit the fixed-point range.
    #[error("decimal out of range: |value| must be below 9223372036.854775808")]
    OutOfRange,
}

/// An exact decimal with 9 fractional digits, stored as `i64` nano-units.
///
/// Ordering and equality are those of the numbers. The range is
/// ±9,223,372,036.854775807, which holds any price or per-trade size seen on real venues.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Fixed(i64);

impl Fixed {
    /// Zero.
    pub const ZERO: Fixed = Fixed(0);
    /// One.
    pub const ONE: Fixed = Fixed(SCALE);

    /// Wraps raw nano-units (`Fixed::from_raw(1_500_000_000)` is `1.5`).
    pub const fn from_raw(raw: i64) -> Fixed {
        Fixed(raw)
    }

    /// The raw nano-units.
    pub const fn raw(self) -> i64 {
        self.0
    }

    /// An integer value, or `None` if `v · 1e9` overflows.
    pub const fn from_int(v: i64) -> Option<Fixed> {
        match v.checked_mul(SCALE) {
            Some(r) => Some(Fixed(r)),
            None => None,
        }
    }

    /// Parses decimal text exactly (see the module docs for the accepted grammar:
    /// optional sign, digits, optional `.` and fraction; no exponent, no spaces).
    pub fn parse(text: &str) -> Result<Fixed, DecimalError> {
        Self::parse_bytes(text.as_bytes())
    }

    /// [`Fixed::parse`] on bytes (CSV fields arrive as bytes; no UTF-8 check needed).
    pub fn parse_bytes(b: &[u8]) -> Result<Fixed, DecimalError> {
        let (neg, start) = match b.first() {
            None => return Err(DecimalError::Empty),
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            Some(_) => (false, 0),
        };
        if start == b.len() {
            return Err(DecimalError::Empty);
        }
        // Accumulate the magnitude as a negative number so that i64::MIN parses.
        let mut acc: i64 = 0;
        let mut frac_digits: u32 = 0;
        let mut seen_point = false;
        let mut seen_digit = false;
        for (i, &c) in b.iter().enumerate().skip(start) {
            match c {
                b'0'..=b'9' => {
                    seen_digit = true;
                    let d = i64::from(c - b'0');
                    if seen_point {
                        if frac_digits == FRAC_DIGITS {
                            if d != 0 {
                                return Err(DecimalError::TooPrecise);
                            }
                            continue;
                        }
                        frac_digits += 1;
                    }
                    acc = acc.checked_mul(10).and_then(|a| a.checked_sub(d)).ok_or(DecimalError::OutOfRange)?;
                }
                b'.' if !seen_point => seen_point = true,
                _ => return Err(DecimalError::InvalidChar { at: i }),
            }
        }
        if !seen_digit {
            return Err(DecimalError::Empty);
        }
        let mut scale = 1i64;
        for _ in frac_digits..FRAC_DIGITS {
            scale *= 10;
        }
        let acc = acc.checked_mul(scale).ok_or(DecimalError::OutOfRange)?;
        if neg {
            Ok(Fixed(acc))
        } else {
            acc.checked_neg().map(Fixed).ok_or(DecimalError::OutOfRange)
        }
    }

    /// Widens to [`Wide`] (exact).
    pub const fn wide(self) -> Wide {
        Wide(self.0 as i128)
    }

    /// Checked addition.
    pub fn checked_add(self, o: Fixed) -> Option<Fixed> {
        self.0.checked_add(o.0).map(Fixed)
    }
}

impl fmt::Display for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        f.write_str(format_scaled(i128::from(self.0), &mut buf))
    }
}

impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Fixed {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Fixed, DecimalError> {
        Fixed::parse(s)
    }
}

/// A wide exact decimal (`i128` nano-units) for accumulations such as volume. Additions are
/// checked: an overflow is reported, never wrapped.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Wide(i128);

impl Wide {
    /// Zero.
    pub const ZERO: Wide = Wide(0);

    /// Wraps raw nano-units.
    pub const fn from_raw(raw: i128) -> Wide {
        Wide(raw)
    }

    /// The raw nano-units.
    pub const fn raw(self) -> i128 {
        self.0
    }

    /// Checked addition; `None` on overflow.
    pub fn checked_add(self, o: Wide) -> Option<Wide> {
        self.0.checked_add(o.0).map(Wide)
    }

    /// Narrows to [`Fixed`] if it fits.
    pub fn to_fixed(self) -> Option<Fixed> {
        i64::try_from(self.0).ok().map(Fixed)
    }
}

impl fmt::Display for Wide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 48];
        f.write_str(format_scaled(self.0, &mut buf))
    }
}

impl fmt::Debug for Wide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Formats `raw` nano-units into `buf` with trailing fractional zeros trimmed, without
/// allocating, and returns the text. 48 bytes hold any `i128`.
pub fn format_scaled(raw: i128, buf: &mut [u8; 48]) -> &str {
    let neg = raw < 0;
    let mag = raw.unsigned_abs();
    let mut pos = buf.len();
    // Values that fit in a u64 (every `Fixed`, nearly every `Wide`) use 64-bit arithmetic:
    // a 128-bit division by 10 is a library call per digit.
    let (mut int_small, mut int_big, mut frac) = match u64::try_from(mag) {
        Ok(m) => (m / SCALE as u64, 0u128, m % SCALE as u64),
        Err(_) => (0, mag / SCALE as u128, (mag % SCALE as u128) as u64),
    };
    // Fractional digits, least significant first, skipping trailing zeros.
    if frac != 0 {
        let mut digits = FRAC_DIGITS;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        for _ in 0..digits {
            pos -= 1;
            buf[pos] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        pos -= 1;
        buf[pos] = b'.';
    }
    // Integer digits: a 128-bit integer part is brought down to 64 bits first.
    while int_big > u128::from(u64::MAX) {
        pos -= 1;
        buf[pos] = b'0' + (int_big % 10) as u8;
        int_big /= 10;
    }
    if int_big != 0 {
        int_small = int_big as u64;
    }
    loop {
        pos -= 1;
        buf[pos] = b'0' + (int_small % 10) as u8;
        int_small /= 10;
        if int_small == 0 {
            break;
        }
    }
    if neg {
        pos -= 1;
        buf[pos] = b'-';
    }
    // Only ASCII digits, '.', '-' were written.
    std::str::from_utf8(&buf[pos..]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(Fixed::parse("61837.63000000").map(Fixed::raw), Ok(61_837_630_000_000));
        assert_eq!(Fixed::parse("5").map(Fixed::raw), Ok(5 * SCALE));
        assert_eq!(Fixed::parse("0.002").map(Fixed::raw), Ok(2_000_000));
        assert_eq!(Fixed::parse("-0.5").map(Fixed::raw), Ok(-SCALE / 2));
        assert_eq!(Fixed::parse(".5").map(Fixed::raw), Ok(SCALE / 2));
        assert_eq!(Fixed::parse("7.").map(Fixed::raw), Ok(7 * SCALE));
        assert_eq!(Fixed::parse("0.000000001").map(Fixed::raw), Ok(1));
        assert_eq!(Fixed::parse("1.0000000000000").map(Fixed::raw), Ok(SCALE));
        assert_eq!(Fixed::parse("-9223372036.854775808").map(Fixed::raw), Ok(i64::MIN));
        assert_eq!(Fixed::parse("9223372036.854775807").map(Fixed::raw), Ok(i64::MAX));
    }

    #[test]
    fn rejects_bad_text_with_a_reason() {
        assert_eq!(Fixed::parse(""), Err(DecimalError::Empty));
        assert_eq!(Fixed::parse("-"), Err(DecimalError::Empty));
        assert_eq!(Fixed::parse("."), Err(DecimalError::Empty));
        assert_eq!(Fixed::parse("1.2.3"), Err(DecimalError::InvalidChar { at: 3 }));
        assert_eq!(Fixed::parse("1e5"), Err(DecimalError::InvalidChar { at: 1 }));
        assert_eq!(Fixed::parse(" 1"), Err(DecimalError::InvalidChar { at: 0 }));
        assert_eq!(Fixed::parse("0.0000000001"), Err(DecimalError::TooPrecise));
        assert_eq!(Fixed::parse("9223372036.854775808"), Err(DecimalError::OutOfRange));
        assert_eq!(Fixed::parse("99999999999"), Err(DecimalError::OutOfRange));
    }

    #[test]
    fn formats_trimmed() {
        for (text, want) in [
            ("61837.63000000", "61837.63"),
            ("5", "5"),
            ("0.002", "0.002"),
            ("-0.5", "-0.5"),
            ("0", "0"),
            ("-0", "0"),
            ("100.000000001", "100.000000001"),
        ] {
            assert_eq!(Fixed::parse(text).map(|f| f.to_string()), Ok(want.to_string()));
        }
        assert_eq!(Wide::from_raw(i128::MIN).to_string().len(), 41);
        assert_eq!(Fixed::from_raw(i64::MIN).to_string(), "-9223372036.854775808");
    }

    #[test]
    fn wide_add_is_checked() {
        assert_eq!(Wide::from_raw(i128::MAX).checked_add(Wide::from_raw(1)), None);
        assert_eq!(Fixed::ONE.wide().checked_add(Fixed::ONE.wide()), Some(Wide::from_raw(2 * i128::from(SCALE))));
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(raw in any::<i64>()) {
            let f = Fixed::from_raw(raw);
            prop_assert_eq!(Fixed::parse(&f.to_string()), Ok(f));
        }

        /// Against a reference built from the integer and fraction parts with std formatting,
        /// across the whole i128 range (the 64-bit fast path and the 128-bit path).
        #[test]
        fn format_scaled_matches_a_reference(raw in prop_oneof![any::<i128>(), any::<i64>().prop_map(i128::from)]) {
            let mag = raw.unsigned_abs();
            let (int, frac) = (mag / SCALE as u128, mag % SCALE as u128);
            let mut want = if frac == 0 { int.to_string() } else {
                format!("{int}.{frac:09}").trim_end_matches('0').to_string()
            };
            if raw < 0 {
                want.insert(0, '-');
            }
            let mut buf = [0u8; 48];
            prop_assert_eq!(format_scaled(raw, &mut buf), want.as_str());
        }

        #[test]
        fn parse_never_panics(s in "[-+0-9.eE ]{0,24}") {
            let _ = Fixed::parse(&s);
        }
    }
}
