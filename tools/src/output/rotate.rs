//! Output files cut by event time (`--rotate DURATION`, a file sink's `rotate` key).
//!
//! Periods are the multiples of DURATION since the Unix epoch, in event time: a rerun of the
//! same input cuts the same files, whatever the wall clock did. The file open is the one of
//! the newest window start written so far; a bar starting in a later period closes it (header
//! and, for Parquet, footer written) and opens the next. A revision of an earlier window goes
//! into the file open when it is emitted, so the files in period order hold exactly the lines
//! one file would, in the same order: nothing is reopened, and a closed file is final.
//!
//! `{period}` in the path is the period's start in UTC as `YYYYMMDDTHHMMSSZ` (sortable, safe in
//! file names). A file that cannot be created is reported like a failed write: its bars are
//! counted as lost and the run goes on to the next period.

use super::sink::Written;
use std::fs::File;
use std::path::PathBuf;

/// The placeholder a rotated output's path must hold.
pub(crate) const PERIOD: &str = "{period}";

/// Where and how often to cut.
#[derive(Clone, Debug)]
pub(crate) struct Rotation {
    /// The path, with [`PERIOD`] in it.
    template: String,
    /// The period's length in ns (> 0).
    every: i64,
    /// The flag or key that set it, for messages (`--out`).
    flag: String,
}

impl Rotation {
    /// A rotation of `template` every `every`; the template must hold `{period}`, and every
    /// must be a whole, positive number of nanoseconds that fits.
    pub(crate) fn new(template: &str, every: std::time::Duration, flag: &str) -> Result<Rotation, String> {
        if !template.contains(PERIOD) {
            return Err(format!("--rotate: {flag} {template} must contain {PERIOD} (where each file's start goes)"));
        }
        let every = i64::try_from(every.as_nanos()).ok().filter(|&n| n > 0);
        let every = every.ok_or_else(|| "--rotate: expected a positive duration up to about 292 years".to_string())?;
        Ok(Rotation { template: template.to_string(), every, flag: flag.to_string() })
    }

    /// The start of the period holding `ts` (ns since the epoch).
    fn period(&self, ts: i64) -> i64 {
        ts.div_euclid(self.every) * self.every
    }

    /// The path as given, with [`PERIOD`] in it.
    pub(crate) fn template(&self) -> &str {
        &self.template
    }

    /// The file of the period starting at `start`.
    pub(crate) fn path(&self, start: i64) -> PathBuf {
        self.template.replace(PERIOD, &stamp(start)).into()
    }

    /// The directory the files go to, as given (`.` for a bare name).
    pub(crate) fn dir(&self) -> PathBuf {
        let p = PathBuf::from(&self.template);
        match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }
}

/// `20240808T130000Z`: `ns` (whole seconds of it) in UTC. Civil date from days after
/// H. Hinnant's well-known algorithm (proleptic Gregorian).
pub(crate) fn stamp(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// A sink that can be one file of a rotated output.
pub(crate) trait Segment: Sized {
    /// Writes the rest (and any footer); what the file holds.
    fn finish(self) -> Written;
}

/// Creates one file's sink (`name` says which file, in messages).
pub(crate) type Open<S> = Box<dyn FnMut(File, String) -> Result<S, String> + Send>;

/// An output: one sink for the whole run, or a file per period.
pub(crate) struct Segments<S: Segment> {
    sink: Option<S>,
    rotation: Option<Cutter<S>>,
    /// Bars whose file could not be created.
    lost: u64,
    /// What finished files reported (lines are shared: the last count is the total).
    done: Written,
}

/// The rotating part of [`Segments`].
struct Cutter<S> {
    rotation: Rotation,
    open: Open<S>,
    /// The period of the file open, once a bar came.
    current: Option<i64>,
}

impl<S: Segment> Segments<S> {
    /// The whole run into `sink`.
    pub(crate) fn single(sink: S) -> Segments<S> {
        Segments { sink: Some(sink), rotation: None, lost: 0, done: Written::default() }
    }

    /// A file per period of `rotation`, each made by `open`.
    pub(crate) fn rotating(rotation: Rotation, open: Open<S>) -> Segments<S> {
        let rotation = Some(Cutter { rotation, open, current: None });
        Segments { sink: None, rotation, lost: 0, done: Written::default() }
    }

    /// The sink for a record whose window starts at `ts`, the next file opened first if `ts`
    /// is in a later period; `None` (the record counted as lost) if that file could not be
    /// created.
    #[inline]
    pub(crate) fn at(&mut self, ts: i64) -> Option<&mut S> {
        if let Some(c) = &self.rotation {
            let p = c.rotation.period(ts);
            if c.current.is_none_or(|cur| p > cur) {
                self.cut(p);
            }
        }
        if self.sink.is_none() {
            self.lost += 1;
        }
        self.sink.as_mut()
    }

    /// The sink open now, if any (to commit what it gathered).
    pub(crate) fn current(&mut self) -> Option<&mut S> {
        self.sink.as_mut()
    }

    /// Closes the file open and opens the one of the period starting at `p` (once per period).
    #[cold]
    fn cut(&mut self, p: i64) {
        self.close();
        let Some(c) = self.rotation.as_mut() else { return };
        c.current = Some(p);
        let path = c.rotation.path(p);
        let name = format!("{} {}", c.rotation.flag, path.display());
        let made = File::create(&path).map_err(|e| format!("{name}: {e}")).and_then(|f| (c.open)(f, name));
        match made {
            Ok(s) => self.sink = Some(s),
            Err(e) => {
                log::error!("{e}: this period's bars are lost");
                self.done.error.get_or_insert(e);
            }
        }
    }

    fn close(&mut self) {
        if let Some(s) = self.sink.take() {
            let w = s.finish();
            self.done.lines = w.lines;
            self.done.lost += w.lost;
            if let Some(e) = w.error {
                self.done.error.get_or_insert(e);
            }
        }
    }

    /// Closes the file open; what the output holds over all its files.
    pub(crate) fn finish(mut self) -> Written {
        self.close();
        Written { lines: self.done.lines, lost: self.done.lost + self.lost, error: self.done.error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_civil_times() {
        assert_eq!(stamp(0), "19700101T000000Z");
        assert_eq!(stamp(-1), "19691231T235959Z");
        for text in ["2024-02-29T23:59:59Z", "2000-03-01T00:00:00Z", "2024-08-08T13:00:00Z", "1900-01-01T12:34:56Z"] {
            let ns = ticklane_tools::input::parse_rfc3339(text.as_bytes()).expect("time");
            assert_eq!(stamp(ns), text.replace(['-', ':'], ""), "{text}");
            assert_eq!(stamp(ns + 999_999_999), text.replace(['-', ':'], ""), "fractions are cut, not rounded");
        }
    }

    #[test]
    fn periods_are_epoch_multiples_and_paths_carry_their_start() {
        let r = Rotation::new("out/bars_{period}.csv", Duration::from_secs(3600), "--out").expect("rotation");
        let t = 1_723_122_000_000_000_000; // 2024-08-08T13:00:00Z
        assert_eq!(r.period(t + 3_599_999_999_999), t);
        assert_eq!(r.period(t - 1), t - 3_600_000_000_000);
        assert_eq!(r.path(t), PathBuf::from("out/bars_20240808T130000Z.csv"));
        assert_eq!(r.dir(), PathBuf::from("out"));
        let bare = Rotation::new("{period}.csv", Duration::from_secs(60), "--out").expect("rotation");
        assert_eq!(bare.dir(), PathBuf::from("."));
    }

    #[test]
    fn a_template_without_the_placeholder_or_a_zero_period_is_refused() {
        let e = Rotation::new("bars.csv", Duration::from_secs(60), "--out").expect_err("no placeholder");
        assert!(e.contains("--out bars.csv must contain {period}"), "{e}");
        assert!(Rotation::new("{period}", Duration::ZERO, "--out").is_err());
    }

    /// Records its lines; a file per period.
    struct Lines(File, Vec<String>, std::sync::Arc<std::sync::atomic::AtomicU64>);

    impl Segment for Lines {
        fn finish(self) -> Written {
            use std::io::Write;
            let mut f = self.0;
            f.write_all(self.1.concat().as_bytes()).expect("write");
            let n = self.2.fetch_add(self.1.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Written { lines: n + self.1.len() as u64, lost: 0, error: None }
        }
    }

    #[test]
    fn each_period_gets_a_file_and_a_late_revision_goes_to_the_open_one() {
        let dir = std::env::temp_dir().join(format!("ticklane-rotate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let template = dir.join("{period}.txt").display().to_string();
        let r = Rotation::new(&template, Duration::from_secs(60), "--out").expect("rotation");
        let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = count.clone();
        let mut out = Segments::rotating(r.clone(), Box::new(move |f, _| Ok(Lines(f, Vec::new(), c.clone()))));
        let min = 60_000_000_000i64;
        for (ts, line) in [(0, "a"), (min - 1, "b"), (min, "c"), (0, "a revised"), (3 * min, "d")] {
            out.at(ts).expect("open").1.push(format!("{line}\n"));
        }
        let w = out.finish();
        assert_eq!((w.lines, w.lost, w.error), (5, 0, None));
        let read = |p: i64| std::fs::read_to_string(r.path(p)).expect("file");
        assert_eq!(read(0), "a\nb\n");
        assert_eq!(read(min), "c\na revised\n", "the revision of an earlier window: in the file open");
        assert!(!r.path(2 * min).exists(), "no file for a period without bars");
        assert_eq!(read(3 * min), "d\n");
    }

    #[test]
    fn a_file_that_cannot_be_created_loses_its_periods_bars_and_says_so() {
        let r = Rotation::new("/nonexistent-dir/{period}.csv", Duration::from_secs(60), "--out").expect("rotation");
        let c = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut out = Segments::rotating(r, Box::new(move |f, _| Ok(Lines(f, Vec::new(), c.clone()))));
        assert!(out.at(0).is_none() && out.at(1).is_none());
        let w = out.finish();
        assert_eq!(w.lost, 2);
        assert!(w.error.is_some_and(|e| e.starts_with("--out /nonexistent-dir/19700101T000000Z.csv: ")));
    }
}
