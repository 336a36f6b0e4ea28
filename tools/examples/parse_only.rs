//! Reads a capture and counts its records: the readers' speed alone (a measurement aid).
//! `cargo run --release -p ticklane-tools --example parse_only -- FILE [THREADS]`
use std::path::Path;
use ticklane_tools::input::{self, Chunk, Format, Merge, ReadOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(0);
    let opt = ReadOptions { threads, ..ReadOptions::new(Format::Auto) };
    let t0 = std::time::Instant::now();
    let src = match input::open(Path::new(&args[1]), &opt) {
        Ok(s) => s,
        Err(e) => return eprintln!("{e}"),
    };
    let mut merge = Merge::new(vec![src]);
    let (mut chunk, mut n, mut errs, mut sum) = (Chunk::default(), 0u64, 0u64, 0i64);
    while merge.next_chunk(&mut chunk) {
        n += chunk.records.len() as u64;
        errs += chunk.errors.len() as u64;
        sum = chunk.records.iter().fold(sum, |s, t| s.wrapping_add(t.price.raw() ^ i64::from(t.instrument.0)));
    }
    println!("{n} records, {errs} errors in {:.3} s (checksum {sum})", t0.elapsed().as_secs_f64());
}
