//! Databento DBN trades (trade records, MBP-1 trade events, TBBO) and top-of-book quotes
//! (MBP-1, TBBO, BBO-1s/1m: `quote.rs`), plain or zstd-compressed: the metadata through the
//! `dbn` crate, the records by [`body`] (a buffer of whole records read in place).
//! Records are decoded as written (no version upgrade: trade and MBP-1 layouts are the same
//! in every DBN version) and each is checked for length before it is looked at, so a short or
//! corrupt record is an error with its byte offset, never a panic.

mod body;
mod quote;

use super::excerpt::excerpt;
use super::stream::{Bytes, Compression, Stream};
use super::symbols::Symbols;
use super::{Chunk, InputError, ReadOptions, Rec, Source};
use body::{Body, Decoded, Fields, Next};
use quote::{decode_quote, QuoteFields};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Quote, Side, Timestamp, Trade, TradeId, NO_TS};

/// DBN instrument ids below this are mapped through a plain table.
const DENSE_IDS: usize = 1 << 20;
/// The largest metadata section accepted (symbology for a whole options chain fits easily);
/// a corrupt length beyond it would make the decoder allocate gigabytes.
pub const MAX_METADATA: u32 = 256 << 20;
/// `DBN`, the version byte, and the metadata length.
const PRELUDE: u64 = 8;

/// Databento DBN trades (and MBP-1 trade events). The instrument is
/// `dataset:raw_symbol` from the file's symbology, else `dataset:instrument_id`.
pub struct DbnSource {
    path: PathBuf,
    /// The decompressed records after the metadata.
    body: Body<Bytes>,
    /// Raw bytes read (for progress).
    position: Arc<AtomicU64>,
    /// Decompressed offset of the next record: prelude, metadata, and every record so far.
    offset: u64,
    ts_range: (Timestamp, Timestamp),
    dataset: String,
    raw: HashMap<u32, String>,
    /// DBN instrument id → local symbol index, by index for ids below [`DENSE_IDS`] (4 MiB
    /// at most), else hashed: this runs for every record.
    dense: Vec<u32>,
    local: hashbrown::HashMap<u32, u32, ahash::RandomState>,
    symbols: Symbols,
    records: u64,
    done: bool,
    compression: Compression,
    regular: bool,
    /// The schema the metadata names (`None`: mixed).
    schema: Option<dbn::Schema>,
}

impl DbnSource {
    /// Reads `stream` as DBN: the prelude is checked before the decoder sees it.
    pub(super) fn open(path: &Path, stream: Stream, opt: &ReadOptions) -> Result<DbnSource, InputError> {
        let fatal = |reason, detail| InputError {
            at: format!("{}: byte 0", path.display()),
            reason,
            detail,
            recoverable: false,
        };
        let meta_len = check_prelude(path, &stream).map_err(|d| fatal("bad_dbn_header", d))?;
        let mut bytes = stream.bytes;
        let meta = read_metadata(&mut bytes, meta_len).map_err(|d| fatal("bad_dbn_header", d))?;
        let mut raw = HashMap::new();
        for m in &meta.mappings {
            for iv in &m.intervals {
                if let Ok(id) = iv.symbol.parse::<u32>() {
                    raw.insert(id, m.raw_symbol.clone());
                }
            }
        }
        let (dataset, schema) = (meta.dataset.clone(), meta.schema);
        Ok(DbnSource {
            path: path.to_path_buf(),
            body: Body::new(bytes),
            position: stream.position,
            offset: PRELUDE + u64::from(meta_len),
            ts_range: opt.ts_range,
            dataset,
            raw,
            dense: Vec::new(),
            local: hashbrown::HashMap::default(),
            symbols: Symbols::default(),
            records: 0,
            done: false,
            compression: stream.compression,
            regular: stream.regular,
            schema,
        })
    }

    /// What the file holds, by its schema: trades (trades), quotes (BBO), or both (MBP-1 and
    /// TBBO carry trades and the top of book; a mixed or other schema is read for both).
    pub(super) fn kinds(&self) -> super::Kinds {
        use dbn::Schema;
        match self.schema {
            Some(Schema::Trades) => super::Kinds { trades: true, quotes: false },
            Some(Schema::Bbo1S | Schema::Bbo1M) => super::Kinds { trades: false, quotes: true },
            _ => super::Kinds { trades: true, quotes: true },
        }
    }

    /// `FILE: byte N` (of the decompressed stream, for a compressed file).
    fn at(&self, offset: u64) -> String {
        match self.compression {
            Compression::None => format!("{}: byte {offset}", self.path.display()),
            _ => format!("{}: decompressed byte {offset}", self.path.display()),
        }
    }

    #[cold]
    fn fatal(&mut self, offset: u64, reason: &'static str, detail: String) -> InputError {
        self.done = true;
        InputError { at: self.at(offset), reason, detail, recoverable: false }
    }

    /// At the input's end: every byte must belong to a whole record (`trailing` bytes do
    /// not), and a zstd file must end with complete frames, or records were lost.
    fn check_complete(&mut self, trailing: usize) -> Result<(), InputError> {
        if trailing > 0 {
            let detail = format!(
                "the last {trailing} bytes are an incomplete record: the file is truncated; {} records were read before it",
                self.records
            );
            return Err(self.fatal(self.offset, "truncated_dbn", detail));
        }
        if self.compression != Compression::Zstd || !self.regular {
            return Ok(());
        }
        match super::zstd_frames::check(&self.path) {
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
            Err(e) => Err(InputError::unreadable(&self.path, e)),
        }
    }

    /// The local symbol index of `instrument_id`: a table lookup for the ids seen before
    /// (inlined into the record loop: a call per record was 2% of a DBN replay), else
    /// [`DbnSource::learn_sym`].
    #[inline(always)]
    fn sym(&mut self, instrument_id: u32) -> u32 {
        match self.dense.get(instrument_id as usize) {
            Some(&i) if i != u32::MAX => i,
            _ => self.learn_sym(instrument_id),
        }
    }

    /// [`DbnSource::sym`] for an id not in the dense table: a wide id (a hash lookup), or one
    /// not seen yet (named from the symbology, or `dataset:id` without one).
    #[inline(never)]
    fn learn_sym(&mut self, instrument_id: u32) -> u32 {
        if let Some(&i) = self.local.get(&instrument_id) {
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

/// The metadata length from the prelude (`DBN`, a version this reader knows, a length that
/// fits the file and [`MAX_METADATA`]), or what is wrong with it.
fn check_prelude(path: &Path, s: &Stream) -> Result<u32, String> {
    let h = &s.head;
    if h.len() < PRELUDE as usize || &h[..3] != b"DBN" {
        return Err(format!("expected a DBN file (starting `DBN`), found {}", excerpt(h)));
    }
    if !(1..=dbn::DBN_VERSION).contains(&h[3]) {
        return Err(format!("DBN version {} is not supported (1 to {})", h[3], dbn::DBN_VERSION));
    }
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let file_len =
        std::fs::metadata(path).map(|m| m.len()).ok().filter(|_| s.regular && s.compression == Compression::None);
    if len > MAX_METADATA || file_len.is_some_and(|f| u64::from(len) + PRELUDE > f) {
        let file = file_len.map_or(String::new(), |f| format!(" in a file of {f} bytes"));
        return Err(format!(
            "a metadata section of {len} bytes{file} (at most {MAX_METADATA}): the file is corrupt or not DBN"
        ));
    }
    Ok(len)
}

/// The metadata section (after [`check_prelude`] said it is `len` bytes), decoded by the
/// `dbn` crate from exactly its own bytes, so the records after it stay in `bytes`.
fn read_metadata(bytes: &mut Bytes, len: u32) -> Result<dbn::Metadata, String> {
    let mut section = vec![0u8; PRELUDE as usize + len as usize];
    bytes
        .read_exact(&mut section)
        .map_err(|e| format!("expected {len} bytes of DBN metadata after the prelude: {e}"))?;
    let mut d = dbn::decode::dbn::MetadataDecoder::with_upgrade_policy(&section[..], dbn::VersionUpgradePolicy::AsIs);
    d.decode().map_err(|e| format!("expected DBN metadata: {e}"))
}

fn dbn_side(c: u8) -> Side {
    match c {
        b'B' => Side::Buy,
        b'A' => Side::Sell,
        _ => Side::None,
    }
}

impl DbnSource {
    /// The next record that `decode` reads (made by `make`; its `instrument` the local symbol
    /// index), a malformed record, or `None` at the end. Inlined into the chunk loops: the
    /// per-record cost of a call returning an `Option<Result<Trade, InputError>>` was most of
    /// the reader's.
    #[inline(always)]
    fn next_of<F, R>(
        &mut self,
        decode: fn(&[u8]) -> Decoded<F>,
        make: fn(&mut Self, u64, F) -> Result<R, InputError>,
    ) -> Option<Result<R, InputError>> {
        if self.done {
            return None;
        }
        loop {
            let at = self.offset;
            let problem = match self.body.next() {
                Next::Record { start, len } => {
                    self.offset += len as u64;
                    match decode(self.body.record(start, len)) {
                        Decoded::Rec(f) => return Some(make(self, at, f)),
                        Decoded::Other => continue,
                        Decoded::Short { what, got, want } => {
                            format!("{what} record of {got} bytes, shorter than the {want} bytes such a record has")
                        }
                    }
                }
                Next::End { trailing } => {
                    self.done = true;
                    return self.check_complete(trailing).err().map(Err);
                }
                Next::BadLength(len) => format!("a record length of {len} bytes, shorter than the record header"),
                Next::Io(e) => e.to_string(),
            };
            let detail = format!("expected a complete DBN record after {} records: {problem}", self.records);
            return Some(Err(self.fatal(at, "bad_dbn_record", detail)));
        }
    }

    #[inline(always)]
    fn next_trade(&mut self) -> Option<Result<Trade, InputError>> {
        self.next_of(body::decode, Self::trade)
    }

    /// Quote `f` of the record at byte `at`, or what is wrong with it.
    fn quote(&mut self, at: u64, f: QuoteFields) -> Result<Quote, InputError> {
        self.records += 1;
        let ts_event = i64::try_from(f.ts_event).unwrap_or(i64::MAX);
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            let detail = super::out_of_range(ts_event, self.ts_range);
            return Err(InputError { at: self.at(at), reason: "bad_timestamp", detail, recoverable: true });
        }
        let level = |(px, sz): (i64, u32)| (Fixed::from_raw(px), Fixed::from_int(i64::from(sz)).unwrap_or(Fixed::ZERO));
        let mut q = Quote { ts_event, ts_recv: i64::try_from(f.ts_recv).unwrap_or(NO_TS), ..Quote::default() };
        if let Some((px, sz)) = f.bid.map(level) {
            q = q.with_bid(px, sz);
        }
        if let Some((px, sz)) = f.ask.map(level) {
            q = q.with_ask(px, sz);
        }
        q.instrument = InstrumentId(self.sym(f.instrument_id));
        Ok(q)
    }

    /// Trade `f` of the record at byte `at`, or what is wrong with it.
    #[inline(always)]
    fn trade(&mut self, at: u64, f: Fields) -> Result<Trade, InputError> {
        self.records += 1;
        let ts_event = i64::try_from(f.ts_event).unwrap_or(i64::MAX);
        let bad = |reason, detail| InputError { at: self.at(at), reason, detail, recoverable: true };
        if ts_event < self.ts_range.0 || ts_event > self.ts_range.1 {
            return Err(bad("bad_timestamp", super::out_of_range(ts_event, self.ts_range)));
        }
        if f.size == 0 {
            return Err(bad("bad_size", "size must be positive, found 0".into()));
        }
        Ok(Trade {
            ts_event,
            ts_recv: i64::try_from(f.ts_recv).unwrap_or(NO_TS),
            price: Fixed::from_raw(f.price),
            size: Fixed::from_int(i64::from(f.size)).unwrap_or(Fixed::from_raw(i64::MAX)),
            trade_id: TradeId::NONE,
            instrument: InstrumentId(self.sym(f.instrument_id)),
            side: dbn_side(f.side),
        })
    }
}

impl Source for DbnSource {
    fn next(&mut self) -> Option<Result<Rec, InputError>> {
        self.next_trade().map(|r| r.map(|t| (t.instrument.0, t)))
    }

    /// Straight into the chunk (no per-record `Result` of a `Rec` to move).
    fn next_chunk(&mut self, chunk: &mut Chunk) -> bool {
        chunk.clear();
        while chunk.records.len() < super::chunk::CHUNK {
            match self.next_trade() {
                Some(Ok(t)) => chunk.records.push(t),
                Some(Err(e)) => {
                    let again = e.recoverable;
                    chunk.errors.push((chunk.records.len(), e));
                    if !again {
                        break;
                    }
                }
                None => break,
            }
        }
        !chunk.is_empty()
    }

    fn symbol(&self, i: u32) -> &str {
        self.symbols.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        match self.compression {
            Compression::None => self.offset,
            _ => self.position.load(Relaxed),
        }
    }
}

/// A DBN file read for its top-of-book quotes.
pub struct DbnQuotes(pub(super) DbnSource);

impl Source<Quote> for DbnQuotes {
    fn next(&mut self) -> Option<Result<Rec<Quote>, InputError>> {
        self.0.next_of(decode_quote, DbnSource::quote).map(|r| r.map(|q| (q.instrument.0, q)))
    }

    fn symbol(&self, i: u32) -> &str {
        self.0.symbol(i)
    }

    fn position(&self) -> u64 {
        self.0.position()
    }
}
