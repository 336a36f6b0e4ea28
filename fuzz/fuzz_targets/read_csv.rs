#![no_main]
//! `read_csv`: arbitrary bytes read as "x.csv", Format::Auto; no panic, no hang, bounded memory, and the
//! chunk and record paths agree (see `src/lib.rs`).
use libfuzzer_sys::fuzz_target;
use ticklane_tools::input::Format;

fuzz_target!(|data: &[u8]| ticklane_fuzz::read_both_ways(data, "x.csv", Format::Auto));
