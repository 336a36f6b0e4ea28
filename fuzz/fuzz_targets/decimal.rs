#![no_main]
//! `decimal`: arbitrary bytes through `Fixed::parse_bytes`; no panic; whatever parses prints
//! back as text that parses to the same value and prints the same (format ∘ parse = id on the
//! canonical form), and `format_scaled` writes what `Display` writes.
use libfuzzer_sys::fuzz_target;
use ticklane::{format_scaled, Fixed};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = Fixed::parse_bytes(data) else { return };
    let text = v.to_string();
    let back = Fixed::parse(&text).expect("what Display writes parses");
    assert_eq!(back, v, "{text}");
    assert_eq!(back.to_string(), text);
    let mut buf = [0u8; 48];
    assert_eq!(format_scaled(i128::from(v.raw()), &mut buf), text);
});
