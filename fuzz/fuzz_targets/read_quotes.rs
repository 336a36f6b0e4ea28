#![no_main]
//! `read_quotes`: arbitrary bytes read as "x.csv" for quotes (ticklane or Tardis quotes CSV, by
//! the header); no panic, no hang, bounded memory, and the chunk and record paths agree.
use libfuzzer_sys::fuzz_target;
use ticklane_tools::input::Format;

fuzz_target!(|data: &[u8]| ticklane_fuzz::read_quotes_both_ways(data, "x.csv", Format::Auto));
