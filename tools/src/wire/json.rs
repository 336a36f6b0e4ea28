//! The JSON scanner: one flat object of keys without escapes, strings without escapes, `null`
//! and integers, with JSON's whitespace anywhere between tokens; anything else is serde's.

use super::keys::{bit_of, Keys};
use super::scan::{Fields, Val};
#[cfg(test)]
use super::Msg;
use crate::input::digits::digits;
use crate::input::word::{below, equal, word_at};

/// The map in `b`, when it is plain (see the module doc).
#[cfg(test)]
pub(super) fn msg(b: &[u8]) -> Option<Msg<'_>> {
    let mut f = Fields::default();
    read(b, &mut f)?;
    f.done().map(std::mem::take)
}

/// Reads the map in `b` into `f`; `None` when it is not plain (see the module doc).
pub(super) fn read<'a>(b: &'a [u8], f: &mut Fields<'a>) -> Option<()> {
    // Checked once (ASCII a word at a time), not per string: serde rejects what fails here.
    let text = std::str::from_utf8(b).ok()?;
    let mut s = Cursor { b, text, i: 0 };
    s.byte(b'{')?;
    loop {
        s.ws();
        let bit = match f.known(&Keys::JSON, b, &mut s.i) {
            Some(bit) => bit,
            None => s.key()?,
        };
        f.set(bit, s.value()?)?;
        match s.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    s.ws();
    (s.i == b.len()).then_some(())
}

/// A position in the message.
struct Cursor<'a> {
    b: &'a [u8],
    /// `b`, valid UTF-8.
    text: &'a str,
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

    /// The bit of a key read the long way, with its colon.
    fn key(&mut self) -> Option<usize> {
        let key = self.string()?;
        self.byte(b':')?;
        bit_of(key.as_bytes())
    }

    /// A string: no escape, no control character (serde's error) before its end.
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let (start, len) = (self.i, plain_len(&self.b[self.i..])?);
        self.i += len + 1;
        // Between two quotes (ASCII): on character boundaries.
        self.text.get(start..start + len)
    }

    fn value(&mut self) -> Option<Val<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'"' => self.string().map(Val::Str),
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

    /// An integer's digits (no leading zero, no fraction or exponent: serde's), eight at a
    /// time; `None` past `u64::MAX` (serde reads a float).
    fn digits(&mut self) -> Option<u64> {
        let (mut n, mut len) = digits(self.b, self.i);
        if let (19, Some(&d @ b'0'..=b'9')) = (len, self.b.get(self.i + 19)) {
            // A 20th digit (the shared routine stops at 19): up to u64::MAX.
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            len = 20;
        }
        let (first, after) = (self.b.get(self.i), self.b.get(self.i + len));
        if len == 0 || (len > 1 && first == Some(&b'0')) || matches!(after, Some(b'0'..=b'9' | b'.' | b'e' | b'E')) {
            return None;
        }
        self.i += len;
        Some(n)
    }
}

/// The length of the plain text at the start of `b` (a string's, after its opening quote):
/// up to its closing quote; `None` when an escape or a control character comes first, or no
/// quote. Eight bytes at a time, as the CSV cursor finds commas (strings are short: a call
/// into `memchr` cost more than the search).
fn plain_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(w) = word_at(b, i) {
        let found = equal(w, b'"') | equal(w, b'\\') | below(w, 0x20);
        if found != 0 {
            let at = i + (found.trailing_zeros() / 8) as usize;
            return (b[at] == b'"').then_some(at);
        }
        i += 8;
    }
    let at = i + b[i..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (b[at] == b'"').then_some(at)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Eight bytes at a time: where one by one finds the end, or `None` where it finds an
        /// escape or a control character first.
        #[test]
        fn plain_text_ends_where_one_by_one_says(text in proptest::collection::vec(
            prop_oneof![8 => 0x20u8..0x7f, 1 => Just(b'"'), 1 => Just(b'\\'), 1 => 0u8..0x20, 1 => 0x80u8..=0xff], 0..40)) {
            let one = text.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).filter(|&i| text[i] == b'"');
            prop_assert_eq!(super::plain_len(&text), one);
        }
    }
}
