//! `ticklane`: replay captured tick files into bars, and generate synthetic captures.
//!
//! Each command goes flags ([`cli`]) → a validated [`plan`] → execution ([`run`]) → a
//! [`report`]; exit codes per design.md §7 ([`outcome`]).

mod cli;
mod ops;
mod outcome;
mod output;
mod plan;
mod publish;
mod report;
mod run;
mod select;
mod spec;
mod worker;

use clap::Parser;
use cli::{Cli, Command};
use outcome::{exit_code, BadInput, Outcome};
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|buf, r| {
            use std::io::Write;
            let level =
                if r.level() == log::Level::Warn { "warning".into() } else { r.level().as_str().to_lowercase() };
            writeln!(buf, "ticklane: {level}: {}", r.args())
        })
        .init();
    if std::env::var_os(worker::PARENT_ENV).is_some() {
        worker::exit_with_parent();
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    exit_code(match cli.command {
        Command::Replay(args) => match plan::Plan::from_replay(&args) {
            Ok(p) => run::execute(&p),
            Err(problems) => Err(BadInput(problems.to_string()).into()),
        },
        Command::Run(args) if args.worker.is_some() => worker::run(&args),
        Command::Run(args) => match spec::is_pipeline(&args.replay.files) {
            Some(file) => match spec::plan(file) {
                Ok((p, _)) => run::execute(&p),
                Err(problems) => Err(BadInput(problems).into()),
            },
            None => match plan::Plan::from_run(&args) {
                Ok(p) => run::execute(&p),
                Err(problems) => Err(BadInput(problems.to_string()).into()),
            },
        },
        Command::Check(c) => match spec::check(&c.pipeline) {
            Ok(text) => {
                print!("{text}");
                Ok(Outcome::Done)
            }
            Err(problems) => Err(BadInput(problems).into()),
        },
        Command::Publish(p) => publish::run(&p),
        Command::Partition(a) => ops::partition(&a),
        Command::Assign(a) => ops::assign(&a),
        Command::Gen(g) => match g.validate() {
            Ok(()) => ticklane_tools::gen::run(&g).map(|()| Outcome::Done),
            Err(msg) => Err(BadInput(msg).into()),
        },
    })
}
