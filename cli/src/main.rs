//! `mq`: a command line for RabbitMQ and Kafka, built on `mq-client`.
//!
//! - [`cli`]: the command tree (clap), with help and examples.
//! - [`url`]: `kafka://` and `amqp://` URLs; the scheme picks the protocol.
//! - [`commands`]: checks of each broker command's options against its URL.
//! - [`gate`]: where the broker commands stop until the clients land.
//! - [`decode`]: `mq decode`, the dissector.
//! - [`completions`]: shell completion scripts.
//! - [`error`]: one line on stderr per failure, one exit status per kind.

use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

mod cli;
mod commands;
mod completions;
mod decode;
mod error;
mod gate;
mod output;
mod url;

use cli::{Cli, Command};
use error::CliError;
use output::Output;

fn main() -> ExitCode {
    let mut out = Output::stdout();
    let result = match Cli::try_parse() {
        Ok(cli) => run(cli, &mut out),
        Err(e) => clap_error(&e, &mut out),
    };
    let result = result.and_then(|()| out.flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(line) = e.line() {
                eprintln!("{line}");
            }
            ExitCode::from(e.kind().exit_code())
        }
    }
}

/// Runs the command.
fn run(cli: Cli, out: &mut Output) -> Result<(), CliError> {
    match cli.command {
        Command::Decode(args) => decode::run(&args, out),
        Command::Completions(args) => completions::run(&args, out),
        // The broker commands: checked here, then stopped by the gate.
        Command::Produce(a) => gate::needs_client("produce", &commands::check_produce(&a)?),
        Command::Consume(a) => gate::needs_client("consume", &commands::check_consume(&a)?),
        Command::Topics(a) => gate::needs_client("topics", &commands::check_topics(&a)?),
        Command::Topic(a) => gate::needs_client("topic", &commands::check_topic(&a.action)?),
        Command::Declare(a) => gate::needs_client("declare", &commands::check_declare(&a)?),
        Command::Bench(a) => gate::needs_client("bench", &commands::check_bench(&a)?),
    }
}

/// Help and version go to stdout; every other clap error becomes one line.
fn clap_error(e: &clap::Error, out: &mut Output) -> Result<(), CliError> {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out.write_all(e.render().to_string().as_bytes())
        }
        _ => Err(CliError::usage(usage_line(e))),
    }
}

/// clap's message, first line only, with a pointer to the right `--help`.
fn usage_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "Usage: mq decode [OPTIONS] <PROTOCOL>" names the command.
    let command = match e.get(ContextKind::Usage) {
        Some(ContextValue::StyledStr(usage)) => usage
            .to_string()
            .trim()
            .trim_start_matches("Usage:")
            .split_whitespace()
            .take_while(|w| !w.starts_with(['[', '<', '-']))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    let command = if command.is_empty() {
        "mq".to_owned()
    } else {
        command
    };
    format!("{first} (see '{command} --help')")
}
