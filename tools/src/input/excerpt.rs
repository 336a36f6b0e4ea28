//! Bounded, readable quotes of bad input for error messages: at most [`EXCERPT_BYTES`] bytes,
//! control characters and invalid UTF-8 escaped, so that a 10 MB field or a binary file never
//! floods a terminal.

use std::fmt::Write;

/// The most input bytes an error message quotes.
pub const EXCERPT_BYTES: usize = 80;

/// `bytes` as a quoted, escaped excerpt: `"…"`, printable text as is (valid UTF-8 included),
/// `\t`, `\r`, `\n`, `\"`, `\\` and `\xNN` for everything else; if longer than
/// [`EXCERPT_BYTES`], cut there and followed by how many bytes there were.
pub fn excerpt(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(EXCERPT_BYTES)];
    let mut out = String::with_capacity(cut.len() + 2);
    out.push('"');
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\0' => out.push_str("\\0"),
                c if c.is_control() && u32::from(c) < 0x80 => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    if bytes.len() > cut.len() {
        let _ = write!(out, "… ({} bytes)", bytes.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bounds() {
        assert_eq!(excerpt(b"61837.5"), "\"61837.5\"");
        assert_eq!(excerpt(b"a\tb\"c\\\x00\x01\xff"), "\"a\\tb\\\"c\\\\\\0\\x01\\xff\"");
        assert_eq!(excerpt("+a€b".as_bytes()), "\"+a€b\"");
        let long = vec![b'x'; 10_000_000];
        let e = excerpt(&long);
        assert!(e.len() < 120, "{}", e.len());
        assert!(e.ends_with("… (10000000 bytes)"), "{e}");
    }

    #[test]
    fn a_multibyte_character_cut_at_the_limit_is_escaped_not_split() {
        let mut s = vec![b'a'; EXCERPT_BYTES - 1];
        s.extend_from_slice("€".as_bytes());
        let e = excerpt(&s);
        assert!(e.contains("\\xe2\"…"), "{e}");
    }
}
