//! What the tests of the real `ticklane` binary share: where it is, the bundled captures, a
//! scratch directory per test binary and process, and running it.
#![allow(dead_code)] // each test file uses a part

pub mod quote_oracle;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ticklane");

/// The bars CSV header (design.md §5).
pub const HEADER: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";

/// A bundled capture in `data/`.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("data").join(name)
}

/// `name` in a scratch directory of this test binary and process.
pub fn tmp(name: &str) -> PathBuf {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("test");
    let dir = std::env::temp_dir().join(format!("ticklane-{stem}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

/// A path as the `&str` an argument list wants.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `ticklane ARGS`, waited for.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run ticklane")
}

/// `ticklane replay ARGS`, waited for.
pub fn replay(args: &[&str]) -> Output {
    Command::new(BIN).arg("replay").args(args).output().expect("run ticklane")
}
