//! Checks of the broker commands' command lines that clap cannot make:
//! the URL parses, it names what the command needs (a topic, a queue), and
//! no option of the other protocol was given.
//!
//! Each `check_*` returns the parsed [`Target`] (or, for a command of one
//! protocol, its URL); [`crate::amqp`] and [`crate::kafka`] take it from
//! there.

use crate::bench::STAMP_LEN;
use crate::cli::{
    BenchArgs, ConsumeArgs, DeclareArgs, ProduceArgs, StartArg, TopicAction, TopicsArgs,
};
use crate::error::CliError;
use crate::input::MAX_LINE;
use crate::url::{KafkaUrl, Protocol, Target};

/// Options given on the command line that only `protocol` understands: if
/// the URL is of the other protocol, the first one is a usage error.
fn only_for(target: &Target, protocol: Protocol, options: &[(&str, bool)]) -> Result<(), CliError> {
    if target.protocol() == protocol {
        return Ok(());
    }
    let scheme = match protocol {
        Protocol::Kafka => "kafka://",
        Protocol::Amqp => "amqp://",
    };
    match options.iter().find(|(_, given)| *given) {
        Some((name, _)) => Err(CliError::usage(format!(
            "{name} applies to {scheme} URLs only"
        ))),
        None => Ok(()),
    }
}

/// A command that speaks one protocol only.
fn require(target: &Target, protocol: Protocol, command: &str) -> Result<(), CliError> {
    if target.protocol() == protocol {
        return Ok(());
    }
    let (scheme, example) = match protocol {
        Protocol::Kafka => ("kafka://", "kafka://localhost:9092"),
        Protocol::Amqp => ("amqp://", "amqp://localhost:5672/%2f"),
    };
    Err(CliError::usage(format!(
        "'mq {command}' works with {scheme} URLs only, such as {example}"
    )))
}

/// A Kafka URL must name the topic.
fn require_topic(target: &Target, command: &str) -> Result<(), CliError> {
    match target {
        Target::Kafka(k) if k.topic.is_none() => Err(CliError::usage(format!(
            "'mq {command}' needs a topic: kafka://host:port/TOPIC"
        ))),
        _ => Ok(()),
    }
}

/// `mq produce`.
pub(crate) fn check_produce(a: &ProduceArgs) -> Result<Target, CliError> {
    let t = Target::parse(&a.url)?;
    require_topic(&t, "produce")?;
    if a.key_delimiter.as_deref() == Some("") {
        return Err(CliError::usage("--key-delimiter must not be empty"));
    }
    only_for(
        &t,
        Protocol::Kafka,
        &[
            ("--partition", a.partition.is_some()),
            ("--compression", a.compression.is_some()),
            ("--acks", a.acks.is_some()),
        ],
    )?;
    only_for(
        &t,
        Protocol::Amqp,
        &[
            ("--exchange", a.exchange.is_some()),
            ("--routing-key", a.routing_key.is_some()),
            ("--mandatory", a.mandatory),
            ("--persistent", a.persistent),
            ("--no-confirms", a.no_confirms),
        ],
    )?;
    if a.mandatory && a.no_confirms {
        return Err(CliError::usage(
            "--mandatory needs publisher confirms to report a returned message; drop --no-confirms",
        ));
    }
    Ok(t)
}

/// `mq consume`.
pub(crate) fn check_consume(a: &ConsumeArgs) -> Result<Target, CliError> {
    let t = Target::parse(&a.url)?;
    require_topic(&t, "consume")?;
    only_for(
        &t,
        Protocol::Kafka,
        &[
            ("--group", a.group.is_some()),
            ("--from", a.from.is_some()),
            ("--exit-at-end", a.exit_at_end),
            ("--partition", a.partition.is_some()),
        ],
    )?;
    only_for(
        &t,
        Protocol::Amqp,
        &[
            ("--queue", a.queue.is_some()),
            ("--prefetch", a.prefetch.is_some()),
        ],
    )?;
    if t.protocol() == Protocol::Amqp && a.queue.is_none() {
        return Err(CliError::usage(
            "'mq consume amqp://...' needs --queue NAME",
        ));
    }
    if let Some(group) = &a.group {
        check_group(group, a)?;
    }
    Ok(t)
}

/// `mq consume kafka://... --group G`: the group picks the partitions and
/// where each starts.
fn check_group(group: &str, a: &ConsumeArgs) -> Result<(), CliError> {
    if group.is_empty() {
        return Err(CliError::usage("--group must not be empty"));
    }
    if a.partition.is_some() {
        return Err(CliError::usage(
            "--partition cannot be used with --group: the group assigns the partitions",
        ));
    }
    if let Some(StartArg::Offset(_)) = a.from {
        return Err(CliError::usage(
            "--from OFFSET cannot be used with --group: a group starts at its committed offsets \
             (--from earliest|latest where it has none); drop --group to start at an offset",
        ));
    }
    Ok(())
}

/// `mq topics`.
pub(crate) fn check_topics(a: &TopicsArgs) -> Result<KafkaUrl, CliError> {
    kafka_only(Target::parse(&a.url)?, "topics")
}

/// `mq topic create|delete`.
pub(crate) fn check_topic(action: &TopicAction) -> Result<KafkaUrl, CliError> {
    let (url, name) = match action {
        TopicAction::Create(a) => (&a.url, "topic create"),
        TopicAction::Delete(a) => (&a.url, "topic delete"),
    };
    let t = Target::parse(url)?;
    require_topic(&t, name)?;
    kafka_only(t, name)
}

/// The URL of a command that speaks Kafka only.
fn kafka_only(t: Target, command: &str) -> Result<KafkaUrl, CliError> {
    require(&t, Protocol::Kafka, command)?;
    match t {
        Target::Kafka(k) => Ok(k),
        Target::Amqp(_) => Err(CliError::usage(format!(
            "'mq {command}' works with kafka:// URLs only"
        ))),
    }
}

/// `mq declare`.
pub(crate) fn check_declare(a: &DeclareArgs) -> Result<(), CliError> {
    let t = Target::parse(&a.url)?;
    require(&t, Protocol::Amqp, "declare")
}

/// `mq bench`.
pub(crate) fn check_bench(a: &BenchArgs) -> Result<Target, CliError> {
    let t = Target::parse(&a.url)?;
    only_for(
        &t,
        Protocol::Kafka,
        &[
            ("--compression", a.compression.is_some()),
            ("--acks", a.acks.is_some()),
        ],
    )?;
    only_for(
        &t,
        Protocol::Amqp,
        &[
            ("--queue", a.queue.is_some()),
            ("--prefetch", a.prefetch.is_some()),
        ],
    )?;
    if (a.size as usize) < STAMP_LEN {
        return Err(CliError::usage(format!(
            "--size must be at least {STAMP_LEN}: each message starts with the run id and its send time"
        )));
    }
    if a.size as usize > MAX_LINE {
        return Err(CliError::usage(format!(
            "--size must be at most {MAX_LINE} (128 MiB), the largest message mq sends"
        )));
    }
    Ok(t)
}
