#![no_main]
//! `pipeline`: arbitrary bytes as a pipeline file (design.md §9), read, checked as a graph and
//! lowered to a command line (`ticklane_tools::pipeline::lower`, what `ticklane check` runs
//! before the command line's own value checks): no panic; a valid file lowers to `run` or
//! `replay` with every flag located on a line of the file; an invalid one gets messages that each
//! start `FILE:LINE: ` with a line of the file, none longer than `MAX_MESSAGE`.
use libfuzzer_sys::fuzz_target;
use ticklane_tools::pipeline::{lower, MAX_MESSAGE};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.split('\n').count();
    match lower("p.toml", text, |_, _| None) {
        Ok(l) => {
            assert!(l.command == "run" || l.command == "replay");
            for a in &l.args {
                assert!((1..=lines).contains(&a.at.line), "{} at line {} of {lines}", a.flag, a.at.line);
            }
        }
        Err(e) => {
            assert!(!e.is_empty());
            for m in e.lines().filter(|m| m.starts_with("p.toml:")) {
                assert!(m.len() <= MAX_MESSAGE, "a message of {} bytes", m.len());
                let line: usize = m["p.toml:".len()..].split(':').next().and_then(|n| n.parse().ok()).expect("a line");
                assert!((1..=lines).contains(&line), "line {line} of {lines}: {m}");
            }
            assert!(e.starts_with("p.toml:"), "{e}");
        }
    }
});
