//! Databento DBN trades (and MBP-1 trade events), plain or zstd-compressed, via the `dbn`
//! crate.

use super::symbols::Symbols;
use super::{InputError, Rec, Source};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ticklane::{Fixed, InstrumentId, Side, Trade, TradeId, NO_TS};

/// DBN instrument ids below this are mapped through a plain table.
const DENSE_IDS: usize = 1 << 20;

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
    pub(super) fn open(path: &Path) -> Result<DbnSource, InputError> {
        use dbn::decode::DbnMetadata;
        let mut file = File::open(path).map_err(|e| InputError::unreadable(path, e))?;
        let mut magic = [0u8; 4];
        let zstd = file.read_exact(&mut magic).is_ok() && magic == [0x28, 0xB5, 0x2F, 0xFD];
        std::io::Seek::rewind(&mut file).map_err(|e| InputError::unreadable(path, e))?;
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
