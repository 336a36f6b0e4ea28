//! The output files and the threads that write them: bars from the `out` egress, late trades
//! from the `late` egress. Writers run on their own threads, so a full egress blocks its
//! shard, never the reader.

use crate::outcome::BadInput;
use crate::output::{trade_csv, BarWriter, OutFormat, TRADES_HEADER};
use crate::plan::{OutputPlan, Target, LATE, OUT};
use core_affinity::CoreId;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::thread::JoinHandle;
use ticklane::{Bar, Engine, Trade};

/// The output files, created before anything starts (a bad path is bad usage).
pub(super) struct Files {
    bars: Option<(Box<dyn Write + Send>, OutFormat)>,
    late: Option<BufWriter<File>>,
}

impl Files {
    pub(super) fn create(o: &OutputPlan) -> anyhow::Result<Files> {
        let bars = match &o.bars {
            None => None,
            Some((Target::File(p), format)) => Some((Box::new(BufWriter::new(create(p, "--out")?)) as Box<_>, *format)),
            Some((Target::Stdout, format)) => {
                Some((Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())) as Box<_>, *format))
            }
        };
        let late = o.late.as_deref().map(|p| create(p, "--late-out").map(BufWriter::new)).transpose()?;
        Ok(Files { bars, late })
    }
}

fn create(path: &Path, flag: &str) -> anyhow::Result<File> {
    File::create(path).map_err(|e| BadInput(format!("{flag} {}: {e}", path.display())).into())
}

/// The running writer threads; each returns how many records it wrote.
pub(super) struct Writers {
    bars: Option<JoinHandle<anyhow::Result<u64>>>,
    late: Option<JoinHandle<anyhow::Result<u64>>>,
}

impl Writers {
    /// Takes the egresses for `files` and starts a writer on each (the bar writer pinned to
    /// `core`, if any).
    pub(super) fn spawn(engine: &mut Engine, files: Files, core: Option<CoreId>) -> anyhow::Result<Writers> {
        let bars = match files.bars {
            Some((out, format)) => {
                let mut egress = engine.egress::<Bar>(OUT)?;
                Some(std::thread::spawn(move || -> anyhow::Result<u64> {
                    if let Some(c) = core {
                        core_affinity::set_for_current(c);
                    }
                    let mut w = BarWriter::new(out, format)?;
                    while let Some(b) = egress.recv() {
                        w.bar(egress.name(b.rec.instrument).unwrap_or_default(), &b.rec)?;
                    }
                    let n = w.written;
                    w.finish()?;
                    Ok(n)
                }))
            }
            None => None,
        };
        let late = match files.late {
            Some(mut f) => {
                let mut late = engine.egress::<Trade>(LATE)?;
                Some(std::thread::spawn(move || -> anyhow::Result<u64> {
                    writeln!(f, "{TRADES_HEADER}")?;
                    let mut n = 0;
                    while let Some(t) = late.recv() {
                        trade_csv(&mut f, late.name(t.rec.instrument).unwrap_or_default(), &t.rec)?;
                        n += 1;
                    }
                    f.flush()?;
                    Ok(n)
                }))
            }
            None => None,
        };
        Ok(Writers { bars, late })
    }

    /// Waits for both writers: (bars written, late trades written), `None` for a writer not
    /// started.
    pub(super) fn join(self) -> anyhow::Result<(Option<u64>, Option<u64>)> {
        let join = |h: JoinHandle<anyhow::Result<u64>>, what: &str| {
            h.join().map_err(|_| anyhow::anyhow!("{what} writer panicked"))?
        };
        let bars = self.bars.map(|h| join(h, "bar")).transpose()?;
        let late = self.late.map(|h| join(h, "late")).transpose()?;
        Ok((bars, late))
    }
}
