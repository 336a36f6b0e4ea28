//! The JSON scanner: one flat object of keys without escapes, strings without escapes, `null`
//! and integers, with JSON's whitespace anywhere between tokens; anything else is serde's.

use super::scan::{Fields, Val};
use super::Msg;

/// The map in `b`, when it is plain (see the module doc).
pub(super) fn msg(b: &[u8]) -> Option<Msg<'_>> {
    let mut s = Cursor { b, i: 0 };
    let mut f = Fields::default();
    s.byte(b'{')?;
    loop {
        let key = s.string()?;
        s.byte(b':')?;
        f.set(key, s.value()?)?;
        match s.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    s.ws();
    (s.i == b.len()).then_some(())?;
    f.finish()
}

/// A position in the message.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace.
    fn next(&mut self) -> Option<u8> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string's bytes: no escape, no control character (serde's error) before its end.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.byte(b'"')?;
        let rest = &self.b[self.i..];
        let text = &rest[..memchr::memchr(b'"', rest)?];
        // No early exit: the check runs over whole vectors.
        let plain = text.iter().fold(true, |ok, &c| ok & (c >= 0x20) & (c != b'\\'));
        plain.then_some(())?;
        self.i += text.len() + 1;
        Some(text)
    }

    fn value(&mut self) -> Option<Val<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => std::str::from_utf8(self.string()?).ok().map(Val::Str),
            b'n' => {
                let rest = self.b.get(self.i..self.i + 4)?;
                self.i += 4;
                (rest == b"null").then_some(Val::Nil)
            }
            b'-' => {
                self.i += 1;
                let n = self.digits()?;
                0i64.checked_sub_unsigned(n).filter(|&v| v < 0).map(Val::Int)
            }
            _ => self.digits().map(Val::Uint),
        }
    }

    /// An integer's digits (no leading zero, no fraction or exponent: serde's); `None` past
    /// `u64::MAX` (serde reads a float).
    fn digits(&mut self) -> Option<u64> {
        let rest = &self.b[self.i..];
        let len = rest.iter().position(|c| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (digits, after) = rest.split_at(len);
        if len == 0 || (len > 1 && digits[0] == b'0') || matches!(after.first(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.i += len;
        if len >= 20 {
            return digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
        }
        // Up to 19 digits stay below 10^19 < u64::MAX: no overflow to check.
        let (mut n, mut rest) = (0u64, digits);
        while let Some((chunk, tail)) = rest.split_first_chunk::<8>() {
            n = n * 100_000_000 + eight(*chunk);
            rest = tail;
        }
        Some(rest.iter().fold(n, |n, &d| n * 10 + u64::from(d - b'0')))
    }
}

/// Eight ASCII digits, most significant first, as their value: pairs, then fours, then all
/// eight combined in a few multiplications (after Lemire's `parse_eight_digits_unrolled`).
fn eight(chunk: [u8; 8]) -> u64 {
    let v = u64::from_le_bytes(chunk).wrapping_sub(0x3030_3030_3030_3030);
    let pairs = v.wrapping_mul(10).wrapping_add(v >> 8);
    let low = (pairs & 0x0000_00ff_0000_00ff).wrapping_mul(100 + (1_000_000 << 32));
    let high = ((pairs >> 16) & 0x0000_00ff_0000_00ff).wrapping_mul(1 + (10_000 << 32));
    low.wrapping_add(high) >> 32
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Eight digits at once: the value the digits spell.
        #[test]
        fn eight_digits_at_once(n in 0u64..100_000_000) {
            let text = format!("{n:08}");
            let chunk: [u8; 8] = text.as_bytes().try_into().map_err(|_| TestCaseError::fail("8 bytes"))?;
            prop_assert_eq!(super::eight(chunk), n);
        }
    }
}
