//! Checks of the broker commands' command lines that clap cannot make:
//! the URL parses, it names what the command needs (a topic, a queue), and
//! no option of the other protocol was given.
//!
//! Each `check_*` returns the [`Broker`] to talk to: the AMQP URL to
//! connect with (its password perhaps from `MQ_AMQP_PASSWORD`), or the
//! Kafka URL with the client settings of `-X` and `--config`; [`crate::amqp`]
//! and [`crate::kafka`] take it from there. Properties that name an unset
//! variable or an unreadable file fail here, before any connection.

use crate::bench::STAMP_LEN;
use crate::cli::{
    BenchArgs, ClientProps, ConsumeArgs, DeclareArgs, ProduceArgs, StartArg, TopicAction,
    TopicsArgs,
};
use crate::error::CliError;
use crate::input::MAX_LINE;
use crate::kafka::KafkaTarget;
use crate::properties::{self, Process, Sources};
use crate::url::{AMQP_PASSWORD_VAR, KafkaUrl, Protocol, Target, amqp_connect_url};

/// What a broker command talks to.
#[derive(Debug)]
pub(crate) enum Broker {
    /// A RabbitMQ broker.
    Amqp(AmqpTarget),
    /// A Kafka cluster (boxed: its client settings are large).
    Kafka(Box<KafkaTarget>),
}

/// A RabbitMQ broker to connect to.
#[derive(Debug)]
pub(crate) struct AmqpTarget {
    /// The URL to connect with: as given, with the password of
    /// `MQ_AMQP_PASSWORD` when it had none. Never shown.
    pub(crate) connect: String,
    /// The URL for messages, the password as `***`.
    pub(crate) shown: String,
}

/// The broker `t` names, with the command line's Kafka properties
/// (refused for AMQP, whose settings are URI parameters).
fn broker(
    url: &str,
    t: Target,
    props: &ClientProps,
    src: &impl Sources,
) -> Result<Broker, CliError> {
    match t {
        Target::Amqp(uri) => {
            no_properties_for_amqp(props)?;
            Ok(Broker::Amqp(AmqpTarget {
                connect: amqp_connect_url(url, &uri, src.var(AMQP_PASSWORD_VAR))?,
                shown: uri.to_string(),
            }))
        }
        Target::Kafka(k) => Ok(Broker::Kafka(Box::new(KafkaTarget::new(k, props, src)?))),
    }
}

/// `-X` and `--config` are Kafka's.
fn no_properties_for_amqp(props: &ClientProps) -> Result<(), CliError> {
    if !properties::given(props) {
        return Ok(());
    }
    let flag = if props.properties.is_empty() {
        "--config"
    } else {
        "-X/--property"
    };
    Err(CliError::usage(format!(
        "{flag} applies to kafka:// URLs only; amqp:// and amqps:// URLs take their settings \
         as URI parameters, such as amqps://host/vhost?cacertfile=ca.pem&auth_mechanism=external"
    )))
}

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
pub(crate) fn check_produce(a: &ProduceArgs) -> Result<Broker, CliError> {
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
    broker(&a.url, t, &a.props, &Process)
}

/// `mq consume`.
pub(crate) fn check_consume(a: &ConsumeArgs) -> Result<Broker, CliError> {
    let t = Target::parse(&a.url)?;
    require_topic(&t, "consume")?;
    only_for(
        &t,
        Protocol::Kafka,
        &[
            ("--group", a.group.is_some()),
            ("--share-group", a.share_group.is_some()),
            ("--from", a.from.is_some()),
            ("--exit-at-end", a.exit_at_end),
            ("--partition", a.partition.is_some()),
            ("--isolation", a.isolation.is_some()),
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
    if let Some(group) = &a.share_group {
        check_share_group(group, a)?;
    }
    broker(&a.url, t, &a.props, &Process)
}

/// `mq consume kafka://... --share-group G`: the group hands out records,
/// from where its `share.auto.offset.reset` config says.
fn check_share_group(group: &str, a: &ConsumeArgs) -> Result<(), CliError> {
    if group.is_empty() {
        return Err(CliError::usage("--share-group must not be empty"));
    }
    let refused = [
        ("--group", a.group.is_some()),
        ("--from", a.from.is_some()),
        ("--partition", a.partition.is_some()),
        ("--exit-at-end", a.exit_at_end),
        ("--isolation", a.isolation.is_some()),
    ];
    if let Some((flag, _)) = refused.iter().find(|(_, set)| *set) {
        return Err(CliError::usage(format!(
            "{flag} cannot be used with --share-group: a share group hands out records from \
             where its share.auto.offset.reset config says, at its share.isolation.level"
        )));
    }
    Ok(())
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
pub(crate) fn check_topics(a: &TopicsArgs) -> Result<KafkaTarget, CliError> {
    let url = kafka_only(Target::parse(&a.url)?, "topics")?;
    KafkaTarget::new(url, &a.props, &Process)
}

/// The Kafka admin commands (`groups`, `group ...`, `config ...`): a
/// kafka:// URL, with a topic where `needs_topic`.
pub(crate) fn check_admin(
    url: &str,
    props: &ClientProps,
    command: &str,
    needs_topic: bool,
) -> Result<KafkaTarget, CliError> {
    let t = Target::parse(url)?;
    if needs_topic {
        require_topic(&t, command)?;
    }
    KafkaTarget::new(kafka_only(t, command)?, props, &Process)
}

/// `mq topic create|delete`.
pub(crate) fn check_topic(action: &TopicAction) -> Result<KafkaTarget, CliError> {
    let (url, name, props) = match action {
        TopicAction::Create(a) => (&a.url, "topic create", &a.props),
        TopicAction::Delete(a) => (&a.url, "topic delete", &a.props),
    };
    let t = Target::parse(url)?;
    require_topic(&t, name)?;
    KafkaTarget::new(kafka_only(t, name)?, props, &Process)
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
pub(crate) fn check_declare(a: &DeclareArgs) -> Result<AmqpTarget, CliError> {
    let t = Target::parse(&a.url)?;
    require(&t, Protocol::Amqp, "declare")?;
    match broker(&a.url, t, &ClientProps::default(), &Process)? {
        Broker::Amqp(target) => Ok(target),
        Broker::Kafka(_) => Err(CliError::usage("'mq declare' works with amqp:// URLs only")),
    }
}

/// `mq dead-letters list|replay`: a Kafka URL names the dead-letter
/// topic, an AMQP one needs `--queue`.
pub(crate) fn check_dead_letters(
    url: &str,
    queue: &Option<String>,
    props: &ClientProps,
) -> Result<Broker, CliError> {
    let t = Target::parse(url)?;
    if let Target::Kafka(k) = &t {
        if k.topic.is_none() {
            return Err(CliError::usage(
                "'mq dead-letters' needs the dead-letter topic: kafka://host:port/TOPIC",
            ));
        }
    }
    only_for(&t, Protocol::Amqp, &[("--queue", queue.is_some())])?;
    match queue.as_deref() {
        None if t.protocol() == Protocol::Amqp => {
            return Err(CliError::usage(
                "'mq dead-letters amqp://...' needs --queue NAME, the dead-letter queue",
            ));
        }
        Some("") => return Err(CliError::usage("--queue must not be empty")),
        _ => {}
    }
    broker(url, t, props, &Process)
}

/// `mq bench`.
pub(crate) fn check_bench(a: &BenchArgs) -> Result<Broker, CliError> {
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
    broker(&a.url, t, &a.props, &Process)
}
