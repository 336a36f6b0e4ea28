//! `ticklane partition` and `ticklane assign`: the scale-out's two functions (design.md §10) as
//! commands, for operators and as the reference other languages' producers and dashboards check
//! themselves against. Output on stdout, one pair per line, nothing else; a summary on stderr.

use crate::outcome::{BadInput, Outcome};
use std::io::{BufRead, Write};
use ticklane_tools::scale::{self, Members};

/// `ticklane partition`'s flags.
#[derive(clap::Args)]
pub(crate) struct PartitionArgs {
    /// The stream's partition count (1 to 4096).
    #[arg(long, value_name = "P", value_parser = parse_partitions)]
    pub(crate) partitions: u32,
    /// Instrument names (none: one per line on standard input).
    pub(crate) names: Vec<String>,
}

/// `ticklane assign`'s flags.
#[derive(clap::Args)]
pub(crate) struct AssignArgs {
    /// The stream's partition count (1 to 4096).
    #[arg(long, value_name = "P", value_parser = parse_partitions)]
    pub(crate) partitions: u32,
    /// The live workers' ids, comma-separated (A-Z a-z 0-9 - _ .), in any order.
    #[arg(long, value_name = "ID,ID,…", value_delimiter = ',', required = true)]
    pub(crate) workers: Vec<String>,
}

pub(crate) const PARTITION_HELP: &str = concat!(
    "Examples:\n",
    "  ticklane partition --partitions 64 binance-futures:BTCUSDT GLBX.MDP3:ESH4\n",
    "  cut -d, -f3 data/GLBX_ESH4_trades_2023-12-25.csv | tail -n +2 | sort -u | ticklane partition --partitions 64\n\n",
    "Prints `NAME PARTITION` per name: partition = shard_of(NAME, P), the portable function of design.md §1 \
     (the README has it in Python). Exit codes: 0 done; 2 bad usage."
);

pub(crate) const ASSIGN_HELP: &str = concat!(
    "Example:\n",
    "  ticklane assign --partitions 64 --workers worker-a,worker-b,worker-c\n\n",
    "Prints `PARTITION WORKER` for each partition: rendezvous hashing, the partition goes to the worker with the \
     highest mix64(fnv1a64(\"WORKER#PARTITION\")) (design.md §10; the README has it in Python); stderr says how \
     many each worker owns. Exit codes: 0 done; 2 bad usage."
);

pub(crate) fn parse_partitions(s: &str) -> Result<u32, String> {
    let n: u64 = s.parse().map_err(|_| format!("expected a whole number of partitions (1 to 4096), found {s:?}"))?;
    scale::partitions(n).map_err(|e| e.to_string())
}

/// `NAME PARTITION` for each name given or read from standard input.
pub(crate) fn partition(a: &PartitionArgs) -> anyhow::Result<Outcome> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.names.is_empty() {
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| BadInput(format!("standard input:{}: {e}", i + 1)))?;
            let name = line.trim_end_matches('\r');
            if !name.is_empty() {
                writeln!(out, "{name} {}", scale::partition_of(name, a.partitions))?;
            }
        }
    }
    for name in &a.names {
        writeln!(out, "{name} {}", scale::partition_of(name, a.partitions))?;
    }
    out.flush()?;
    Ok(Outcome::Done)
}

/// `PARTITION WORKER` for each partition, and the count per worker on stderr.
pub(crate) fn assign(a: &AssignArgs) -> anyhow::Result<Outcome> {
    let members = Members::new(&a.workers).map_err(|e| BadInput(format!("--workers: {e}")))?;
    let owners = members.assign(a.partitions).map_err(|e| BadInput(format!("--workers: {e}")))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut counts = vec![0u32; members.ids().len()];
    for (p, &w) in owners.iter().enumerate() {
        writeln!(out, "{p} {}", members.ids()[w])?;
        counts[w] += 1;
    }
    out.flush()?;
    let each: Vec<String> = members.ids().iter().zip(&counts).map(|(w, n)| format!("{w} {n}")).collect();
    eprintln!("ticklane: {} partitions over {} workers: {}.", a.partitions, counts.len(), each.join(", "));
    Ok(Outcome::Done)
}
