//! How ticks sit in a JetStream stream: on one subject `STREAM.ticks`, or partitioned over
//! `STREAM.ticks.0` … `STREAM.ticks.{P-1}` by [`super::partition_of`]. The partition count is
//! fixed when the stream is created and recorded in its description (`ticklane ticks;
//! partitions=P`: stream metadata needs nats-server 2.10, Debian's is 2.9), so every producer and
//! worker reads it from the stream rather than trusting a flag.

use super::assign::{partitions, AssignError};

/// A stream description that names a partition count ticklane cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream {stream}: its description `{description}` records {problem}")]
pub struct StreamLayoutError {
    /// The stream.
    pub stream: String,
    /// Its description (cut to 200 characters).
    pub description: String,
    /// What is wrong.
    pub problem: String,
}

/// The ticks' subjects in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every tick on `STREAM.ticks`.
    Single,
    /// Tick of instrument `name` on `STREAM.ticks.{partition_of(name, P)}`.
    Partitioned(u32),
}

const KEY: &str = "partitions=";

impl Layout {
    /// The layout a stream's description records (`Single` when it records none).
    pub fn from_description(stream: &str, description: Option<&str>) -> Result<Layout, StreamLayoutError> {
        let Some(d) = description else { return Ok(Layout::Single) };
        let Some((_, rest)) = d.split_once(KEY) else { return Ok(Layout::Single) };
        let digits = &rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())];
        let bad = |problem: String| StreamLayoutError {
            stream: stream.to_string(),
            description: d.chars().take(200).collect(),
            problem,
        };
        let n: u64 = digits.parse().map_err(|_| bad(format!("no number after `{KEY}`")))?;
        partitions(n).map(Layout::Partitioned).map_err(|e: AssignError| bad(e.to_string()))
    }

    /// The description that records this layout (`None` for [`Layout::Single`]).
    pub fn description(&self) -> Option<String> {
        match self {
            Layout::Single => None,
            Layout::Partitioned(p) => Some(format!("ticklane ticks; {KEY}{p}")),
        }
    }

    /// The partition count (1 for a single subject).
    pub fn partitions(&self) -> u32 {
        match self {
            Layout::Single => 1,
            Layout::Partitioned(p) => *p,
        }
    }

    /// The subject a tick of instrument `name` goes to in `stream`.
    pub fn subject(&self, stream: &str, name: &str) -> String {
        match self {
            Layout::Single => format!("{stream}.ticks"),
            Layout::Partitioned(p) => partition_subject(stream, super::partition_of(name, *p)),
        }
    }
}

/// Partition `partition`'s subject in `stream`: `STREAM.ticks.{partition}`.
pub fn partition_subject(stream: &str, partition: u32) -> String {
    format!("{stream}.ticks.{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_records_the_partition_count() {
        let p = Layout::Partitioned(64);
        assert_eq!(Layout::from_description("T", p.description().as_deref()), Ok(p));
        assert_eq!(Layout::from_description("T", None), Ok(Layout::Single));
        assert_eq!(Layout::from_description("T", Some("made by hand")), Ok(Layout::Single));
        let e = Layout::from_description("T", Some("partitions=0")).expect_err("0");
        assert_eq!(e.to_string(), "stream T: its description `partitions=0` records 0 partitions: expected 1 to 4096");
        let e = Layout::from_description("T", Some("x partitions=many")).expect_err("word");
        assert!(e.to_string().contains("no number after `partitions=`"), "{e}");
    }

    #[test]
    fn each_instrument_has_its_partitions_subject() {
        let p = Layout::Partitioned(8);
        let name = "binance-futures:BTCUSDT";
        assert_eq!(p.subject("TICKS", name), format!("TICKS.ticks.{}", ticklane::shard_of(name, 8)));
        assert_eq!(Layout::Single.subject("TICKS", name), "TICKS.ticks");
        assert_eq!(partition_subject("S", 63), "S.ticks.63");
    }
}
