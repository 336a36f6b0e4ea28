#![no_main]
//! `read_dbn_quotes`: arbitrary bytes read as "x.dbn" for its top of book (MBP-1, TBBO, BBO);
//! no panic, no hang, bounded memory, and the chunk and record paths agree.
use libfuzzer_sys::fuzz_target;
use ticklane_tools::input::Format;

fuzz_target!(|data: &[u8]| ticklane_fuzz::read_quotes_both_ways(data, "x.dbn", Format::Dbn));
