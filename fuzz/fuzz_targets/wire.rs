#![no_main]
//! `wire`: arbitrary bytes as a tick message on a bus (design.md §9), JSON and MessagePack: no
//! panic, a bounded error message, and a decoded tick encoded again (in either format) decodes
//! to the same tick.
use libfuzzer_sys::fuzz_target;
use ticklane_tools::wire::{decode, encode_quote, encode_trade, Tick, WireFormat};

const FORMATS: [WireFormat; 2] = [WireFormat::Json, WireFormat::Msgpack];

fuzz_target!(|data: &[u8]| {
    for format in FORMATS {
        match decode(data, format) {
            Ok(tick) => round_trip(&tick),
            Err((reason, detail)) => {
                assert!(!reason.is_empty());
                assert!(detail.len() < 4096, "an error message of {} bytes", detail.len());
            }
        }
    }
});

fn round_trip(tick: &Tick<'_>) {
    for format in FORMATS {
        let mut buf = Vec::new();
        match tick {
            Tick::Trade(t, name) => encode_trade(t, name, format, &mut buf),
            Tick::Quote(q, name) => encode_quote(q, name, format, &mut buf),
        }
        let again = decode(&buf, format).unwrap_or_else(|e| panic!("{format:?}: own encoding refused: {e:?}"));
        match (tick, &again) {
            (Tick::Trade(a, n), Tick::Trade(b, m)) => assert!(a == b && n == m, "{a:?} {n} != {b:?} {m}"),
            (Tick::Quote(a, n), Tick::Quote(b, m)) => assert!(a == b && n == m, "{a:?} {n} != {b:?} {m}"),
            _ => panic!("{format:?}: the kind changed"),
        }
    }
}
