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
                eprintln!("ticklane: {}", chain_text(&e));
                ExitCode::from(1)
            }
        },
    }
}

/// The error and its causes, `: `-separated, each cause left out when the text before it
/// already ends with it: many libraries' errors (async-nats, say) print their cause themselves,
/// and anyhow's `{:#}` would print it again ("…refused (os error 111): Connection refused (os
/// error 111)").
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
    }
    text
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("ticklane: {msg}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::chain_text;

    /// An error whose text already ends with its cause's, as async-nats's do.
    #[derive(Debug)]
    struct SaysItsCause(std::io::Error);

    impl std::fmt::Display for SaysItsCause {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "IO error: {}", self.0)
        }
    }

    impl std::error::Error for SaysItsCause {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let e = anyhow::Error::new(SaysItsCause(refused)).context("cannot connect to 127.0.0.1:4222");
        assert_eq!(chain_text(&e), "cannot connect to 127.0.0.1:4222: IO error: Connection refused");
        let plain = anyhow::Error::new(std::io::Error::other("disk full")).context("writing bars.csv");
        assert_eq!(chain_text(&plain), format!("{plain:#}"), "causes not said yet are kept");
    }
}
