//! One story for invalid configuration, shared by the engine's [`crate::Config`], every
//! operator's config and the store's: a builder collects *every* problem with a
//! [`ConfigCheck`], and its `build()` returns them all as one [`ConfigError`] — the same shape
//! as [`crate::BuildError`] for graphs.
//!
//! ```
//! use ticklane_engine::{Config, ConfigViolation};
//!
//! let err = Config::builder().shards(0).ring_capacity(0).build().expect_err("two zeros");
//! assert_eq!(err.violations, vec![
//!     ConfigViolation::Zero { param: "shards" },
//!     ConfigViolation::Zero { param: "ring_capacity" },
//! ]);
//! ```

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

/// One invalid parameter: which one, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigViolation {
    /// A count, width or interval that must be positive was zero.
    #[error("{param} must be greater than zero")]
    Zero {
        /// The parameter.
        param: &'static str,
    },
    /// A duration beyond `i64` nanoseconds.
    #[error("{param} {value:?} is too large (limit ~292 years)")]
    TooLarge {
        /// The parameter.
        param: &'static str,
        /// Its value.
        value: Duration,
    },
    /// More of something than supported.
    #[error("{param}: {count} requested, at most {max} supported")]
    TooMany {
        /// The parameter.
        param: &'static str,
        /// Requested.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// Two parameters out of order: `low` must be below `high` (`strict`) or not above it.
    #[error("{low_param} ({low}) must be {} {high_param} ({high})", if *.strict { "below" } else { "at most" })]
    OutOfOrder {
        /// The parameter that must be the smaller.
        low_param: &'static str,
        /// Its value, as given.
        low: String,
        /// The parameter that bounds it.
        high_param: &'static str,
        /// Its value, as given.
        high: String,
        /// Whether equality is also a violation.
        strict: bool,
    },
    /// A value that must be a whole multiple of another.
    #[error("{param} ({value}) must be a whole multiple of {of_param} ({of})")]
    NotMultiple {
        /// The parameter.
        param: &'static str,
        /// Its value, as given.
        value: String,
        /// The parameter it must be a multiple of.
        of_param: &'static str,
        /// That one's value.
        of: String,
    },
    /// A combination that is not supported.
    #[error("not supported: {what}")]
    Unsupported {
        /// The combination.
        what: &'static str,
    },
}

impl ConfigViolation {
    /// The parameter at fault (for [`ConfigViolation::OutOfOrder`], the one that must be the
    /// smaller); `None` for an unsupported combination.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            ConfigViolation::Zero { param }
            | ConfigViolation::TooLarge { param, .. }
            | ConfigViolation::TooMany { param, .. }
            | ConfigViolation::NotMultiple { param, .. } => Some(param),
            ConfigViolation::OutOfOrder { low_param, .. } => Some(low_param),
            ConfigViolation::Unsupported { .. } => None,
        }
    }
}

/// Every problem found in one configuration (never just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The violations, in the order the parameters are checked.
    pub violations: Vec<ConfigViolation>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.violations.as_slice() {
            [one] => write!(f, "invalid configuration: {one}"),
            many => {
                write!(f, "invalid configuration ({} problems):", many.len())?;
                many.iter().try_for_each(|v| write!(f, "\n  - {v}"))
            }
        }
    }
}

impl From<ConfigViolation> for ConfigError {
    fn from(v: ConfigViolation) -> Self {
        ConfigError { violations: vec![v] }
    }
}

/// Collects violations while a builder checks its parameters; [`ConfigCheck::finish`] turns
/// them into the built value or a [`ConfigError`] listing all of them.
#[derive(Debug, Default)]
pub struct ConfigCheck {
    violations: Vec<ConfigViolation>,
}

impl ConfigCheck {
    /// An empty check.
    pub fn new() -> ConfigCheck {
        ConfigCheck::default()
    }

    /// Records `v`.
    pub fn fail(&mut self, v: ConfigViolation) {
        self.violations.push(v);
    }

    /// Records `v` unless `ok`.
    pub fn require(&mut self, ok: bool, v: impl FnOnce() -> ConfigViolation) {
        if !ok {
            self.fail(v());
        }
    }

    /// `n` as non-zero; records [`ConfigViolation::Zero`] (and returns 1) when it is 0.
    pub fn nonzero(&mut self, param: &'static str, n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap_or_else(|| {
            self.fail(ConfigViolation::Zero { param });
            NonZeroUsize::MIN
        })
    }

    /// `d` in nanoseconds; records [`ConfigViolation::TooLarge`] (and returns 0) beyond `i64`.
    pub fn nanos(&mut self, param: &'static str, d: Duration) -> i64 {
        i64::try_from(d.as_nanos()).unwrap_or_else(|_| {
            self.fail(ConfigViolation::TooLarge { param, value: d });
            0
        })
    }

    /// `d` in nanoseconds, which must be positive; records the violation (and returns 1).
    pub fn positive_nanos(&mut self, param: &'static str, d: Duration) -> i64 {
        match self.nanos(param, d) {
            0 if d.is_zero() => {
                self.fail(ConfigViolation::Zero { param });
                1
            }
            0 => 1, // too large: already recorded
            n => n,
        }
    }

    /// `value` if nothing was recorded, else every violation.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.violations.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { violations: self.violations })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_reports_every_violation_in_order() {
        let mut c = ConfigCheck::new();
        assert_eq!(c.nonzero("a", 0).get(), 1);
        assert_eq!(c.positive_nanos("b", Duration::ZERO), 1);
        assert_eq!(c.positive_nanos("c", Duration::MAX), 1);
        assert_eq!(c.nanos("d", Duration::from_nanos(7)), 7);
        c.require(true, || ConfigViolation::Unsupported { what: "never" });
        let e = c.finish(()).expect_err("three violations");
        assert_eq!(
            e.violations,
            vec![
                ConfigViolation::Zero { param: "a" },
                ConfigViolation::Zero { param: "b" },
                ConfigViolation::TooLarge { param: "c", value: Duration::MAX },
            ]
        );
        assert!(e.to_string().starts_with("invalid configuration (3 problems):\n  - a must be greater than zero"));
    }

    #[test]
    fn one_violation_reads_as_one_line() {
        let e = ConfigError::from(ConfigViolation::OutOfOrder {
            low_param: "low",
            low: "5".into(),
            high_param: "high",
            high: "5".into(),
            strict: true,
        });
        assert_eq!(e.to_string(), "invalid configuration: low (5) must be below high (5)");
        assert_eq!(ConfigCheck::new().finish(3), Ok(3));
    }
}
