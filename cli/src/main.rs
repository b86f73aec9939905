//! `mq`: a command line for RabbitMQ and Kafka, built on `mq-client`.
//!
//! - [`cli`]: the command tree (clap), with help and examples.
//! - [`url`]: `kafka://`, `amqp://` and `amqps://` URLs; the scheme picks
//!   the protocol.
//! - [`commands`]: checks of each broker command's options against its URL.
//! - [`properties`]: Kafka client properties (`-X`, `--config FILE`), with
//!   secrets from the environment or files.
//! - [`amqp`]: `produce`, `consume`, `declare` and `bench` for RabbitMQ.
//! - [`kafka`]: `produce`, `consume`, `topics`, `topic` and `bench` for Kafka.
//! - [`input`], [`json`], [`mod@bench`], [`runtime`]: stdin lines, JSON
//!   output, the bench harness and the tokio runtimes, shared by both
//!   protocols.
//! - [`mod@dead_letters`]: `mq dead-letters list|replay`, what both
//!   protocols share.
//! - [`decode`]: `mq decode`, the dissector.
//! - [`completions`]: shell completion scripts.
//! - [`error`]: one line on stderr per failure, one exit status per kind.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

mod amqp;
mod bench;
mod cli;
mod commands;
mod completions;
mod dead_letters;
mod decode;
mod error;
mod input;
mod json;
mod kafka;
mod output;
mod properties;
mod runtime;
mod url;

use cli::{AclAction, Cli, Command, ConfigAction, DeadLettersAction, GroupAction, TopicAction};
use commands::Broker;
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
        // The broker commands: checked here, then run by the protocol's
        // module.
        Command::Produce(a) => match commands::check_produce(&a)? {
            Broker::Amqp(t) => amqp::produce(&a, &t.connect),
            Broker::Kafka(k) => kafka::produce(&a, &k),
        },
        Command::Consume(a) => match commands::check_consume(&a)? {
            Broker::Amqp(t) => amqp::consume(&a, &t.connect, out),
            Broker::Kafka(k) => match (a.group.as_deref(), a.share_group.as_deref()) {
                (Some(group), _) => kafka::consume_group(&a, &k, group, out),
                (None, Some(group)) => kafka::consume_share_group(&a, &k, group, out),
                (None, None) => kafka::consume(&a, &k, out),
            },
        },
        Command::Topics(a) => kafka::topics(&commands::check_topics(&a)?, out),
        Command::Topic(a) => {
            let url = commands::check_topic(&a.action)?;
            match &a.action {
                TopicAction::Create(c) => kafka::create_topic(c, &url, out),
                TopicAction::Delete(d) => kafka::delete_topic(d, &url, out),
            }
        }
        Command::Groups(a) => kafka::groups(
            a.format,
            &commands::check_admin(&a.url, &a.props, "groups", false)?,
            out,
        ),
        Command::Group(a) => match &a.action {
            GroupAction::ResetOffsets(r) => kafka::reset_offsets(
                r,
                &commands::check_admin(&r.url, &r.props, "group reset-offsets", true)?,
                out,
            ),
            GroupAction::Describe(d) => kafka::describe_group(
                d,
                &commands::check_admin(&d.url, &d.props, "group describe", false)?,
                out,
            ),
            GroupAction::Delete(d) => kafka::delete_group(
                d,
                &commands::check_admin(&d.url, &d.props, "group delete", false)?,
                out,
            ),
        },
        Command::Config(a) => match &a.action {
            ConfigAction::Get(g) => kafka::config_get(
                g,
                &commands::check_admin(&g.url, &g.props, "config get", false)?,
                out,
            ),
            ConfigAction::Set(s) => kafka::config_set(
                s,
                &commands::check_admin(&s.url, &s.props, "config set", false)?,
                out,
            ),
        },
        Command::Acl(a) => match &a.action {
            AclAction::List(l) => kafka::acl_list(
                l,
                &commands::check_admin(&l.url, &l.props, "acl list", false)?,
                out,
            ),
            AclAction::Add(d) => kafka::acl_add(
                d,
                &commands::check_admin(&d.url, &d.props, "acl add", false)?,
                out,
            ),
            AclAction::Remove(r) => kafka::acl_remove(
                r,
                &commands::check_admin(&r.url, &r.props, "acl remove", false)?,
                out,
            ),
        },
        Command::Declare(a) => {
            let t = commands::check_declare(&a)?;
            amqp::declare(&a, &t.connect, out)
        }
        Command::DeadLetters(a) => match &a.action {
            DeadLettersAction::List(l) => {
                match commands::check_dead_letters(&l.url, &l.queue, &l.props)? {
                    Broker::Amqp(t) => amqp::list_dead_letters(l, &t.connect, out),
                    Broker::Kafka(k) => kafka::list_dead_letters(l, &k, out),
                }
            }
            DeadLettersAction::Replay(r) => {
                match commands::check_dead_letters(&r.url, &r.queue, &r.props)? {
                    Broker::Amqp(t) => amqp::replay_dead_letters(r, &t.connect, out),
                    Broker::Kafka(k) => kafka::replay_dead_letters(r, &k, out),
                }
            }
        },
        Command::Bench(a) => match commands::check_bench(&a)? {
            Broker::Amqp(t) => amqp::bench(&a, &t.connect, &t.shown, out),
            Broker::Kafka(k) => kafka::bench(&a, &k, out),
        },
    }
}

/// Help and version go to stdout; every other clap error becomes one line.
fn clap_error(e: &clap::Error, out: &mut Output) -> Result<(), CliError> {
    let (path, command) = invoked_command();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out.write_all(e.render().to_string().as_bytes())
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
            Err(CliError::usage(format!(
                "'{path}' needs a subcommand: {} (see '{path} --help')",
                names.join(", ")
            )))
        }
        _ => Err(CliError::usage(format!(
            "{} (see '{path} --help')",
            first_paragraph(e)
        ))),
    }
}

/// The (sub)command the arguments name, as far as they name one: its path
/// (`mq topic create`) and its definition.
fn invoked_command() -> (String, clap::Command) {
    let mut command = Cli::command();
    let mut path = vec!["mq".to_owned()];
    for arg in std::env::args_os().skip(1) {
        let Some(arg) = arg.to_str() else { break };
        match command.find_subcommand(arg) {
            Some(sub) => {
                path.push(sub.get_name().to_owned());
                let sub = sub.clone();
                command = sub;
            }
            None if arg.starts_with('-') => continue,
            None => break,
        }
    }
    (path.join(" "), command)
}

/// clap's message without its usage and tips: the first paragraph, on
/// one line.
fn first_paragraph(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    match text.strip_prefix("error: ") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}
