//! The PostgreSQL [`BarStore`], on the synchronous `postgres` crate (its small internal
//! runtime lives on the writer thread, never on a shard).
//!
//! Schema (created if missing; decimals exact as `numeric`, times as integer nanoseconds):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS ticklane_bars (
//!     instrument   text    NOT NULL,
//!     window_start bigint  NOT NULL,   -- ns since the Unix epoch, inclusive
//!     window_end   bigint  NOT NULL,   -- exclusive
//!     open numeric NOT NULL, high numeric NOT NULL, low numeric NOT NULL, close numeric NOT NULL,
//!     volume       numeric NOT NULL,
//!     trade_count  bigint  NOT NULL,
//!     vwap         numeric NOT NULL,   -- rounded to 9 decimals
//!     revision     integer NOT NULL,   -- 0, then +1 per re-emission under `--late revise`
//!     PRIMARY KEY (instrument, window_start)
//! );
//! ```
//!
//! One batch is one `INSERT … SELECT FROM unnest(…) ON CONFLICT … DO UPDATE … WHERE
//! revision <= EXCLUDED.revision` statement: atomic, one round trip, eleven array parameters
//! whatever the batch size. Decimals travel as their exact text and are cast to `numeric` by
//! the server, so no float ever touches a price.
//!
//! A store fenced by a run's claim ([`PgStore::connect_fenced`], [`super::Fence`]) keeps the
//! claims beside the table, in `ticklane_fences` (same schema):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS ticklane_fences (name text PRIMARY KEY, epoch bigint NOT NULL);
//! ```
//!
//! and writes each batch in a transaction that first reads the claim's row `FOR SHARE` (the
//! first write on a connection records the epoch: `GREATEST` of the held and its own). A later
//! claim's first write waits for the earlier claim's open transactions and then refuses them
//! all ([`PgError::Superseded`]).

use super::{BarStore, Claim, Fence, StoreRow};
use postgres::{Client, NoTls, Statement};
use std::time::Duration;

/// The table name used when none is given.
pub const DEFAULT_TABLE: &str = "ticklane_bars";

/// A PostgreSQL error, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The table name is not `name` or `schema.name` of `[A-Za-z_][A-Za-z0-9_]*` parts.
    #[error("invalid table name {0:?}: expected NAME or SCHEMA.NAME of letters, digits and '_'")]
    BadTable(String),
    /// The connection string could not be parsed.
    #[error("invalid PostgreSQL connection string: {0}")]
    Url(#[source] postgres::Error),
    /// Connecting, creating the table or preparing the statement failed.
    #[error("cannot connect to PostgreSQL or prepare table {table}: {source}")]
    Connect {
        /// The table.
        table: String,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
    /// A fenced store has no claim yet (its source claims the work when it starts reading):
    /// retried.
    #[error("not writing to {table} before this run has claimed its work (fenced store)")]
    Unclaimed {
        /// The table.
        table: String,
    },
    /// A later claim on the work was recorded: this run's writes are refused for good.
    #[error("{table}: the claim on {claim} was superseded by epoch {held}: another run has taken the work over")]
    Superseded {
        /// The table.
        table: String,
        /// This run's claim.
        claim: Claim,
        /// The epoch recorded now.
        held: i64,
    },
    /// A batch write failed.
    #[error("writing {rows} rows to {table} failed: {source}")]
    Write {
        /// The table.
        table: String,
        /// Rows in the batch.
        rows: usize,
        /// The cause.
        #[source]
        source: postgres::Error,
    },
}

/// A connection to PostgreSQL that upserts bars into one table (see the module docs for the
/// schema). Reconnects by itself on the next write after any error.
pub struct PgStore {
    config: postgres::Config,
    table: String,
    statement_timeout: Duration,
    conn: Option<Conn>,
    /// The claim writes are fenced by, and its table.
    fence: Option<(Fence, String)>,
}

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    upsert: Statement,
    fence: Option<FenceSql>,
}

/// A fenced store's statements, and whether this connection has recorded the claim's epoch.
struct FenceSql {
    record: Statement,
    check: Statement,
    recorded: bool,
}

impl PgStore {
    /// Connects to `url` (`postgresql://user@host:port/db` or `host=… user=…`), creates
    /// `table` if missing and prepares the upsert. A connect timeout of 5 s applies unless
    /// the string sets one; each write may take at most 10 s (`statement_timeout`), after
    /// which it fails and is retried.
    pub fn connect(url: &str, table: &str) -> Result<PgStore, PgError> {
        PgStore::new(url, table, None)
    }

    /// As [`PgStore::connect`], with every write fenced by `fence`'s claim (see the module
    /// docs): writes wait for the claim ([`PgError::Unclaimed`], retried) and are refused for
    /// good once a later claim on the same work has written ([`PgError::Superseded`]).
    pub fn connect_fenced(url: &str, table: &str, fence: Fence) -> Result<PgStore, PgError> {
        PgStore::new(url, table, Some(fence))
    }

    fn new(url: &str, table: &str, fence: Option<Fence>) -> Result<PgStore, PgError> {
        let fences = fence.map(|f| (f, fences_beside(table)));
        let table = quote_table(table)?;
        let mut config: postgres::Config = url.parse().map_err(PgError::Url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("ticklane");
        }
        PgStore { config, table, statement_timeout: Duration::from_secs(10), conn: None, fence: fences }.opened()
    }

    /// Another connection to the same table (one per writer thread).
    pub fn try_clone(&self) -> Result<PgStore, PgError> {
        PgStore {
            config: self.config.clone(),
            table: self.table.clone(),
            statement_timeout: self.statement_timeout,
            conn: None,
            fence: self.fence.clone(),
        }
        .opened()
    }

    fn opened(mut self) -> Result<PgStore, PgError> {
        match self.ensure() {
            Ok(_) => Ok(self),
            Err(source) => Err(PgError::Connect { table: self.table, source }),
        }
    }

    /// The quoted table name as used in SQL.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Connects (creating the table and preparing the upsert) unless connected.
    fn ensure(&mut self) -> Result<&mut Conn, postgres::Error> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        let fence = self.fence.as_ref().map(|(_, fences)| fences.as_str());
        match &mut self.conn {
            Some(conn) => Ok(conn),
            slot => Ok(slot.insert(open(&self.config, &self.table, self.statement_timeout, fence)?)),
        }
    }

    /// Writes a batch: at once, or fenced by the claim.
    fn write(&mut self, params: &[&(dyn postgres::types::ToSql + Sync)]) -> Result<(), PgError> {
        let table = self.table.clone();
        let claim = match &self.fence {
            Some((f, _)) => Some(f.claim().cloned().ok_or_else(|| PgError::Unclaimed { table: table.clone() })?),
            None => None,
        };
        let failed = |source| PgError::Write { table: table.clone(), rows: 0, source };
        let conn = self.ensure().map_err(failed)?;
        let held = match (claim.as_ref(), conn.fence.as_mut()) {
            (None, _) => return conn.client.execute(&conn.upsert, params).map(|_| ()).map_err(failed),
            (Some(c), Some(sql)) => sql.write(&mut conn.client, &conn.upsert, c, params).map_err(failed)?,
            (Some(_), None) => return Err(PgError::Unclaimed { table }), // not reached: prepared with the fence
        };
        match (held, claim) {
            (Some(held), Some(claim)) => Err(PgError::Superseded { table, claim, held }),
            _ => Ok(()),
        }
    }
}

impl FenceSql {
    /// One transaction: the claim's row read `FOR SHARE` (recorded, the first time on this
    /// connection), then the upsert if the epoch held is the claim's. `Some(held)` if not.
    fn write(
        &mut self,
        client: &mut Client,
        upsert: &Statement,
        claim: &Claim,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Option<i64>, postgres::Error> {
        let mut tx = client.transaction()?;
        let held = match self.recorded {
            true => tx.query_opt(&self.check, &[&claim.name])?.map(|r| r.try_get::<_, i64>(0)).transpose()?,
            false => None,
        };
        let held = match held {
            Some(e) => e,
            None => tx.query_one(&self.record, &[&claim.name, &claim.epoch])?.try_get::<_, i64>(0)?,
        };
        if held != claim.epoch {
            return Ok(Some(held)); // rolled back as `tx` drops
        }
        tx.execute(upsert, params)?;
        tx.commit()?;
        self.recorded = true;
        Ok(None)
    }
}

/// A new connection: the table (and the fence table) created if missing, the statements
/// prepared.
fn open(
    config: &postgres::Config,
    table: &str,
    statement_timeout: Duration,
    fence: Option<&str>,
) -> Result<Conn, postgres::Error> {
    let mut client = config.connect(NoTls)?;
    client.batch_execute(&format!(
        "SET statement_timeout = {ms};
             CREATE TABLE IF NOT EXISTS {t} (
                 instrument   text    NOT NULL,
                 window_start bigint  NOT NULL,
                 window_end   bigint  NOT NULL,
                 open         numeric NOT NULL,
                 high         numeric NOT NULL,
                 low          numeric NOT NULL,
                 close        numeric NOT NULL,
                 volume       numeric NOT NULL,
                 trade_count  bigint  NOT NULL,
                 vwap         numeric NOT NULL,
                 revision     integer NOT NULL,
                 PRIMARY KEY (instrument, window_start)
             )",
        ms = statement_timeout.as_millis(),
        t = table
    ))?;
    let stmt = client.prepare(&format!(
        "INSERT INTO {t} AS t (instrument, window_start, window_end, open, high, low, close, volume,
                                   trade_count, vwap, revision)
             SELECT i, ws, we, o::numeric, h::numeric, l::numeric, c::numeric, v::numeric, n, vw::numeric, r
             FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::int8[], $10::text[], $11::int4[])
                  AS u(i, ws, we, o, h, l, c, v, n, vw, r)
             ON CONFLICT (instrument, window_start) DO UPDATE SET
                 window_end = EXCLUDED.window_end, open = EXCLUDED.open, high = EXCLUDED.high,
                 low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
                 trade_count = EXCLUDED.trade_count, vwap = EXCLUDED.vwap, revision = EXCLUDED.revision
             WHERE t.revision <= EXCLUDED.revision",
        t = table
    ))?;
    let fence = fence.map(|fences| prepare_fence(&mut client, fences)).transpose()?;
    Ok(Conn { client, upsert: stmt, fence })
}

/// The fence table (created if missing) and its two statements.
fn prepare_fence(client: &mut Client, fences: &str) -> Result<FenceSql, postgres::Error> {
    client.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {fences} (name text PRIMARY KEY, epoch bigint NOT NULL)"
    ))?;
    let record = client.prepare(&format!(
        "INSERT INTO {fences} AS f (name, epoch) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET epoch = GREATEST(f.epoch, EXCLUDED.epoch)
         RETURNING epoch"
    ))?;
    let check = client.prepare(&format!("SELECT epoch FROM {fences} WHERE name = $1 FOR SHARE"))?;
    Ok(FenceSql { record, check, recorded: false })
}

/// `ticklane_fences` in `table`'s schema, quoted (the table's name is checked separately).
fn fences_beside(table: &str) -> String {
    match table.split_once('.') {
        Some((schema, _)) => format!("\"{schema}\".\"ticklane_fences\""),
        None => "\"ticklane_fences\"".to_string(),
    }
}

impl BarStore for PgStore {
    type Error = PgError;

    fn upsert(&mut self, rows: &[StoreRow]) -> Result<(), PgError> {
        let n = rows.len();
        let text = |f: &dyn Fn(&StoreRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
        let instrument: Vec<&str> = rows.iter().map(|r| &*r.instrument).collect();
        let ws: Vec<i64> = rows.iter().map(|r| r.bar.window_start).collect();
        let we: Vec<i64> = rows.iter().map(|r| r.bar.window_end).collect();
        let open = text(&|r| r.bar.open.to_string());
        let high = text(&|r| r.bar.high.to_string());
        let low = text(&|r| r.bar.low.to_string());
        let close = text(&|r| r.bar.close.to_string());
        let volume = text(&|r| r.bar.volume.to_string());
        let count: Vec<i64> = rows.iter().map(|r| i64::try_from(r.bar.trade_count).unwrap_or(i64::MAX)).collect();
        let vwap = text(&|r| r.bar.vwap.to_string());
        let revision: Vec<i32> = rows.iter().map(|r| i32::try_from(r.bar.revision).unwrap_or(i32::MAX)).collect();
        let params: [&(dyn postgres::types::ToSql + Sync); 11] =
            [&instrument, &ws, &we, &open, &high, &low, &close, &volume, &count, &vwap, &revision];
        self.write(&params).map_err(|e| {
            // Start from a fresh connection next time, whatever went wrong.
            self.conn = None;
            match e {
                PgError::Write { table, source, .. } => PgError::Write { table, rows: n, source },
                other => other,
            }
        })
    }

    fn superseded(error: &PgError) -> bool {
        matches!(error, PgError::Superseded { .. })
    }
}

/// Validates `name` or `schema.name` and returns it double-quoted.
fn quote_table(name: &str) -> Result<String, PgError> {
    let ok = |p: &str| {
        let mut b = p.bytes();
        p.len() <= 63
            && b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| ok(p)) {
        return Err(PgError::BadTable(name.to_string()));
    }
    Ok(parts.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_validated_and_quoted() {
        assert_eq!(quote_table("ticklane_bars").ok().as_deref(), Some("\"ticklane_bars\""));
        assert_eq!(quote_table("md.Bars_1s").ok().as_deref(), Some("\"md\".\"Bars_1s\""));
        for bad in ["", "1bars", "bars; DROP TABLE x", "a.b.c", "bars\"", "a..b", &"x".repeat(64)] {
            assert!(matches!(quote_table(bad), Err(PgError::BadTable(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_connection_string_is_a_typed_error() {
        assert!(matches!(PgStore::connect("postgresql://host:notaport/db", "t"), Err(PgError::Url(_))));
    }
}
