//! The output files and the threads that write them: bars from the `out` egress, late trades
//! from the `late` egress. Writers run on their own threads, so a full egress blocks its
//! shard, never the reader. A write error does not stop a writer: it keeps draining (and
//! counting what it could not write), so the run ends and reports exactly how far each
//! output got.

use super::signals::Tally;
use crate::outcome::BadInput;
use crate::output::{
    bar_line, bar_message, quote_bar_line, quote_bar_message, trade_line, BusSink, LineSink, OutFormat, ParquetSink,
    Rows, Target, Written, BARS_HEADER, QUOTE_BARS_HEADER, TRADES_HEADER,
};
use crate::plan::{coarser_names, Destination, OutputPlan, LATE, OUT, QUOTE_OUT};
use core_affinity::CoreId;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use ticklane::{Bar, Egress, Engine, QuoteBar, Record, Stamped, Trade};
use ticklane_tools::wire::WireFormat;

/// Every output file, opened before any input is read (a bad path is bad usage).
pub(super) struct Files {
    bars: Option<(Target, OutFormat)>,
    quote_bars: Option<(Target, OutFormat)>,
    /// The coarser widths' bars (in the format of `bars`).
    coarser: Vec<(String, Target)>,
    late: Option<Target>,
    pub(super) summary: Option<File>,
}

impl Files {
    /// Opens (truncating) every output of `o`; refuses one that is also an input.
    pub(super) fn create(o: &OutputPlan, inputs: &[std::path::PathBuf]) -> anyhow::Result<Files> {
        let target = |t: &Option<(Destination, OutFormat)>| -> anyhow::Result<_> {
            Ok(match t {
                None => None,
                Some((Destination::File(p), format)) => Some((file(p, "--out", inputs)?, *format)),
                Some((Destination::Stdout, format)) => Some((Target::Stdout, *format)),
                Some((Destination::Bus(url, t), format)) => {
                    Some((Target::Bus(Box::new(BusSink::connect(t, format!("--out {url}"))?)), *format))
                }
            })
        };
        let (bars, quote_bars) = (target(&o.bars)?, target(&o.quote_bars)?);
        let format = o.bars.as_ref().map_or(OutFormat::Csv, |b| b.1);
        let mut coarser = Vec::new();
        for (text, d) in &o.coarser {
            if let Some((t, _)) = target(&Some((clone(d), format)))? {
                coarser.push((text.clone(), t));
            }
        }
        let late = o.late.as_deref().map(|p| file(p, "--late-out", inputs)).transpose()?;
        let summary = o.summary.as_deref().map(|p| create(p, "--summary", inputs)).transpose()?;
        Ok(Files { bars, quote_bars, coarser, late, summary })
    }
}

fn clone(d: &Destination) -> Destination {
    match d {
        Destination::Stdout => Destination::Stdout,
        Destination::File(p) => Destination::File(p.clone()),
        Destination::Bus(u, t) => Destination::Bus(u.clone(), t.clone()),
    }
}

fn file(path: &Path, flag: &str, inputs: &[std::path::PathBuf]) -> anyhow::Result<Target> {
    Ok(Target::File { file: create(path, flag, inputs)?, name: format!("{flag} {}", path.display()) })
}

fn create(path: &Path, flag: &str, inputs: &[std::path::PathBuf]) -> anyhow::Result<File> {
    let same = |i: &std::path::PathBuf| i.canonicalize().ok().is_some_and(|c| path.canonicalize().ok() == Some(c));
    if inputs.iter().any(same) {
        return Err(BadInput(format!("{flag} {}: is also an input; it would be overwritten", path.display())).into());
    }
    File::create(path).map_err(|e| BadInput(format!("{flag} {}: {e}", path.display())).into())
}

/// The running writer threads; each reports what its output holds.
pub(super) struct Writers {
    bars: Option<JoinHandle<Written>>,
    late: Option<JoinHandle<Written>>,
    quote_bars: Option<JoinHandle<Written>>,
    coarser: Vec<(String, JoinHandle<Written>)>,
}

impl Writers {
    /// Takes the egresses for `files` and starts a writer on each (the bar writer pinned to
    /// `core`, if any); with `eager`, everything released is written at once (a watcher sees
    /// each bar as the watermark releases it) rather than in blocks.
    pub(super) fn spawn(
        engine: &mut Engine,
        files: &mut Files,
        core: Option<CoreId>,
        eager: bool,
        tally: &Tally,
    ) -> anyhow::Result<Writers> {
        let format = files.bars.as_ref().map_or(OutFormat::Csv, |b| b.1);
        let bars = match files.bars.take() {
            Some((target, format)) => Some(bar_writer(engine, OUT, target, format, tally.bars.clone(), eager, core)?),
            None => None,
        };
        let mut coarser = Vec::new();
        for (text, target) in std::mem::take(&mut files.coarser) {
            let egress = coarser_names(&text).1;
            let w = bar_writer(engine, &egress, target, format, Arc::new(AtomicU64::new(0)), eager, None)?;
            coarser.push((text, w));
        }
        let late = match files.late.take() {
            Some(target) => {
                let egress = engine.egress::<Trade>(LATE)?;
                let sink = LineSink::new(target, Some(TRADES_HEADER), Arc::new(AtomicU64::new(0)));
                Some(spawn_writer("ticklane-late", egress, sink, eager, None, trade_line)?)
            }
            None => None,
        };
        let quote_bars = match files.quote_bars.take() {
            Some((Target::Bus(sink), format)) => {
                let egress = engine.egress::<QuoteBar>(QUOTE_OUT)?;
                Some(spawn_bus(egress, *sink, wire(format), Arc::new(AtomicU64::new(0)), quote_bar_message)?)
            }
            Some((Target::File { file, name }, OutFormat::Parquet)) => {
                let egress = engine.egress::<QuoteBar>(QUOTE_OUT)?;
                let sink = ParquetSink::create(file, name.clone(), Arc::new(AtomicU64::new(0)))
                    .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                Some(spawn_parquet(egress, sink, None)?)
            }
            Some((target, format)) => {
                let egress = engine.egress::<QuoteBar>(QUOTE_OUT)?;
                let header = (format == OutFormat::Csv).then_some(QUOTE_BARS_HEADER);
                let sink = LineSink::new(target, header, Arc::new(AtomicU64::new(0)));
                Some(spawn_writer("ticklane-quote-bars", egress, sink, eager, None, move |name, b, line| {
                    quote_bar_line(format, name, b, line)
                })?)
            }
            None => None,
        };
        Ok(Writers { bars, late, quote_bars, coarser })
    }

    /// Waits for every writer: what each output holds (`None` for a writer not started).
    pub(super) fn join(self) -> Joined {
        let join = |h: JoinHandle<Written>| {
            h.join()
                .unwrap_or_else(|_| Written { error: Some("the writer thread panicked".into()), ..Written::default() })
        };
        Joined {
            bars: self.bars.map(join),
            late: self.late.map(join),
            quote_bars: self.quote_bars.map(join),
            coarser: self.coarser.into_iter().map(|(t, h)| (t, join(h))).collect(),
        }
    }
}

/// What each output holds at the end.
pub(super) struct Joined {
    pub(super) bars: Option<Written>,
    pub(super) late: Option<Written>,
    pub(super) quote_bars: Option<Written>,
    pub(super) coarser: Vec<(String, Written)>,
}

/// A writer of the bars of egress `name` into `target` (Parquet or lines).
fn bar_writer(
    engine: &mut Engine,
    name: &str,
    target: Target,
    format: OutFormat,
    lines: Arc<AtomicU64>,
    eager: bool,
    core: Option<CoreId>,
) -> anyhow::Result<JoinHandle<Written>> {
    let egress = engine.egress::<Bar>(name)?;
    match (target, format) {
        (Target::Bus(sink), format) => Ok(spawn_bus(egress, *sink, wire(format), lines, bar_message)?),
        (Target::File { file, name }, OutFormat::Parquet) => {
            let sink = ParquetSink::create(file, name.clone(), lines).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            Ok(spawn_parquet(egress, sink, core)?)
        }
        (target, format) => {
            let header = (format == OutFormat::Csv).then_some(BARS_HEADER);
            let sink = LineSink::new(target, header, lines);
            Ok(spawn_writer("ticklane-bars", egress, sink, eager, core, move |name, b, line| {
                bar_line(format, name, b, line)
            })?)
        }
    }
}

/// A thread writing every record of `egress` to `sink` as `format` makes it.
fn spawn_writer<T: Record>(
    name: &str,
    mut egress: Egress<T>,
    mut sink: LineSink,
    eager: bool,
    core: Option<CoreId>,
    format: impl Fn(&str, &T, &mut Vec<u8>) + Send + 'static,
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Some(c) = core {
            core_affinity::set_for_current(c);
        }
        let mut line = Vec::with_capacity(256);
        while let Some(r) = next(&mut egress, &mut sink, eager) {
            format(egress.name(r.rec.instrument()).unwrap_or_default(), &r.rec, &mut line);
            sink.line(&line);
        }
        sink.finish()
    })
}

/// The message encoding for an output format on a bus: MessagePack, or JSON.
fn wire(format: OutFormat) -> WireFormat {
    if format == OutFormat::Msgpack {
        WireFormat::Msgpack
    } else {
        WireFormat::Json
    }
}

/// A bar of either kind: what identifies one on the bus
/// (`instrument/window_start/window_end/revision`: unique across widths and revisions).
trait BusId {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32);

    fn bus_id(&self, name: &str) -> String {
        let (start, end, revision) = self.window();
        format!("{name}/{start}/{end}/{revision}")
    }
}

impl BusId for Bar {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32) {
        (self.window_start, self.window_end, self.revision)
    }
}

impl BusId for QuoteBar {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32) {
        (self.window_start, self.window_end, self.revision)
    }
}

/// A thread publishing every record of `egress` onto the bus, one message each.
fn spawn_bus<T: Record + BusId>(
    mut egress: Egress<T>,
    mut sink: BusSink,
    format: WireFormat,
    count: Arc<AtomicU64>,
    encode: fn(WireFormat, &str, &T, &mut Vec<u8>),
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new().name("ticklane-bus".into()).spawn(move || {
        let mut msg = Vec::with_capacity(256);
        while let Some(r) = egress.recv() {
            let name = egress.name(r.rec.instrument()).unwrap_or_default();
            encode(format, name, &r.rec, &mut msg);
            sink.send(name, &r.rec.bus_id(name), &msg);
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        sink.finish()
    })
}

/// A thread writing every record of `egress` into a Parquet file.
fn spawn_parquet<R: Record + Rows>(
    mut egress: Egress<R>,
    mut sink: ParquetSink<R>,
    core: Option<CoreId>,
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new().name("ticklane-parquet".into()).spawn(move || {
        if let Some(c) = core {
            core_affinity::set_for_current(c);
        }
        while let Some(r) = egress.recv() {
            sink.push(egress.name(r.rec.instrument()).unwrap_or_default(), &r.rec);
        }
        sink.finish()
    })
}

/// The next record; with `eager`, what is gathered is written before waiting for it.
#[inline]
fn next<T: Record>(egress: &mut Egress<T>, sink: &mut LineSink, eager: bool) -> Option<Stamped<T>> {
    if eager {
        if let Some(r) = egress.try_recv() {
            return Some(r);
        }
        sink.commit();
    }
    egress.recv()
}
