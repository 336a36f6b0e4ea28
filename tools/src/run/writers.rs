//! The output files and the threads that write them: bars from the `out` egress, late trades
//! and quotes from the `late` and `quote_late` egresses, forwarded ticks from the `ticks` egress. Writers run on their own threads, so a full egress blocks its
//! shard, never the reader. A write error does not stop a writer: it keeps draining (and
//! counting what it could not write), so the run ends and reports exactly how far each
//! output got.

use super::signals::Tally;
use crate::outcome::BadInput;
use crate::output::{
    bar_line, bar_message, quote_bar_line, quote_bar_message, quote_line, trade_line, BusSink, LineSink, OutFormat,
    ParquetSink, Rotation, Rows, Segments, Target, Written, BARS_HEADER, QUOTES_HEADER, QUOTE_BARS_HEADER,
    TRADES_HEADER,
};
use crate::plan::{
    coarser_names, fanned, quote_coarser_names, Destination, OutputPlan, Outs, LATE, OUT, QUOTE_LATE, QUOTE_OUT, TICKS,
};
use core_affinity::CoreId;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use ticklane::{Bar, Egress, Engine, Quote, QuoteBar, Record, Stamped, Trade};
use ticklane_tools::wire::WireFormat;

/// Every output file, opened before any input is read (a bad path is bad usage).
pub(super) struct Files {
    /// The finest width as given.
    fine: String,
    /// The finest width's bars, in each output (a fan-out when several).
    bars: Places,
    quote_bars: Places,
    /// The coarser widths' bars.
    coarser: Vec<(String, Places)>,
    /// The coarser widths' quote bars.
    quote_coarser: Vec<(String, Places)>,
    late: Option<Place>,
    quote_late: Option<Place>,
    /// `--ticks-out`, connected, and its encoding.
    ticks: Option<(BusSink, WireFormat)>,
    pub(super) summary: Option<File>,
}

/// The outputs of one kind and width of bars, each with its name (for the summary) and format.
type Places = Vec<(String, Place, OutFormat)>;

/// Where one output goes: a target opened before any input is read, or files cut by event
/// time (each created when its first bar comes).
pub(super) enum Place {
    Target(Target),
    Rotated(Rotation),
}

/// A rotated output, its directory checked now (a missing one is bad usage).
fn rotated(r: &Rotation) -> anyhow::Result<Place> {
    let dir = r.dir();
    if !dir.is_dir() {
        return Err(BadInput(format!("--out {}: no such directory for --rotate's files", dir.display())).into());
    }
    Ok(Place::Rotated(r.clone()))
}

impl Files {
    /// Opens (truncating) every output of `o`; refuses one that is also an input.
    pub(super) fn create(o: &OutputPlan, inputs: &[std::path::PathBuf]) -> anyhow::Result<Files> {
        let places = |outs: &Outs| -> anyhow::Result<Places> {
            outs.iter().map(|(d, format)| Ok((d.name(), open(d, inputs)?, *format))).collect()
        };
        let widths = |each: &[(String, Outs)]| -> anyhow::Result<Vec<(String, Places)>> {
            each.iter().map(|(text, outs)| Ok((text.clone(), places(outs)?))).collect()
        };
        let (bars, quote_bars) = (places(&o.bars)?, places(&o.quote_bars)?);
        let (coarser, quote_coarser) = (widths(&o.coarser)?, widths(&o.quote_coarser)?);
        let late_file = |p: &Option<std::path::PathBuf>| -> anyhow::Result<Option<Place>> {
            Ok(p.as_deref().map(|p| file(p, "--late-out", inputs)).transpose()?.map(Place::Target))
        };
        let (late, quote_late) = (late_file(&o.late)?, late_file(&o.quote_late)?);
        let summary = o.summary.as_deref().map(|p| create(p, "--summary", inputs)).transpose()?;
        let ticks = match &o.ticks {
            Some(t) => {
                let name = format!("--ticks-out {}", t.url);
                Some((BusSink::connect_ticks(&t.target, name, t.partitions, t.replicas)?, t.format))
            }
            None => None,
        };
        let fine = o.fine.clone();
        Ok(Files { fine, bars, quote_bars, coarser, quote_coarser, late, quote_late, ticks, summary })
    }
}

/// Opens (truncating) or connects destination `d`; refuses a file that is also an input.
fn open(d: &Destination, inputs: &[std::path::PathBuf]) -> anyhow::Result<Place> {
    Ok(match d {
        Destination::File(p) => Place::Target(file(p, "--out", inputs)?),
        Destination::Stdout => Place::Target(Target::Stdout),
        Destination::Bus(url, t) => Place::Target(Target::Bus(Box::new(BusSink::connect(t, format!("--out {url}"))?))),
        Destination::Rotated(r) => rotated(r)?,
    })
}

/// Opens output file `path` without discarding an earlier run's output on the way
/// ([`ticklane_tools::replace`]): a replaced file is closed (freed) on a thread of its own, a
/// file written in place is cut by its writer thread (`stale`). Truncating a 100 MB bar file
/// at start-up cost the main thread 28 ms (`perf` over a DBN replay), and closing the
/// truncated file at the end another 30–70 ms, both on a 0.4 s run's critical path.
fn file(path: &Path, flag: &str, inputs: &[std::path::PathBuf]) -> anyhow::Result<Target> {
    let name = format!("{flag} {}", path.display());
    if path == Path::new(crate::plan::STDOUT) {
        return Ok(Target::File { file: create(path, flag, inputs)?, name, stale: false });
    }
    check_not_input(path, flag, inputs)?;
    let o = ticklane_tools::replace::open(path).map_err(|e| BadInput(format!("{name}: {e}")))?;
    if let Some(old) = o.replaced {
        // Closing the last handle of the replaced file frees its pages and blocks; a run that
        // ends sooner leaves that to the process's exit.
        let _ = std::thread::Builder::new().name("ticklane-free".into()).spawn(move || drop(old));
    }
    Ok(Target::File { file: o.file, name, stale: o.stale })
}

/// An error when `path` is one of the inputs (writing it would overwrite what is read).
fn check_not_input(path: &Path, flag: &str, inputs: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let same = |i: &std::path::PathBuf| i.canonicalize().ok().is_some_and(|c| path.canonicalize().ok() == Some(c));
    if inputs.iter().any(same) {
        return Err(BadInput(format!("{flag} {}: is also an input; it would be overwritten", path.display())).into());
    }
    Ok(())
}

/// Creates (truncating) file `path`, or (`-`) a handle on standard output.
fn create(path: &Path, flag: &str, inputs: &[std::path::PathBuf]) -> anyhow::Result<File> {
    if path == Path::new(crate::plan::STDOUT) {
        use std::os::fd::AsFd;
        let fd = std::io::stdout().as_fd().try_clone_to_owned();
        return fd.map(File::from).map_err(|e| BadInput(format!("{flag} -: standard output: {e}")).into());
    }
    check_not_input(path, flag, inputs)?;
    File::create(path).map_err(|e| BadInput(format!("{flag} {}: {e}", path.display())).into())
}

/// The writers of one kind and width of bars, each with its output's name.
type Each = Vec<(String, JoinHandle<Written>)>;

/// The running writer threads; each reports what its output holds.
pub(super) struct Writers {
    fine: String,
    /// The finest width's bars: a writer per output.
    bars: Each,
    late: Option<JoinHandle<Written>>,
    quote_late: Option<JoinHandle<Written>>,
    quote_bars: Each,
    coarser: Vec<(String, Each)>,
    quote_coarser: Vec<(String, Each)>,
    ticks: Option<JoinHandle<Written>>,
}

impl Writers {
    /// Takes the egresses for `files` and starts a writer on each (the first bar writer pinned
    /// to `core`, if any, and counted in the tally); with `eager`, everything released is
    /// written at once (a watcher sees each bar as the watermark releases it) rather than in
    /// blocks.
    pub(super) fn spawn(
        engine: &mut Engine,
        files: &mut Files,
        core: Option<CoreId>,
        eager: bool,
        tally: &Tally,
    ) -> anyhow::Result<Writers> {
        let lead = Lead { count: tally.bars.clone(), core };
        let bars = width_writers(engine, std::mem::take(&mut files.bars), OUT, lead, eager, bar_line)?;
        let mut coarser = Vec::new();
        for (text, places) in std::mem::take(&mut files.coarser) {
            let egress = coarser_names(&text).1;
            coarser.push((text, width_writers(engine, places, &egress, Lead::default(), eager, bar_line)?));
        }
        let late = match files.late.take() {
            Some(place) => {
                let egress = engine.egress::<Trade>(LATE)?;
                let sink = lines(place, Some(TRADES_HEADER), Arc::default());
                Some(spawn_writer("ticklane-late", egress, sink, eager, None, trade_line)?)
            }
            None => None,
        };
        let quote_late = match files.quote_late.take() {
            Some(place) => {
                let egress = engine.egress::<Quote>(QUOTE_LATE)?;
                let sink = lines(place, Some(QUOTES_HEADER), Arc::default());
                Some(spawn_writer("ticklane-late-q", egress, sink, eager, None, quote_line)?)
            }
            None => None,
        };
        let mut quote_coarser = Vec::new();
        for (text, places) in std::mem::take(&mut files.quote_coarser) {
            let egress = quote_coarser_names(&text).1;
            let each = width_writers(engine, places, &egress, Lead::default(), eager, quote_bar_line)?;
            quote_coarser.push((text, each));
        }
        let places = std::mem::take(&mut files.quote_bars);
        let quote_bars = width_writers(engine, places, QUOTE_OUT, Lead::default(), eager, quote_bar_line)?;
        let ticks = match files.ticks.take() {
            Some((sink, format)) => {
                let encode: fn(WireFormat, &str, &Trade, &mut Vec<u8>) = |format, name, t, msg| {
                    msg.clear();
                    ticklane_tools::wire::encode_trade(t, name, format, msg)
                };
                Some(spawn_bus(engine.egress::<Trade>(TICKS)?, sink, format, Arc::default(), encode)?)
            }
            None => None,
        };
        let fine = files.fine.clone();
        Ok(Writers { fine, bars, late, quote_late, quote_bars, coarser, quote_coarser, ticks })
    }

    /// Waits for every writer: what each output holds (`None` for a writer not started; the
    /// outputs of one width as one account, [`Written::merged`], and each on its own).
    pub(super) fn join(self) -> Joined {
        let mut outputs: Vec<Account> = Vec::new();
        let mut all = |each: Each, kind: &'static str, width: &str| {
            let from = outputs.len();
            for (out, h) in each {
                outputs.push(Account { out, kind, width: width.to_string(), written: joined(h) });
            }
            Written::merged(&outputs[from..].iter().map(|a| &a.written).collect::<Vec<_>>())
        };
        let bars = all(self.bars, "trades", &self.fine);
        let quote_bars = all(self.quote_bars, "quotes", &self.fine);
        let mut widths = |each: Vec<(String, Each)>, kind| -> Vec<(String, Written)> {
            each.into_iter().filter_map(|(t, hs)| Some((t.clone(), all(hs, kind, &t)?))).collect()
        };
        let (coarser, quote_coarser) = (widths(self.coarser, "trades"), widths(self.quote_coarser, "quotes"));
        Joined {
            bars,
            late: self.late.map(joined),
            quote_late: self.quote_late.map(joined),
            quote_bars,
            coarser,
            quote_coarser,
            ticks: self.ticks.map(joined),
            outputs,
        }
    }
}

/// What a writer thread reports (a panic as an error).
fn joined(h: JoinHandle<Written>) -> Written {
    h.join().unwrap_or_else(|_| Written { error: Some("the writer thread panicked".into()), ..Written::default() })
}

/// What one bar output holds at the end (the summary's `outputs`).
pub(crate) struct Account {
    /// The output as given (path, template or URL; `-`: stdout).
    pub(crate) out: String,
    /// `trades` or `quotes`: which bars.
    pub(crate) kind: &'static str,
    /// The width as given.
    pub(crate) width: String,
    pub(crate) written: Written,
}

/// What each output holds at the end.
pub(super) struct Joined {
    pub(super) bars: Option<Written>,
    pub(super) late: Option<Written>,
    pub(super) quote_late: Option<Written>,
    pub(super) quote_bars: Option<Written>,
    pub(super) coarser: Vec<(String, Written)>,
    pub(super) quote_coarser: Vec<(String, Written)>,
    pub(super) ticks: Option<Written>,
    /// Every bar output on its own.
    pub(super) outputs: Vec<Account>,
}

/// What the first output of a width gets: the count the progress reads, and the core its
/// writer is pinned to.
#[derive(Default)]
struct Lead {
    count: Arc<AtomicU64>,
    core: Option<CoreId>,
}

/// A writer per output of one width, the `j`th reading egress [`fanned`]`(egress, j)`.
fn width_writers<B: Record + BusId + Rows + BarKind>(
    engine: &mut Engine,
    places: Places,
    egress: &str,
    lead: Lead,
    eager: bool,
    line: fn(OutFormat, &str, &B, &mut Vec<u8>),
) -> anyhow::Result<Each> {
    let mut each = Vec::new();
    for (j, (name, place, format)) in places.into_iter().enumerate() {
        let from = engine.egress::<B>(&fanned(egress, j))?;
        let (count, core) = if j == 0 { (lead.count.clone(), lead.core) } else { (Arc::default(), None) };
        each.push((name, bar_writer(from, place, format, count, eager, core, line)?));
    }
    Ok(each)
}

/// Per kind of bar: the header line of its CSV output and its bus message.
trait BarKind: Sized {
    const CSV: &'static str;
    const MESSAGE: fn(WireFormat, &str, &Self, &mut Vec<u8>);
}

impl BarKind for Bar {
    const CSV: &'static str = BARS_HEADER;
    const MESSAGE: fn(WireFormat, &str, &Self, &mut Vec<u8>) = bar_message;
}

impl BarKind for QuoteBar {
    const CSV: &'static str = QUOTE_BARS_HEADER;
    const MESSAGE: fn(WireFormat, &str, &Self, &mut Vec<u8>) = quote_bar_message;
}

/// A writer of the bars of `egress` into `place`: a bus, Parquet, or lines as `line` makes
/// them in `format`.
fn bar_writer<B: Record + BusId + Rows + BarKind>(
    egress: Egress<B>,
    place: Place,
    format: OutFormat,
    count: Arc<AtomicU64>,
    eager: bool,
    core: Option<CoreId>,
    line: fn(OutFormat, &str, &B, &mut Vec<u8>),
) -> anyhow::Result<JoinHandle<Written>> {
    Ok(match (place, format) {
        (Place::Target(Target::Bus(sink)), format) => spawn_bus(egress, *sink, wire(format), count, B::MESSAGE)?,
        (place, OutFormat::Parquet) => spawn_parquet(egress, parquet(place, count)?, core)?,
        (place, format) => {
            let sink = lines(place, (format == OutFormat::Csv).then_some(B::CSV), count);
            spawn_writer("ticklane-bars", egress, sink, eager, core, move |name, b, out| line(format, name, b, out))?
        }
    })
}

/// Line output into `place`, each file starting with `header`.
fn lines(place: Place, header: Option<&'static str>, count: Arc<AtomicU64>) -> Segments<LineSink> {
    match place {
        Place::Target(t) => Segments::single(LineSink::new(t, header, count)),
        Place::Rotated(r) => Segments::rotating(
            r,
            Box::new(move |file, name| {
                Ok(LineSink::new(Target::File { file, name, stale: false }, header, count.clone()))
            }),
        ),
    }
}

/// Parquet output into `place` (a file, or files cut by time).
fn parquet<R: Rows>(place: Place, count: Arc<AtomicU64>) -> anyhow::Result<Segments<ParquetSink<R>>> {
    let open = move |file, name: String| {
        ParquetSink::create(file, name.clone(), count.clone()).map_err(|e| format!("{name}: {e}"))
    };
    Ok(match place {
        Place::Target(Target::File { file, name, stale }) => {
            // Written from its start by the Parquet writer: cut now, not by a line sink.
            if stale {
                file.set_len(0).map_err(|e| BadInput(format!("{name}: {e}")))?;
            }
            Segments::single(open(file, name).map_err(anyhow::Error::msg)?)
        }
        Place::Target(_) => anyhow::bail!("--format parquet writes a file"),
        Place::Rotated(r) => Segments::rotating(r, Box::new(open)),
    })
}

/// A thread writing every record of `egress` to `out` as `format` makes it.
fn spawn_writer<T: Record + BusId>(
    name: &str,
    mut egress: Egress<T>,
    mut out: Segments<LineSink>,
    eager: bool,
    core: Option<CoreId>,
    format: impl Fn(&str, &T, &mut Vec<u8>) + Send + 'static,
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        if let Some(c) = core {
            core_affinity::set_for_current(c);
        }
        while let Some(r) = next(&mut egress, &mut out, eager) {
            if let Some(sink) = out.at(r.rec.window().0) {
                let name = egress.name(r.rec.instrument()).unwrap_or_default();
                sink.line_with(|block| format(name, &r.rec, block));
            }
        }
        out.finish()
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

/// A record's window (start, end, revision; a trade's is its event time) — the time a rotated
/// output cuts by — and what identifies it on the bus: for a bar of either kind
/// `instrument/window_start/window_end/revision` (unique across widths and revisions).
trait BusId {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32);

    fn bus_id(&self, name: &str) -> Option<String> {
        let (start, end, revision) = self.window();
        Some(format!("{name}/{start}/{end}/{revision}"))
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

impl BusId for Trade {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32) {
        (self.ts_event, self.ts_event, 0)
    }

    /// `instrument/ts_event/trade_id`; none without a trade id (two equal trades in one
    /// nanosecond are two trades).
    fn bus_id(&self, name: &str) -> Option<String> {
        self.trade_id.is_some().then(|| format!("{name}/{}/{}", self.ts_event, self.trade_id))
    }
}

impl BusId for Quote {
    fn window(&self) -> (ticklane::Timestamp, ticklane::Timestamp, u32) {
        (self.ts_event, self.ts_event, 0)
    }

    /// None: a quote has no id of its own (late quotes go to files only).
    fn bus_id(&self, _name: &str) -> Option<String> {
        None
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
        loop {
            // What is ready first, without reading the clock (a forwarder calls this per tick).
            let Some(r) = egress.try_recv().or_else(|| egress.recv_timeout(crate::output::BUS_IDLE)) else {
                if egress.is_finished() {
                    break;
                }
                sink.idle();
                continue;
            };
            let name = egress.name(r.rec.instrument()).unwrap_or_default();
            encode(format, name, &r.rec, &mut msg);
            sink.send(name, r.rec.bus_id(name).as_deref(), &msg);
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        sink.finish()
    })
}

/// A thread writing every record of `egress` into a Parquet file.
fn spawn_parquet<R: Record + Rows + BusId>(
    mut egress: Egress<R>,
    mut out: Segments<ParquetSink<R>>,
    core: Option<CoreId>,
) -> std::io::Result<JoinHandle<Written>> {
    std::thread::Builder::new().name("ticklane-parquet".into()).spawn(move || {
        if let Some(c) = core {
            core_affinity::set_for_current(c);
        }
        while let Some(r) = egress.recv() {
            if let Some(sink) = out.at(r.rec.window().0) {
                sink.push(egress.name(r.rec.instrument()).unwrap_or_default(), &r.rec);
            }
        }
        out.finish()
    })
}

/// The next record; with `eager`, what is gathered is written before waiting for it.
#[inline]
fn next<T: Record>(egress: &mut Egress<T>, out: &mut Segments<LineSink>, eager: bool) -> Option<Stamped<T>> {
    if eager {
        if let Some(r) = egress.try_recv() {
            return Some(r);
        }
        if let Some(sink) = out.current() {
            sink.commit();
        }
    }
    egress.recv()
}
