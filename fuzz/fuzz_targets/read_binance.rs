#![no_main]
//! `read_binance`: arbitrary bytes read as a Binance stream capture, for its trades and for its
//! quotes; no panic, no hang, bounded memory, and the chunk and record paths agree.
use libfuzzer_sys::fuzz_target;
use ticklane_tools::input::Format;

fuzz_target!(|data: &[u8]| {
    ticklane_fuzz::read_both_ways(data, "x.stream", Format::BinanceStream);
    ticklane_fuzz::read_quotes_both_ways(data, "x.stream", Format::BinanceStream);
});
