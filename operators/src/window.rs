//! Event-time tumbling window assignment and the late-data policy (design.md §2, §3).

use std::time::Duration;
use ticklane_engine::Timestamp;

/// Why an operator configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A width, interval or count that must be positive was zero.
    #[error("{what} must be greater than zero")]
    Zero {
        /// The offending parameter.
        what: &'static str,
    },
    /// A duration beyond `i64` nanoseconds.
    #[error("{what} is too large ({value:?}; limit ~292 years)")]
    TooLarge {
        /// The offending parameter.
        what: &'static str,
        /// Its value.
        value: Duration,
    },
    /// A combination that is not supported.
    #[error("not supported: {what}")]
    Unsupported {
        /// The combination.
        what: &'static str,
    },
    /// More of something than supported.
    #[error("{what}: {count} given, at most {max} supported")]
    TooMany {
        /// The parameter.
        what: &'static str,
        /// Requested.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// The offset must be smaller than the width.
    #[error("window offset {offset_ns} ns must be in 0..{width_ns} (the width)")]
    OffsetOutOfRange {
        /// Offset in ns.
        offset_ns: i64,
        /// Width in ns.
        width_ns: i64,
    },
}

pub(crate) fn nanos(what: &'static str, d: Duration) -> Result<i64, ConfigError> {
    i64::try_from(d.as_nanos()).map_err(|_| ConfigError::TooLarge { what, value: d })
}

pub(crate) fn positive_nanos(what: &'static str, d: Duration) -> Result<i64, ConfigError> {
    match nanos(what, d)? {
        0 => Err(ConfigError::Zero { what }),
        n => Ok(n),
    }
}

/// Tumbling windows of a fixed width, aligned to the epoch plus `offset`: half-open
/// `[start, start + width)`. A trade exactly on a boundary belongs to the window that starts
/// there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tumbling {
    width: i64,
    offset: i64,
}

impl Tumbling {
    /// Windows of `width` aligned to the epoch. Zero width is an error.
    pub fn new(width: Duration) -> Result<Tumbling, ConfigError> {
        Ok(Tumbling { width: positive_nanos("window width", width)?, offset: 0 })
    }

    /// Shifts the alignment by `offset` (`0 <= offset < width`).
    pub fn with_offset(self, offset: Duration) -> Result<Tumbling, ConfigError> {
        let offset_ns = nanos("window offset", offset)?;
        if offset_ns >= self.width {
            return Err(ConfigError::OffsetOutOfRange { offset_ns, width_ns: self.width });
        }
        Ok(Tumbling { offset: offset_ns, ..self })
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
        Ok(LatePolicy::Revise { allowed_lateness: nanos("allowed lateness", allowed_lateness)?, beyond })
    }

    /// Whether this policy has a side output (output port 1).
    pub fn has_side_output(&self) -> bool {
        matches!(self, LatePolicy::Side | LatePolicy::Revise { beyond: Beyond::Side, .. })
    }

    pub(crate) fn horizon(&self) -> i64 {
        match self {
            LatePolicy::Revise { allowed_lateness, .. } => *allowed_lateness,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_belong_to_the_window_that_starts_there() {
        let w = Tumbling::new(Duration::from_secs(1)).expect("valid");
        assert_eq!(w.start(0), 0);
        assert_eq!(w.start(999_999_999), 0);
        assert_eq!(w.start(1_000_000_000), 1_000_000_000);
        assert_eq!(w.start(-1), -1_000_000_000);
        let o = w.with_offset(Duration::from_millis(250)).expect("valid");
        assert_eq!(o.start(250_000_000), 250_000_000);
        assert_eq!(o.start(249_999_999), -750_000_000);
        assert_eq!(w.end(w.start(i64::MAX)), i64::MAX);
        assert!(w.start(i64::MIN) <= i64::MIN + 1_000_000_000);
    }

    #[test]
    fn invalid_configs_are_typed_errors() {
        assert_eq!(Tumbling::new(Duration::ZERO), Err(ConfigError::Zero { what: "window width" }));
        let w = Tumbling::new(Duration::from_secs(1)).expect("valid");
        assert!(matches!(w.with_offset(Duration::from_secs(1)), Err(ConfigError::OffsetOutOfRange { .. })));
        assert!(matches!(Tumbling::new(Duration::MAX), Err(ConfigError::TooLarge { .. })));
    }
}
