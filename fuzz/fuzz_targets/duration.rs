#![no_main]
//! `duration`: arbitrary text through the CLI's duration parser; no panic, and whatever
//! parses is the number times its unit.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(d) = ticklane_tools::duration::parse(s) {
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let n: u128 = t[..digits].parse().expect("parsed, so digits lead");
        assert_eq!(d.as_nanos() % n.max(1), 0, "{s:?}");
    }
});
