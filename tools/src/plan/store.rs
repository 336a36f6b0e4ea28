//! The PostgreSQL store sink's settings (`--sink-postgres` and the `--pg-*` flags).

use super::PlanError;
use crate::cli::{PressureArg, StoreArgs};
use std::time::Duration;
use ticklane::operators::store::{PressurePolicy, StoreConfig};

/// The store of a run, validated (connecting happens when the run starts).
pub(crate) struct StorePlan {
    pub(crate) url: String,
    pub(crate) table: String,
    pub(crate) config: StoreConfig,
    /// Writer threads, one connection each (≥ 1).
    pub(crate) writers: usize,
    /// How long the final flush may take.
    pub(crate) flush_timeout: Duration,
}

impl StorePlan {
    /// `None` without `--sink-postgres` (or when the settings are invalid, recorded).
    pub(crate) fn from_args(s: &StoreArgs, problems: &mut PlanError) -> Option<StorePlan> {
        let url = s.sink_postgres.clone()?;
        let policy = match s.pressure {
            PressureArg::Block => PressurePolicy::Block,
            PressureArg::Conflate => PressurePolicy::Conflate,
            PressureArg::Shed => PressurePolicy::Shed,
        };
        let config = StoreConfig::builder()
            .policy(policy)
            .batch(s.pg_batch_rows, s.pg_batch_interval)
            .watermarks(s.pg_queue_low, s.pg_queue_high)
            .capacity(s.pg_queue_high.saturating_mul(2))
            .build();
        let flags = [("batch rows", "--pg-batch-rows"), ("the high watermark", "--pg-queue-high")];
        let config = config.map_err(|e| problems.config(e, &flags, "--pg-queue-low/--pg-queue-high")).ok();
        if s.pg_writers == 0 {
            problems.push("--pg-writers must be at least 1");
        }
        let config = config.filter(|_| s.pg_writers > 0)?;
        Some(StorePlan {
            url,
            table: s.pg_table.clone(),
            config,
            writers: s.pg_writers,
            flush_timeout: s.pg_flush_timeout,
        })
    }
}
