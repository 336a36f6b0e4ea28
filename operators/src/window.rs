//! Event-time tumbling window assignment and the late-data policy (design.md §2, §3).

use std::time::Duration;
use ticklane_engine::{ConfigCheck, ConfigError, ConfigViolation, Timestamp};

/// Tumbling windows of a fixed width, aligned to the epoch plus `offset`: half-open
/// `[start, start + width)`. A trade exactly on a boundary belongs to the window that starts
/// there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tumbling {
    width: i64,
    offset: i64,
}

impl Tumbling {
    /// Windows of `width` aligned to the epoch plus `offset` (`0 <= offset < width`; zero
    /// width is an error).
    pub fn new(width: Duration, offset: Duration) -> Result<Tumbling, ConfigError> {
        let mut c = ConfigCheck::new();
        let w = Tumbling::check(&mut c, width, offset);
        c.finish(w)
    }

    /// As [`Tumbling::new`], recording violations in `c` (for a config builder).
    pub(crate) fn check(c: &mut ConfigCheck, width: Duration, offset: Duration) -> Tumbling {
        let width_ns = c.positive_nanos("window width", width);
        let offset_ns = c.nanos("window offset", offset);
        // Only between two valid values (an invalid one is reported once, above).
        let fits = |d: Duration| i64::try_from(d.as_nanos()).is_ok();
        let valid = !width.is_zero() && fits(width) && fits(offset);
        c.require(!valid || offset_ns < width_ns, || ConfigViolation::OutOfOrder {
            low_param: "window offset",
            low: format!("{offset:?}"),
            high_param: "window width",
            high: format!("{width:?}"),
            strict: true,
        });
        Tumbling { width: width_ns, offset: offset_ns }
    }

    /// Width in ns.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// Start of the window holding `t`: `floor((t − offset) / width) · width + offset`.
    /// Saturates at the ends of the time range instead of overflowing.
    #[inline]
    pub fn start(&self, t: Timestamp) -> Timestamp {
        let k = (t.saturating_sub(self.offset)).div_euclid(self.width);
        k.saturating_mul(self.width).saturating_add(self.offset)
    }

    /// Exclusive end of the window starting at `start`.
    #[inline]
    pub fn end(&self, start: Timestamp) -> Timestamp {
        start.saturating_add(self.width)
    }

    /// The event times, inclusive, whose windows are representable: the window's start is at
    /// least `i64::MIN` and its end below `i64::MAX` (which the engine reserves for +∞, the
    /// end of input). Outside it a window would saturate, and its bar could never be
    /// released in order.
    pub fn valid_range(&self) -> (Timestamp, Timestamp) {
        let (w, o) = (i128::from(self.width), i128::from(self.offset));
        let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
        let first_start = min + (o - min).rem_euclid(w);
        let last_start = (max - 1 - w - o).div_euclid(w) * w + o;
        let clamp = |v: i128| v.clamp(min, max) as Timestamp;
        (clamp(first_start), clamp(last_start + w - 1))
    }
}

/// What happens to beyond-horizon late trades under [`LatePolicy::Revise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Beyond {
    /// Drop them (counted).
    #[default]
    Drop,
    /// Send them to the side output.
    Side,
}

/// What happens to a trade whose window already fired (`window_end ≤ watermark`). Late trades
/// are always counted (`ticklane_late_events_total`), never silently lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LatePolicy {
    /// Drop it (the default).
    #[default]
    Drop,
    /// Send it to the operator's side output (output port 1, trades).
    Side,
    /// Keep each window's state until `watermark ≥ end + allowed_lateness`; a late trade in
    /// that horizon updates the bar and re-emits it with `revision + 1`. Beyond it: `beyond`.
    Revise {
        /// The horizon, in ns (`allowed_lateness`).
        allowed_lateness: i64,
        /// Policy past the horizon.
        beyond: Beyond,
    },
}

impl LatePolicy {
    /// `Revise` with a checked `allowed_lateness`.
    pub fn revise(allowed_lateness: Duration, beyond: Beyond) -> Result<LatePolicy, ConfigError> {
        let mut c = ConfigCheck::new();
        let allowed_lateness = c.nanos("allowed lateness", allowed_lateness);
        c.finish(LatePolicy::Revise { allowed_lateness, beyond })
    }

    /// Whether this policy has a side output (output port 1).
    pub fn has_side_output(&self) -> bool {
        matches!(self, LatePolicy::Side | LatePolicy::Revise { beyond: Beyond::Side, .. })
    }

    /// How long after its window ends a window may still change: `allowed_lateness` under
    /// `Revise`, else 0.
    pub fn horizon(&self) -> i64 {
        match self {
            LatePolicy::Revise { allowed_lateness, .. } => *allowed_lateness,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn boundaries_belong_to_the_window_that_starts_there() {
        let w = Tumbling::new(secs(1), Duration::ZERO).expect("valid");
        assert_eq!(w.start(0), 0);
        assert_eq!(w.start(999_999_999), 0);
        assert_eq!(w.start(1_000_000_000), 1_000_000_000);
        assert_eq!(w.start(-1), -1_000_000_000);
        let o = Tumbling::new(secs(1), Duration::from_millis(250)).expect("valid");
        assert_eq!(o.start(250_000_000), 250_000_000);
        assert_eq!(o.start(249_999_999), -750_000_000);
        assert_eq!(w.end(w.start(i64::MAX)), i64::MAX);
        assert!(w.start(i64::MIN) <= i64::MIN + 1_000_000_000);
    }

    #[test]
    fn the_valid_range_is_exactly_where_windows_fit() {
        for (w, o) in [(1_000_000_000, 0), (7, 3), (60_000_000_000, 250_000_000), (1, 0)] {
            let t = Tumbling { width: w, offset: o };
            let (lo, hi) = t.valid_range();
            let (w1, o1) = (i128::from(w), i128::from(o));
            let exact_start = |x: i128| (x - o1).div_euclid(w1) * w1 + o1;
            let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
            let (l, h) = (i128::from(lo), i128::from(hi));
            assert!(exact_start(l) >= min, "{w} {o}");
            assert!(l == min || exact_start(l - 1) < min, "{w} {o}: lo is the first");
            assert!(exact_start(h) + w1 < max, "{w} {o}");
            assert!(exact_start(h + 1) + w1 >= max, "{w} {o}: hi is the last");
            assert_eq!(i128::from(t.start(lo)), exact_start(l), "no saturation at the low end");
            assert_eq!(i128::from(t.end(t.start(hi))), exact_start(h) + w1, "nor at the high end");
        }
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        let violations = |r: Result<Tumbling, ConfigError>| r.expect_err("invalid").violations;
        assert_eq!(
            violations(Tumbling::new(Duration::ZERO, Duration::ZERO)),
            [ConfigViolation::Zero { param: "window width" }]
        );
        assert!(matches!(violations(Tumbling::new(secs(1), secs(1)))[..], [ConfigViolation::OutOfOrder { .. }]));
        assert!(matches!(
            violations(Tumbling::new(Duration::MAX, Duration::MAX))[..],
            [
                ConfigViolation::TooLarge { param: "window width", .. },
                ConfigViolation::TooLarge { param: "window offset", .. }
            ]
        ));
    }
}
