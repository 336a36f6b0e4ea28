//! What the reader targets share: the input written to a file (the readers take paths: gzip,
//! zstd and format detection start from the file's bytes and name) and read to the end twice —
//! a chunk at a time (the replay's path) and a record at a time — asserting no panic and that
//! both ways give the same records and the same errors.

use std::path::PathBuf;
use ticklane::{Quote, Trade};
use ticklane_tools::input::{self, Chunk, Event, Format, InputError, ReadOptions, Source};

/// One record or error as read: the record with its instrument's name, or the error's text.
#[derive(Debug, PartialEq)]
enum Item<R> {
    Rec(String, R),
    Error(String),
}

/// A file of this process's own for `data`, named to end in `suffix` (on tmpfs if there is one).
fn file(data: &[u8], suffix: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let path = dir.join(format!("ticklane-fuzz-{}{suffix}", std::process::id()));
    std::fs::write(&path, data).expect("write the fuzz input");
    path
}

fn by_chunks<R: Event>(mut src: Box<dyn Source<R>>) -> Vec<Item<R>> {
    let (mut items, mut chunk) = (Vec::new(), Chunk::<R>::default());
    while src.next_chunk(&mut chunk) {
        let mut errors = chunk.errors.drain(..).peekable();
        for (i, t) in chunk.records.iter().enumerate() {
            while let Some((_, e)) = errors.next_if(|(at, _)| *at <= i) {
                items.push(Item::Error(e.to_string()));
            }
            items.push(Item::Rec(src.symbol(t.instrument().0).to_string(), *t));
        }
        items.extend(errors.map(|(_, e)| Item::Error(e.to_string())));
    }
    items
}

fn by_records<R: Event>(mut src: Box<dyn Source<R>>) -> Vec<Item<R>> {
    let mut items = Vec::new();
    while let Some(r) = src.next() {
        items.push(match r {
            Ok((sym, t)) => Item::Rec(src.symbol(sym).to_string(), t),
            Err(e) => Item::Error(e.to_string()),
        });
    }
    items
}

/// Reads `data` as a file ending in `suffix` in `format` for its trades, both ways; they must
/// agree.
pub fn read_both_ways(data: &[u8], suffix: &str, format: Format) {
    both_ways::<Trade>(data, suffix, format, input::open);
}

/// The same for its quotes.
pub fn read_quotes_both_ways(data: &[u8], suffix: &str, format: Format) {
    both_ways::<Quote>(data, suffix, format, input::open_quotes);
}

type Opener<R> = fn(&std::path::Path, &ReadOptions) -> Result<Box<dyn Source<R>>, InputError>;

fn both_ways<R: Event + PartialEq>(data: &[u8], suffix: &str, format: Format, open: Opener<R>) {
    let path = file(data, suffix);
    let opt = ReadOptions::new(format);
    let (a, b) = match (open(&path, &opt), open(&path, &opt)) {
        (Ok(a), Ok(b)) => (by_chunks(a), by_records(b)),
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert!(a.to_string().len() < 4096, "an error message of {} bytes", a.to_string().len());
            return;
        }
        (a, b) => panic!("opened once but not twice: {:?} / {:?}", a.err(), b.err()),
    };
    for item in &a {
        if let Item::Error(e) = item {
            assert!(e.len() < 4096, "an error message of {} bytes: {e:.200}", e.len());
        }
    }
    assert_eq!(a, b, "a chunk at a time and a record at a time disagree");
}
