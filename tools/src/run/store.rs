//! Connects the store sink's writers before any input is read.

use crate::outcome::BadInput;
use crate::plan::StorePlan;
use anyhow::Context;
use ticklane::operators::store::{Fence, PgError, PgStore, StoreCoordinator};

/// One connection per writer (the table created if missing), then the coordinator; writes
/// fenced by `fence`'s claim when given. A bad URL or table name is bad usage; an unreachable
/// server is a runtime failure.
pub(super) fn connect(p: &StorePlan, fence: Option<Fence>) -> anyhow::Result<StoreCoordinator> {
    let connected = match fence {
        Some(f) => PgStore::connect_fenced(&p.url, &p.table, f),
        None => PgStore::connect(&p.url, &p.table),
    };
    let first = match connected {
        Ok(c) => c,
        Err(e @ (PgError::Url(_) | PgError::BadTable(_))) => {
            return Err(BadInput(format!("--sink-postgres: {e}")).into())
        }
        Err(e) => return Err(anyhow::Error::new(e).context("--sink-postgres")),
    };
    let mut stores = Vec::with_capacity(p.writers);
    for _ in 1..p.writers {
        stores.push(first.try_clone().context("--sink-postgres")?);
    }
    stores.push(first);
    Ok(StoreCoordinator::start(p.config.clone(), stores)?)
}
