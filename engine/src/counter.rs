//! Typed names for operator counters, so that a reader asks for the constant the operator
//! reports under instead of retyping its Prometheus name (a typo would silently read 0).
//!
//! ```
//! use ticklane_engine::Counter;
//!
//! /// Declared once, beside the operator that reports it.
//! const SKIPPED: Counter = Counter::new("myapp_skipped_total");
//! assert_eq!(SKIPPED.name(), "myapp_skipped_total");
//! ```

use std::fmt;

/// The name of an operator-reported counter, published as a Prometheus counter labelled by
/// node (design.md §8). Declare each as a `const` beside the operator that reports it (see
/// [`crate::Operator::counters`]) and read it back with [`crate::NodeStats::counter`] or
/// [`crate::Stats::counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Counter(&'static str);

impl Counter {
    /// A counter published as `name` (by convention `ticklane_…_total` or `yourapp_…_total`).
    pub const fn new(name: &'static str) -> Counter {
        Counter(name)
    }

    /// The published name.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
