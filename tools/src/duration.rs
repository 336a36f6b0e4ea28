//! Durations on the command line: an integer and a unit, `100ms`, `1s`, `5m`, `1h`, `250us`,
//! `10ns`, `1d`.

use std::time::Duration;

/// Parses a duration; the error says what was expected.
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("expected a duration like 100ms, 1s, 5m or 1h, found {s:?}"))?;
    let per: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use ns, us, ms, s, m, h or d")),
    };
    n.checked_mul(per).map(Duration::from_nanos).ok_or_else(|| format!("duration {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse("1").is_err());
        assert!(parse("s").is_err());
        assert!(parse("1y").is_err());
        assert!(parse("99999999999999999d").is_err());
    }
}
