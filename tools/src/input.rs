//! Streaming readers for capture files (design.md §6), in bounded memory, and the k-way
//! merge that replays several files as one stream ordered by `ts_event` (ties: file order).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Side, Timestamp, Trade, TradeId, NO_TS};

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the file name and header.
    Auto,
    /// ticklane CSV.
    Csv,
    /// Tardis CSV.
    Tardis,
    /// Databento DBN (`.dbn`, `.dbn.zst`).
    Dbn,
}

/// A malformed record or unreadable input, located as `FILE:LINE` (CSV) or
/// `FILE: byte OFFSET` (DBN).
#[derive(Debug, Clone)]
pub struct InputError {
    /// Where.
    pub at: String,
    /// A short stable reason (the key of the per-reason counts).
    pub reason: &'static str,
    /// What was expected and found.
    pub detail: String,
    /// Whether reading can go on after it (a bad line: yes; a truncated DBN file: no).
    pub recoverable: bool,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.detail)
    }
}

/// One record: the reader-local symbol index and the trade (its instrument id unset).
pub type Rec = (u32, Trade);

/// DBN instrument ids below this are mapped through a plain table.
const DENSE_IDS: usize = 1 << 20;

/// A source of trades.
pub trait Source: Send {
    /// The next record, a recoverable or fatal error, or `None` at the end.
    fn next(&mut self) -> Option<Result<Rec, InputError>>;
    /// The instrument name of local symbol `i`.
    fn symbol(&self, i: u32) -> &str;
    /// Bytes consumed so far (for progress), if known.
    fn position(&self) -> u64;
}

fn unreadable(path: &Path, e: impl fmt::Display) -> InputError {
    InputError { at: path.display().to_string(), reason: "unreadable", detail: e.to_string(), recoverable: false }
}

/// Opens `path` as `format` (`Auto`: `.dbn`/`.dbn.zst` by name, Tardis by its header, else
/// ticklane CSV).
pub fn open(path: &Path, format: Format) -> Result<Box<dyn Source>, InputError> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let is_dbn = name.ends_with(".dbn") || name.ends_with(".dbn.zst");
    match format {
        Format::Dbn => Ok(Box::new(DbnSource::open(path)?)),
        Format::Auto if is_dbn => Ok(Box::new(DbnSource::open(path)?)),
        Format::Csv => Ok(Box::new(CsvSource::open(path, Some(false))?)),
        Format::Tardis => Ok(Box::new(CsvSource::open(path, Some(true))?)),
        Format::Auto => Ok(Box::new(CsvSource::open(path, None)?)),
    }
}

/// Interns names per reader: bytes → local index, without allocating for known names. Names
/// of up to 16 bytes (nearly all tickers) are keyed by a packed integer, so a lookup hashes
/// and compares integers instead of calling `memcmp`.
#[derive(Default)]
struct Symbols {
    short: hashbrown::HashMap<(u128, u8), u32, ahash::RandomState>,
    long: hashbrown::HashMap<Vec<u8>, u32, ahash::RandomState>,
    names: Vec<Arc<str>>,
}

impl Symbols {
    fn get(&mut self, name: &[u8]) -> u32 {
        let n = self.names.len() as u32;
        let i = if name.len() <= 16 {
            let mut k = [0u8; 16];
            k[..name.len()].copy_from_slice(name);
            *self.short.entry((u128::from_le_bytes(k), name.len() as u8)).or_insert(n)
        } else {
            match self.long.get(name) {
                Some(&i) => i,
                None => *self.long.entry(name.to_vec()).or_insert(n),
            }
        };
        if i == n {
            self.names.push(Arc::from(String::from_utf8_lossy(name).as_ref()));
        }
        i
    }
}

struct Columns {
    ts: usize,
    recv: Option<usize>,
    price: usize,
    size: usize,
    side: Option<usize>,
    id: Option<usize>,
    instrument: Option<usize>,
    exchange: Option<usize>,
    symbol: Option<usize>,
}

/// ticklane CSV or Tardis CSV, read line by line.
pub struct CsvSource {
    path: PathBuf,
    reader: BufReader<File>,
    line: Vec<u8>,
    line_no: u64,
    pos: u64,
    tardis: bool,
    cols: Columns,
    fields: Vec<(usize, usize)>,
    symbols: Symbols,
    name_buf: Vec<u8>,
}

fn find(header: &[&str], name: &str) -> Option<usize> {
    header.iter().position(|h| h.trim() == name)
}

impl CsvSource {
    fn open(path: &Path, tardis: Option<bool>) -> Result<CsvSource, InputError> {
        let file = File::open(path).map_err(|e| unreadable(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut head = Vec::new();
        reader.read_until(b'\n', &mut head).map_err(|e| unreadable(path, e))?;
        let at1 = format!("{}:1", path.display());
        let text = String::from_utf8_lossy(&head);
        let header: Vec<&str> = text.trim_end_matches(['\r', '\n']).split(',').collect();
        let looks_tardis = find(&header, "local_timestamp").is_some() && find(&header, "amount").is_some();
        let tardis = tardis.unwrap_or(looks_tardis);
        let missing = |what: &str| InputError {
            at: at1.clone(),
            reason: "header",
            detail: format!("expected a header with a `{what}` column, found `{}`", header.join(",")),
            recoverable: false,
        };
        let cols = if tardis {
            Columns {
                ts: find(&header, "timestamp").ok_or_else(|| missing("timestamp"))?,
                recv: find(&header, "local_timestamp"),
                price: find(&header, "price").ok_or_else(|| missing("price"))?,
                size: find(&header, "amount").ok_or_else(|| missing("amount"))?,
                side: find(&header, "side"),
                id: find(&header, "id"),
                instrument: None,
                exchange: Some(find(&header, "exchange").ok_or_else(|| missing("exchange"))?),
                symbol: Some(find(&header, "symbol").ok_or_else(|| missing("symbol"))?),
            }
        } else {
            Columns {
                ts: find(&header, "ts_event").ok_or_else(|| missing("ts_event"))?,
                recv: find(&header, "ts_recv"),
                price: find(&header, "price").ok_or_else(|| missing("price"))?,
                size: find(&header, "size").ok_or_else(|| missing("size"))?,
                side: find(&header, "side"),
                id: find(&header, "trade_id"),
                instrument: Some(find(&header, "instrument").ok_or_else(|| missing("instrument"))?),
                exchange: None,
                symbol: None,
            }
        };
        Ok(CsvSource {
            path: path.to_path_buf(),
            reader,
            line: Vec::with_capacity(256),
            line_no: 1,
            pos: head.len() as u64,
            tardis,
            cols,
            fields: Vec::with_capacity(16),
            symbols: Symbols::default(),
            name_buf: Vec::new(),
        })
    }

    fn bad(&self, reason: &'static str, detail: String) -> InputError {
        InputError { at: format!("{}:{}", self.path.display(), self.line_no), reason, detail, recoverable: true }
    }

    fn field(&self, i: usize) -> &[u8] {
        self.fields.get(i).map_or(&[][..], |&(a, b)| &self.line[a..b])
    }

    fn time(&self, i: usize, what: &str) -> Result<Timestamp, InputError> {
        let f = self.field(i);
        let t = if self.tardis {
            parse_int(f).and_then(|us| us.checked_mul(1_000))
        } else {
            parse_int(f).or_else(|| parse_rfc3339(f))
        };
        t.ok_or_else(|| {
            let unit = if self.tardis { "integer microseconds" } else { "integer nanoseconds or RFC 3339 time" };
            self.bad("bad_timestamp", format!("{what}: expected {unit}, found {:?}", String::from_utf8_lossy(f)))
        })
    }

    fn parse_line(&mut self) -> Result<Rec, InputError> {
        let end = self.line.iter().rposition(|&c| c != b'\n' && c != b'\r').map_or(0, |p| p + 1);
        self.fields.clear();
        let mut start = 0;
        for (i, &c) in self.line[..end].iter().enumerate() {
            if c == b',' {
                self.fields.push((start, i));
                start = i + 1;
            }
        }
        self.fields.push((start, end));
        let need = [
            Some(self.cols.ts),
            Some(self.cols.price),
            Some(self.cols.size),
            self.cols.instrument,
            self.cols.exchange,
            self.cols.symbol,
        ];
        let widest = need.iter().flatten().max().copied().unwrap_or(0);
        if self.fields.len() <= widest {
            return Err(self.bad(
                "missing_field",
                format!("expected at least {} fields, found {}", widest + 1, self.fields.len()),
            ));
        }
        let ts_event = self.time(self.cols.ts, "ts_event")?;
        let ts_recv = match self.cols.recv {
            Some(i) if !self.field(i).is_empty() => self.time(i, "ts_recv")?,
            _ => NO_TS,
        };
        let price = Fixed::parse_bytes(self.field(self.cols.price)).map_err(|e| {
            self.bad("bad_price", format!("price {:?}: {e}", String::from_utf8_lossy(self.field(self.cols.price))))
        })?;
        let size = Fixed::parse_bytes(self.field(self.cols.size)).map_err(|e| {
            self.bad("bad_size", format!("size {:?}: {e}", String::from_utf8_lossy(self.field(self.cols.size))))
        })?;
        let side = match self.cols.side {
            Some(i) => Side::parse(self.field(i)).ok_or_else(|| {
                self.bad(
                    "bad_side",
                    format!(
                        "side: expected buy, sell, b, s or empty, found {:?}",
                        String::from_utf8_lossy(self.field(i))
                    ),
                )
            })?,
            None => Side::None,
        };
        let trade_id = self.cols.id.map_or(TradeId::NONE, |i| TradeId::from_text(self.field(i)));
        let sym = match (self.cols.instrument, self.cols.exchange, self.cols.symbol) {
            (Some(i), _, _) => {
                let f = self.field(i);
                if f.is_empty() {
                    return Err(self.bad("missing_field", "instrument: expected a name, found an empty field".into()));
                }
                let (a, b) = self.fields[i];
                self.symbols.get(&self.line[a..b])
            }
            (None, Some(e), Some(s)) => {
                let mut buf = std::mem::take(&mut self.name_buf);
                buf.clear();
                buf.extend_from_slice(self.field(e));
                buf.push(b':');
                buf.extend_from_slice(self.field(s));
                let i = self.symbols.get(&buf);
                self.name_buf = buf;
                i
            }
            _ => return Err(self.bad("missing_field", "no instrument column".into())),
        };
        Ok((sym, Trade { ts_event, ts_recv, price, size, trade_id, instrument: InstrumentId(0), side }))
    }
}

impl Source for CsvSource {
    fn next(&mut self) -> Option<Result<Rec, InputError>> {
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(n) => {
                    self.pos += n as u64;
                    self.line_no += 1;
                    if self.line.first().is_none_or(u8::is_ascii_whitespace)
                        && self.line.iter().all(u8::is_ascii_whitespace)
                    {
                        continue; // blank lines carry nothing
                    }
                    return Some(self.parse_line());
                }
                Err(e) => {
                    return Some(Err(InputError {
                        at: format!("{}:{}", self.path.display(), self.line_no + 1),
                        reason: "unreadable",
                        detail: e.to_string(),
                        recoverable: false,
                    }))
                }
            }
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.pos
    }
}

/// A decimal integer with an optional leading `-`; `None` for anything else or on overflow.
/// (Up to 19 digits accumulate in a `u64` without overflow, so the loop needs no checked
/// arithmetic: this runs once or twice per record.)
fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    if neg {
        // -2^63 is the one magnitude beyond i64::MAX that fits.
        (v <= 1 << 63).then(|| (v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` → ns since the epoch.
pub fn parse_rfc3339(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    if s.len() < 20 || !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if [4, 7].iter().any(|&i| s.as_bytes()[i] != b'-') || [13, 16].iter().any(|&i| s.as_bytes()[i] != b':') {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<i64>().ok()? * 10i64.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's well-known formula.
    let (yy, mm) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Counts the bytes a reader hands out (the DBN decoder's position, for progress and errors).
struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Databento DBN trades (and MBP-1 trade events), via the `dbn` crate. The instrument is
/// `dataset:raw_symbol` from the file's symbology, else `dataset:instrument_id`.
pub struct DbnSource {
    path: PathBuf,
    decoder: dbn::decode::DynDecoder<'static, BufReader<Counting<File>>>,
    read: Arc<std::sync::atomic::AtomicU64>,
    dataset: String,
    raw: HashMap<u32, String>,
    /// DBN instrument id → local symbol index, by index for ids below [`DENSE_IDS`] (4 MiB
    /// at most), else hashed: this runs for every record.
    dense: Vec<u32>,
    local: hashbrown::HashMap<u32, u32, ahash::RandomState>,
    symbols: Symbols,
    records: u64,
    done: bool,
    zstd: bool,
}

impl DbnSource {
    fn open(path: &Path) -> Result<DbnSource, InputError> {
        use dbn::decode::DbnMetadata;
        let mut file = File::open(path).map_err(|e| unreadable(path, e))?;
        let mut magic = [0u8; 4];
        let zstd = file.read_exact(&mut magic).is_ok() && magic == [0x28, 0xB5, 0x2F, 0xFD];
        std::io::Seek::rewind(&mut file).map_err(|e| unreadable(path, e))?;
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counting = BufReader::new(Counting { inner: file, read: read.clone() });
        let decoder = dbn::decode::DynDecoder::inferred_with_buffer(counting, dbn::VersionUpgradePolicy::UpgradeToV3)
            .map_err(|e| InputError {
            at: format!("{}: byte 0", path.display()),
            reason: "bad_dbn_header",
            detail: format!("expected DBN metadata: {e}"),
            recoverable: false,
        })?;
        let meta = decoder.metadata();
        let mut raw = HashMap::new();
        for m in &meta.mappings {
            for iv in &m.intervals {
                if let Ok(id) = iv.symbol.parse::<u32>() {
                    raw.insert(id, m.raw_symbol.clone());
                }
            }
        }
        let dataset = meta.dataset.clone();
        Ok(DbnSource {
            path: path.to_path_buf(),
            decoder,
            read,
            dataset,
            raw,
            dense: Vec::new(),
            local: hashbrown::HashMap::default(),
            symbols: Symbols::default(),
            records: 0,
            done: false,
            zstd,
        })
    }

    /// At the decoder's end: a zstd file must end with complete frames, or records were lost.
    fn check_complete(&self) -> Result<(), InputError> {
        if !self.zstd {
            return Ok(());
        }
        match crate::zstd_frames::check(&self.path) {
            Ok(Ok(())) => Ok(()),
            Ok(Err((offset, what))) => Err(InputError {
                at: format!("{}: byte {offset}", self.path.display()),
                reason: "truncated_zstd",
                detail: format!(
                    "{what}: the file is truncated or corrupt; {} records were read before it",
                    self.records
                ),
                recoverable: false,
            }),
            Err(e) => Err(unreadable(&self.path, e)),
        }
    }

    fn sym(&mut self, instrument_id: u32) -> u32 {
        if let Some(&i) = self.dense.get(instrument_id as usize) {
            if i != u32::MAX {
                return i;
            }
        } else if let Some(&i) = self.local.get(&instrument_id) {
            return i;
        }
        let name = match self.raw.get(&instrument_id) {
            Some(r) => format!("{}:{}", self.dataset, r),
            None => format!("{}:{}", self.dataset, instrument_id),
        };
        let i = self.symbols.get(name.as_bytes());
        let at = instrument_id as usize;
        if at < DENSE_IDS {
            if self.dense.len() <= at {
                self.dense.resize(at + 1, u32::MAX);
            }
            self.dense[at] = i;
        } else {
            self.local.insert(instrument_id, i);
        }
        i
    }
}

fn dbn_side(c: std::os::raw::c_char) -> Side {
    match c as u8 {
        b'B' => Side::Buy,
        b'A' => Side::Sell,
        _ => Side::None,
    }
}

impl Source for DbnSource {
    fn next(&mut self) -> Option<Result<Rec, InputError>> {
        use dbn::decode::DecodeRecordRef;
        if self.done {
            return None;
        }
        loop {
            let r = match self.decoder.decode_record_ref() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.done = true;
                    return self.check_complete().err().map(Err);
                }
                Err(e) => {
                    self.done = true;
                    // The file offset read so far (the decoder reads ahead in blocks).
                    let at = format!(
                        "{}: byte {}",
                        self.path.display(),
                        self.read.load(std::sync::atomic::Ordering::Relaxed)
                    );
                    return Some(Err(InputError {
                        at,
                        reason: "bad_dbn_record",
                        detail: format!("expected a complete DBN record after {} records: {e}", self.records),
                        recoverable: false,
                    }));
                }
            };
            let (hd, price, size, side, ts_recv, seq) = if let Some(t) = r.get::<dbn::TradeMsg>() {
                (t.hd, t.price, t.size, t.side, t.ts_recv, t.sequence)
            } else if let Some(m) = r.get::<dbn::Mbp1Msg>() {
                if m.action as u8 != b'T' {
                    continue;
                }
                (m.hd, m.price, m.size, m.side, m.ts_recv, m.sequence)
            } else {
                continue; // other schemas carry no trades
            };
            self.records += 1;
            let _ = seq; // sequence numbers repeat in real captures: not a trade id
            let sym = self.sym(hd.instrument_id);
            let trade = Trade {
                ts_event: i64::try_from(hd.ts_event).unwrap_or(i64::MAX),
                ts_recv: i64::try_from(ts_recv).unwrap_or(NO_TS),
                price: Fixed::from_raw(price),
                size: Fixed::from_int(i64::from(size)).unwrap_or(Fixed::from_raw(i64::MAX)),
                trade_id: TradeId::NONE,
                instrument: InstrumentId(0),
                side: dbn_side(side),
            };
            return Some(Ok((sym, trade)));
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.read.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Several sources as one stream ordered by `ts_event`, ties in source order. Each source is
/// read one record ahead; memory is one record per source.
pub struct Merge {
    sources: Vec<Box<dyn Source>>,
    heads: BinaryHeap<Reverse<(Timestamp, usize)>>,
    pending: Vec<Option<Rec>>,
    primed: bool,
    errors: Vec<InputError>,
}

impl Merge {
    /// Merges `sources` (in the order the files were given).
    pub fn new(sources: Vec<Box<dyn Source>>) -> Merge {
        let n = sources.len();
        Merge { sources, heads: BinaryHeap::new(), pending: vec![None; n], primed: false, errors: Vec::new() }
    }

    /// The sources (for symbol names and positions).
    pub fn sources(&self) -> &[Box<dyn Source>] {
        &self.sources
    }

    /// Bytes consumed over all sources.
    pub fn position(&self) -> u64 {
        self.sources.iter().map(|s| s.position()).sum()
    }

    /// Pulls source `i`'s next good record into its slot; errors are queued in file order.
    fn refill(&mut self, i: usize) {
        if let Some(r) = self.sources[i].next() {
            match r {
                Ok(rec) => {
                    self.heads.push(Reverse((rec.1.ts_event, i)));
                    self.pending[i] = Some(rec);
                }
                Err(e) => {
                    let again = e.recoverable;
                    self.errors.push(e);
                    if again {
                        // Keep the source alive; its next record is fetched after the error
                        // is handed out.
                        self.heads.push(Reverse((i64::MIN, i)));
                    }
                }
            }
        }
    }
}

impl Iterator for Merge {
    type Item = Result<(usize, Rec), InputError>;

    /// The next `(source, record)` or error; `None` when every source is done.
    fn next(&mut self) -> Option<Result<(usize, Rec), InputError>> {
        if self.sources.len() == 1 {
            // One file: nothing to merge.
            return self.sources[0].next().map(|r| r.map(|rec| (0, rec)));
        }
        if !self.primed {
            self.primed = true;
            for i in 0..self.sources.len() {
                self.refill(i);
            }
        }
        if !self.errors.is_empty() {
            return Some(Err(self.errors.remove(0)));
        }
        let Reverse((_, i)) = self.heads.pop()?;
        match self.pending[i].take() {
            Some(rec) => {
                self.refill(i);
                Some(Ok((i, rec)))
            }
            None => {
                // A placeholder left by a recoverable error: fetch the source's next record.
                self.refill(i);
                self.next()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_intern_short_and_long_names_apart() {
        let mut s = Symbols::default();
        let names: [&[u8]; 6] = [b"ESH4", b"ESH4\0", b"A", b"0123456789abcdef", b"0123456789abcdefg", b""];
        let ids: Vec<u32> = names.iter().map(|n| s.get(n)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        assert_eq!(names.iter().map(|n| s.get(n)).collect::<Vec<_>>(), ids, "second sighting, same index");
        assert_eq!(&*s.names[4], "0123456789abcdefg");
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int(b"1700000000000000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(parse_int(b"-5"), Some(-5));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"0000000000000000007"), Some(7));
        for bad in [
            &b""[..],
            b"-",
            b"1.5",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"9999999999999999999",
            b"18446744073709551616",
            b"12a",
            b"+1",
            b"1/",
            b"1:",
        ] {
            assert_eq!(parse_int(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339(b"2023-12-25T23:00:00.000000000Z"), Some(1_703_545_200_000_000_000));
        assert_eq!(parse_rfc3339(b"2023-12-26T00:00:00.5+01:00"), Some(1_703_545_200_500_000_000));
        assert_eq!(parse_rfc3339(b"2023-12-25 23:00:00Z"), Some(1_703_545_200_000_000_000));
        for bad in ["2023-13-01T00:00:00Z", "2023-12-25T23:00:00", "2023-12-25T23:00:00.1234567891Z", "nonsense"] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }
}
