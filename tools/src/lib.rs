//! The library half of the `ticklane` CLI: the capture readers and the synthetic capture
//! generator, public so that `bench/` can measure them beside plain baselines. The binary
//! (`src/main.rs`) adds the command line, the plan, its execution, the writers and the
//! report. Not a stable API.
//!
//! ```no_run
//! use ticklane_tools::input::{self, Format};
//! let mut src = input::open("data/GLBX_ESH4_trades_2023-12-25.csv".as_ref(), &input::ReadOptions::new(Format::Auto))?;
//! while let Some(rec) = src.next() {
//!     let (sym, trade) = rec?;
//!     println!("{} {} {}", src.symbol(sym), trade.ts_event, trade.price);
//! }
//! # Ok::<(), ticklane_tools::input::InputError>(())
//! ```

pub mod duration;
pub mod format;
pub mod gen;
pub mod input;
pub mod live;
pub mod pipeline;
pub mod replace;
pub mod scale;
pub mod wire;
