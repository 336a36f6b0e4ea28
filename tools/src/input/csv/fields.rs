//! Splitting a CSV line into fields: plain commas on the fast path; RFC 4180 quoting
//! (`"X:A,B"`, `""` for a quote) when the line has a `"`.

/// Where one line's fields are.
#[derive(Default, Clone)]
pub(in crate::input) struct Fields {
    /// `(start, end)` per field, into the line, or into `unquoted` when the line was quoted.
    spans: Vec<(usize, usize)>,
    /// The line's field bytes with quoting removed (used only for quoted lines).
    unquoted: Vec<u8>,
    quoted: bool,
}

/// A quoted field that does not end where a field ends.
#[derive(Debug, PartialEq, Eq)]
pub(in crate::input) struct QuoteError {
    /// Byte offset in the line.
    pub(in crate::input) at: usize,
    pub(in crate::input) what: &'static str,
}

impl Fields {
    /// Splits `line` (its line break already removed).
    #[inline]
    pub(in crate::input) fn split(&mut self, line: &[u8]) -> Result<(), QuoteError> {
        self.spans.clear();
        self.quoted = false;
        let mut start = 0;
        // One pass finds both: commas split, a quote switches to the RFC 4180 path.
        for i in memchr::memchr2_iter(b',', b'"', line) {
            if line[i] == b'"' {
                self.quoted = true;
                self.spans.clear();
                return self.split_quoted(line);
            }
            self.spans.push((start, i));
            start = i + 1;
        }
        self.spans.push((start, line.len()));
        Ok(())
    }

    fn split_quoted(&mut self, line: &[u8]) -> Result<(), QuoteError> {
        self.unquoted.clear();
        let mut i = 0;
        loop {
            let start = self.unquoted.len();
            if line.get(i) == Some(&b'"') {
                i = self.quoted_field(line, i + 1)?;
            } else {
                let end = memchr::memchr(b',', &line[i..]).map_or(line.len(), |k| i + k);
                self.unquoted.extend_from_slice(&line[i..end]);
                i = end;
            }
            self.spans.push((start, self.unquoted.len()));
            match line.get(i) {
                None => return Ok(()),
                Some(b',') => i += 1,
                Some(_) => {
                    return Err(QuoteError { at: i, what: "expected `,` or the end of the line after a quoted field" })
                }
            }
        }
    }

    /// Copies a quoted field's content from `line[i..]` (just after its opening quote);
    /// returns the offset after its closing quote.
    fn quoted_field(&mut self, line: &[u8], mut i: usize) -> Result<usize, QuoteError> {
        loop {
            let Some(q) = memchr::memchr(b'"', &line[i..]) else {
                let what = "a quoted field is not closed on its line (line breaks inside fields are not supported)";
                return Err(QuoteError { at: line.len(), what });
            };
            self.unquoted.extend_from_slice(&line[i..i + q]);
            i += q + 1;
            if line.get(i) == Some(&b'"') {
                self.unquoted.push(b'"'); // `""` is one quote
                i += 1;
            } else {
                return Ok(i);
            }
        }
    }

    /// Number of fields.
    pub(in crate::input) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Field `i` of `line` (empty if the line has fewer fields).
    #[inline]
    pub(in crate::input) fn get<'a>(&'a self, line: &'a [u8], i: usize) -> &'a [u8] {
        let src = if self.quoted { &self.unquoted[..] } else { line };
        self.spans.get(i).map_or(&[][..], |&(a, b)| &src[a..b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, QuoteError> {
        let mut f = Fields::default();
        f.split(line.as_bytes())?;
        Ok((0..f.len()).map(|i| String::from_utf8_lossy(f.get(line.as_bytes(), i)).into_owned()).collect())
    }

    #[test]
    fn rfc_4180_quoting() {
        assert_eq!(split("1,X,2").expect("plain"), ["1", "X", "2"]);
        assert_eq!(split("1,\"X:A,B\",2").expect("quoted"), ["1", "X:A,B", "2"]);
        assert_eq!(split("\"a\"\"b\",,\"\"").expect("escaped"), ["a\"b", "", ""]);
        assert_eq!(split("a,\"b\"").expect("last"), ["a", "b"]);
        assert_eq!(split("x\"y,z").expect("a quote inside an unquoted field is kept"), ["x\"y", "z"]);
        assert!(split("\"open,1").is_err());
        assert_eq!(split("\"a\"b,1").map_err(|e| e.at), Err(3));
    }
}
