//! `--instruments PATTERN[,PATTERN]`: which instruments a replay keeps, by shell-style globs on
//! their names (`*`, `?`, `[abc]`, `[!abc]`; the rust-lang `glob` crate's patterns). The reader
//! skips the others before they reach the engine (counted), so a run behaves as if the capture
//! held only the selected instruments — watermarks included.

/// The patterns of `--instruments`; a name is kept when any of them matches it whole.
#[derive(Clone, Debug)]
pub(crate) struct Instruments(Vec<glob::Pattern>);

impl Instruments {
    /// Parses comma-separated patterns; an empty one or a malformed one is an error that says
    /// which and why.
    pub(crate) fn parse(s: &str) -> Result<Instruments, String> {
        let mut v = Vec::new();
        for p in s.split(',') {
            if p.trim().is_empty() {
                return Err(format!("expected comma-separated name patterns such as ESH4 or 'binance:*USDT', found an empty one in {s:?}"));
            }
            v.push(glob::Pattern::new(p.trim()).map_err(|e| format!("pattern {p:?}: {e}"))?);
        }
        Ok(Instruments(v))
    }

    /// Whether `name` is kept.
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.matches(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_pattern_keeps_a_name_matched_whole() {
        let i = Instruments::parse("GLBX.MDP3:ES*, binance-futures:BTC?SDT,X[0-9]").expect("valid");
        for name in ["GLBX.MDP3:ESH4", "GLBX.MDP3:ES", "binance-futures:BTCUSDT", "X7"] {
            assert!(i.matches(name), "{name}");
        }
        for name in ["GLBX.MDP3:NQH4", "xGLBX.MDP3:ESH4", "binance-futures:BTCUSDTX", "X77", "x7"] {
            assert!(!i.matches(name), "{name}");
        }
    }

    #[test]
    fn empty_and_malformed_patterns_are_refused_with_the_reason() {
        assert!(Instruments::parse("A,,B").expect_err("empty").contains("empty one"));
        assert!(Instruments::parse("").is_err());
        let e = Instruments::parse("ES[H4").expect_err("unclosed");
        assert!(e.contains("ES[H4"), "{e}");
    }
}
