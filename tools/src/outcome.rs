//! How a command ends, and the exit code each way maps to (design.md §7): 0 done, 1 runtime
//! failure, 2 bad usage or bad input, 128 + N after a graceful stop on signal N.

use std::fmt;
use std::process::ExitCode;

/// How a command that ran ended.
pub(crate) enum Outcome {
    /// Done; exit 0.
    Done,
    /// Stopped gracefully by this signal (everything accepted was flushed); exit 128 + signal.
    Interrupted(i32),
    /// Bad input found while running; exit 2 with this message (after flushing what was
    /// accepted before it).
    BadInput(String),
}

/// Bad usage or input found before anything ran (exit 2). Travels as an `anyhow::Error` so
/// that setup steps can use `?`; [`exit_code`] tells it from a runtime failure.
#[derive(Debug)]
pub(crate) struct BadInput(pub(crate) String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Prints what went wrong (if anything) and returns the exit code.
pub(crate) fn exit_code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Interrupted(sig)) => ExitCode::from(u8::try_from(128 + sig).unwrap_or(1)),
        Ok(Outcome::BadInput(msg)) => usage(&msg),
        Err(e) => match e.downcast_ref::<BadInput>() {
            Some(BadInput(msg)) => usage(msg),
            None => {
                eprintln!("ticklane: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("ticklane: {msg}");
    ExitCode::from(2)
}
