//! The MessagePack scanner: one map of string keys to nil, integers and strings; anything else
//! (a struct as an array, binary, floats, trailing bytes) is serde's.

use super::keys::{bit_of, Keys};
use super::scan::{Fields, Val};
#[cfg(test)]
use super::Msg;

/// The map in `b`, when it is plain (see the module doc).
#[cfg(test)]
pub(super) fn msg(b: &[u8]) -> Option<Msg<'_>> {
    let mut f = Fields::default();
    read(b, &mut f)?;
    f.done().map(std::mem::take)
}

/// Reads the map in `b` into `f`; `None` when it is not plain (see the module doc).
pub(super) fn read<'a>(b: &'a [u8], f: &mut Fields<'a>) -> Option<()> {
    let mut s = Cursor { b, i: 0 };
    let n = match s.byte()? {
        c @ 0x80..=0x8f => usize::from(c & 0x0f),
        0xde => s.be(2)? as usize,
        0xdf => s.be(4)? as usize,
        _ => return None,
    };
    for _ in 0..n {
        let bit = match f.known(&Keys::MSGPACK, b, &mut s.i) {
            Some(bit) => bit,
            None => s.key()?,
        };
        f.set(bit, s.value()?)?;
    }
    (s.i == b.len()).then_some(())
}

/// A position in the message.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let t = self.b.get(self.i..self.i.checked_add(n)?)?;
        self.i += n;
        Some(t)
    }

    /// A big-endian unsigned integer of `n` bytes (n ≤ 8).
    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |v, &c| v << 8 | u64::from(c)))
    }

    /// The bit of a key read the long way.
    fn key(&mut self) -> Option<usize> {
        let c = self.byte()?;
        bit_of(self.str(c)?)
    }

    /// The bytes of a string whose marker is `c`.
    fn str(&mut self, c: u8) -> Option<&'a [u8]> {
        let n = match c {
            0xa0..=0xbf => usize::from(c & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        self.take(n)
    }

    fn value(&mut self) -> Option<Val<'a>> {
        let c = self.byte()?;
        Some(match c {
            0x00..=0x7f => Val::Uint(u64::from(c)),
            0xe0..=0xff => Val::Int(i64::from(c as i8)),
            0xc0 => Val::Nil,
            0xcc => Val::Uint(self.be(1)?),
            0xcd => Val::Uint(self.be(2)?),
            0xce => Val::Uint(self.be(4)?),
            0xcf => Val::Uint(self.be(8)?),
            0xd0 => Val::Int(i64::from(self.be(1)? as u8 as i8)),
            0xd1 => Val::Int(i64::from(self.be(2)? as u16 as i16)),
            0xd2 => Val::Int(i64::from(self.be(4)? as u32 as i32)),
            0xd3 => Val::Int(self.be(8)? as i64),
            _ => Val::Str(std::str::from_utf8(self.str(c)?).ok()?),
        })
    }
}
