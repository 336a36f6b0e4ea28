//! ticklane: the one dependency a trading service adds. Re-exports the engine core and the
//! operators; see [`engine`] for the model and a runnable example.
pub use ticklane_engine as engine;
pub use ticklane_engine::*;
pub use ticklane_operators as operators;
