//! The command tree (clap derive): every subcommand of the `mq` command
//! line with its full option set and help with examples.
//!
//! Options that only one protocol understands are checked against the URL's
//! scheme in [`crate::commands`], after parsing, so that a bad URL or a
//! misplaced option gets one clear line instead of clap's usage dump.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::exit_status_help;

mod dead_letters;

pub(crate) use dead_letters::{
    DeadLettersAction, DeadLettersArgs, DeadLettersFormat, DeadLettersListArgs,
    DeadLettersReplayArgs,
};

const ABOUT: &str = "A command line for RabbitMQ and Kafka: produce, consume, bench and decode";

const LONG_ABOUT: &str = "\
A command line for RabbitMQ and Kafka: produce, consume, bench and decode.

The URL picks the protocol:
  kafka://host:port[,host:port...]/topic      a Kafka bootstrap list and a topic
  amqp://user:pass@host:port/vhost            a RabbitMQ broker ('/' as vhost is %2f)
  amqps://user@host:port/vhost?cacertfile=F   a RabbitMQ broker over TLS

Kafka's TLS and SASL settings are client properties: -X key=value and
--config FILE (see 'mq produce --help'). Secrets can come from the
environment or a file instead of the command line: ${env:NAME} and
${file:PATH} in a Kafka property, MQ_AMQP_PASSWORD and MQ_KAFKA_PASSWORD.

Passwords are never printed, in output or in errors.";

fn top_after_help() -> String {
    format!(
        "\
Examples:
  printf 'k1:hello\\nk2:world\\n' | mq produce kafka://localhost:9092/orders --key-delimiter :
  mq consume kafka://localhost:9092/orders --from earliest --exit-at-end --format json
  echo hello | mq produce amqp://guest:guest@localhost:5672/%2f --routing-key orders
  mq consume amqp://guest:guest@localhost:5672/%2f --queue orders --count 1
  MQ_AMQP_PASSWORD=... mq consume 'amqps://alice@rabbit:5671/%2f?cacertfile=ca.pem' --queue orders
  mq consume kafka://broker:9093/orders --config client.properties --from earliest
  mq dead-letters list kafka://localhost:9092/orders.billing.dead
  mq decode amqp < capture.bin
  xxd capture.bin | mq decode kafka --hex

{}",
        exit_status_help()
    )
}

/// `mq`: the command line.
#[derive(Debug, Parser)]
#[command(
    name = "mq",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = top_after_help(),
    subcommand_required = true,
    disable_help_subcommand = true,
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read messages from stdin, one per line, and publish them.
    #[command(long_about = PRODUCE_ABOUT, after_help = PRODUCE_EXAMPLES)]
    Produce(ProduceArgs),
    /// Write messages from a topic or queue to stdout.
    #[command(long_about = CONSUME_ABOUT, after_help = CONSUME_EXAMPLES)]
    Consume(ConsumeArgs),
    /// List a Kafka cluster's topics with partitions, leaders and replicas.
    #[command(long_about = TOPICS_ABOUT, after_help = TOPICS_EXAMPLES)]
    Topics(TopicsArgs),
    /// Create or delete a Kafka topic.
    #[command(after_help = TOPIC_EXAMPLES, subcommand_required = true)]
    Topic(TopicArgs),
    /// List a Kafka cluster's groups.
    #[command(long_about = GROUPS_ABOUT, after_help = GROUPS_EXAMPLES)]
    Groups(GroupsArgs),
    /// Reset a Kafka group's offsets, or delete the group.
    #[command(after_help = GROUP_EXAMPLES, subcommand_required = true)]
    Group(GroupArgs),
    /// Show or change a Kafka topic's or broker's configs.
    #[command(after_help = CONFIG_EXAMPLES, subcommand_required = true)]
    Config(ConfigArgs),
    /// List, add or remove a Kafka cluster's ACLs.
    #[command(after_help = ACL_EXAMPLES, subcommand_required = true)]
    Acl(AclArgs),
    /// Declare a RabbitMQ exchange or queue.
    #[command(long_about = DECLARE_ABOUT, after_help = DECLARE_EXAMPLES)]
    Declare(DeclareArgs),
    /// List or replay the dead letters of an mq-service subscriber.
    #[command(
        long_about = dead_letters::DEAD_LETTERS_ABOUT,
        after_help = dead_letters::DEAD_LETTERS_EXAMPLES,
        subcommand_required = true
    )]
    DeadLetters(DeadLettersArgs),
    /// Measure produce and consume throughput and end-to-end latency.
    #[command(long_about = BENCH_ABOUT, after_help = BENCH_EXAMPLES)]
    Bench(BenchArgs),
    /// Print raw AMQP or Kafka bytes from stdin in readable form.
    #[command(long_about = DECODE_ABOUT, after_help = DECODE_EXAMPLES)]
    Decode(DecodeArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(CompletionsArgs),
}

/// The help on Kafka's connection settings, shared by every Kafka command.
macro_rules! kafka_connection_help {
    () => {
        "

Kafka connection settings (TLS, SASL, timeouts, client.id) are client
properties by the Java client's names, or librdkafka's: -X key=value
(repeatable) and --config FILE, a Java properties file (key=value or
key: value lines; lines starting with # or ! are comments; no escapes, no
line continuations). -X overrides the file. The URL names the brokers:
bootstrap.servers in the file is ignored. For example:
  security.protocol=SSL|SASL_SSL|SASL_PLAINTEXT
  ssl.truststore.location=ca.pem (PEM; librdkafka: ssl.ca.location)
  ssl.keystore.location=client.pem, or ssl.certificate.location and
    ssl.key.location, for a client certificate
  sasl.mechanism=PLAIN|SCRAM-SHA-256|SCRAM-SHA-512
  sasl.username=alice, sasl.password=... (or sasl.jaas.config=...)

Secrets need not be on the command line, where 'ps' shows them: in any
property value (-X or --config), ${env:NAME} is replaced by environment
variable NAME and ${file:PATH} by the contents of file PATH without its
trailing newline. With sasl.username and neither sasl.password nor
sasl.jaas.config, the password is taken from MQ_KAFKA_PASSWORD if it is
set. A TLS failure (an unknown CA, a name mismatch, an expired
certificate) exits with status 11, a refused login with 7; neither message
shows a secret."
    };
}

mod acl;
use acl::ACL_EXAMPLES;
pub(crate) use acl::{AclAction, AclAddArgs, AclArgs, AclListArgs, AclRemoveArgs, AclResource};
mod admin;
use admin::{CONFIG_EXAMPLES, GROUP_EXAMPLES, GROUPS_ABOUT, GROUPS_EXAMPLES};
pub(crate) use admin::{
    ConfigAction, ConfigArgs, ConfigGetArgs, ConfigSetArgs, GroupAction, GroupArgs,
    GroupDeleteArgs, GroupDescribeArgs, GroupResetArgs, GroupsArgs, ListFormat,
};
mod topics;

use topics::{TOPIC_EXAMPLES, TOPICS_ABOUT, TOPICS_EXAMPLES};
pub(crate) use topics::{TopicAction, TopicArgs, TopicCreateArgs, TopicDeleteArgs, TopicsArgs};

/// The help on `amqps://` and the AMQP password variable.
macro_rules! amqp_connection_help {
    () => {
        "

AMQP over TLS: amqps://host[:5671]/vhost, with RabbitMQ's URI parameters
cacertfile=ca.pem (trust this CA instead of the system's), certfile and
keyfile (a client certificate, PEM), verify=verify_peer|verify_none,
server_name_indication=NAME|disable and auth_mechanism=plain|amqplain|external
(external: log in as the client certificate's subject). With a user name
and no password in the URL (amqps://alice@host/vhost), the password is
taken from MQ_AMQP_PASSWORD if it is set, so it need not be on the
command line. -X and --config are Kafka's: AMQP settings are URI
parameters."
    };
}

const PRODUCE_ABOUT: &str = concat!(
    "\
Read messages from stdin, one per line, and publish them.

Each line is one message, without its newline and otherwise byte for byte
(bytes need not be UTF-8; an empty line is an empty message).

Kafka: each line is a record's value, or 'key<delimiter>value' with
--key-delimiter (a line without the delimiter is a value with no key).
--header values are bytes as given. Records go to --partition, else to the
partition of their key (murmur2, as Java's producer picks it) or, without a
key, to a sticky partition. The topic must exist: mq creates no topics by
producing (see 'mq topic create'). AMQP: each line is a message body, published to --exchange
(the default exchange when not given) with --routing-key; --header values
are strings. Publisher confirms are on unless --no-confirms, and every
confirm is awaited before mq exits.

The exit status is 9 if any message was not confirmed (AMQP: nacked,
returned with --mandatory, or lost with the connection) or not acknowledged
(Kafka: refused by the broker, too large, or timed out after 2 minutes of
retries; with --acks 0 only what could not be sent); the other messages are
still sent.",
    kafka_connection_help!(),
    amqp_connection_help!()
);

const PRODUCE_EXAMPLES: &str = "\
Examples:
  printf 'k1:v1\\nk2:v2\\n' | mq produce kafka://localhost:9092/orders --key-delimiter :
  seq 100 | mq produce kafka://localhost:9092/orders --compression zstd --acks all --header source=seq
  echo '{\"id\":1}' | mq produce amqp://guest:guest@localhost:5672/%2f --exchange orders --routing-key new --persistent
  seq 3 | mq produce amqp://guest:guest@localhost:5672/%2f --routing-key billing --mandatory --header source=seq
  echo hi | mq produce kafka://broker:9093/orders -X security.protocol=SSL -X ssl.truststore.location=ca.pem
  echo hi | mq produce kafka://broker:9094/orders --config client.properties -X 'sasl.password=${file:/run/secrets/kafka}'
  echo hi | MQ_AMQP_PASSWORD=... mq produce 'amqps://alice@rabbit/%2f?cacertfile=ca.pem' --routing-key orders";

/// `mq produce`.
#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// kafka://host:port/topic, amqp://user:pass@host:port/vhost or amqps://...
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Split each line at the first C into key and value.
    #[arg(long, value_name = "C")]
    pub(crate) key_delimiter: Option<String>,
    /// Add a header to every message (repeatable).
    #[arg(long = "header", value_name = "K=V", value_parser = parse_key_value)]
    pub(crate) headers: Vec<(String, String)>,
    /// Write to this partition instead of the partitioner's choice.
    #[arg(long, value_name = "N", value_parser = partition_index, help_heading = "Kafka")]
    pub(crate) partition: Option<i32>,
    /// Compress record batches with this codec [default: none].
    #[arg(long, value_name = "CODEC", help_heading = "Kafka")]
    pub(crate) compression: Option<CompressionArg>,
    /// Acknowledgements to wait for [default: all].
    #[arg(long, value_name = "ACKS", help_heading = "Kafka")]
    pub(crate) acks: Option<AcksArg>,
    /// The exchange to publish to [default: the default exchange].
    #[arg(long, value_name = "X", help_heading = "AMQP")]
    pub(crate) exchange: Option<String>,
    /// The routing key.
    #[arg(long, value_name = "K", help_heading = "AMQP")]
    pub(crate) routing_key: Option<String>,
    /// Fail the message if no queue is bound to take it.
    #[arg(long, help_heading = "AMQP")]
    pub(crate) mandatory: bool,
    /// Delivery mode 2, so durable queues keep the message on disk.
    #[arg(long, help_heading = "AMQP")]
    pub(crate) persistent: bool,
    /// Publish without waiting for publisher confirms.
    #[arg(long, help_heading = "AMQP")]
    pub(crate) no_confirms: bool,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `-X key=value` and `--config FILE`: Kafka client properties, on every
/// command that can speak Kafka.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ClientProps {
    /// A Kafka client property, such as security.protocol=SASL_SSL (repeatable; overrides --config).
    #[arg(
        short = 'X',
        long = "property",
        value_name = "KEY=VALUE",
        value_parser = parse_key_value,
        help_heading = "Kafka connection"
    )]
    pub(crate) properties: Vec<(String, String)>,
    /// Kafka client properties from a Java properties file (key=value lines).
    #[arg(
        long = "config",
        value_name = "FILE",
        help_heading = "Kafka connection"
    )]
    pub(crate) config: Option<PathBuf>,
}

const CONSUME_ABOUT: &str = concat!(
    "\
Write messages from a Kafka topic or a RabbitMQ queue to stdout.

Output is the raw payload per line (--format raw) or one JSON object per line
(--format json): topic or queue, partition, offset or delivery tag, key,
headers, timestamp, and the payload. The payload is \"value\" (a string)
when it is valid UTF-8, else \"value_base64\" (RFC 4648 base64): exactly
one of the two is present.

Kafka: every partition of the topic (or --partition N) is read from --from:
earliest, latest (the default) or an offset, which is moved into the range
the partition still holds. --exit-at-end stops once each partition has been
read up to the end it had when mq started (under read_committed, the
default, its last stable offset: a transaction still open there is not
waited for; under --isolation read_uncommitted its high watermark);
without it, and without --count,
mq waits for new records until it is stopped. JSON objects hold topic,
partition, offset, key (\"key\" as text, \"key_base64\", or null), headers (in
order, repeated keys kept; a value is text, {\"base64\": ...} when it is not
UTF-8, or null), timestamp (ms since the epoch, or null) and the payload
(null for a tombstone). Without --group no offsets are committed.
Transaction markers are not records: they are skipped.

Kafka with --group G: mq joins consumer group G and reads the partitions
the group assigns it, sharing the topic with the group's other members
(other mq, kcat -G, Java consumers). Each partition starts at the group's
committed offset; one with none starts at --from earliest or latest (the
default), as auto.offset.reset. --from OFFSET and --partition are refused
with --group: the group decides. Offsets are committed after the records
were written and stdout flushed (at-least-once), and on exit. --exit-at-end
stops once every partition assigned to mq has been read to the end it had
when it was assigned (a member assigned no partition waits). On --count,
--exit-at-end, a closed stdout, Ctrl-C or SIGTERM, mq commits and leaves
the group, so its partitions move to the other members at once.
--group-protocol consumer joins with the consumer protocol of KIP-848
(Kafka 4): the broker assigns the partitions and moves them one member at
a time.

Kafka with --share-group G (KIP-932, Kafka 4.1+): mq joins share group G,
whose members share the partitions record by record; each record is
accepted after it was written and stdout flushed (JSON objects add
\"delivery_count\"). A new group starts where its share.auto.offset.reset
config says (latest unless set), so --from, --partition, --exit-at-end
and --isolation are refused.

AMQP: deliveries are acknowledged after they are written and stdout is
flushed, so a message that could not be written goes back to the queue.
Without --count, mq consumes until it is stopped. JSON objects hold queue,
delivery_tag, redelivered, exchange, routing_key, headers (in order; a
string that is not UTF-8 and a byte array are {\"base64\": ...}), timestamp
(seconds, or null), properties (the other basic properties that are set)
and the payload.",
    kafka_connection_help!(),
    amqp_connection_help!()
);

const CONSUME_EXAMPLES: &str = "\
Examples:
  mq consume kafka://localhost:9092/orders --from earliest --exit-at-end
  mq consume kafka://localhost:9092/orders --partition 2 --from 1000 --count 10 --format json
  mq consume kafka://localhost:9092/orders --group billing --from earliest
  mq consume kafka://localhost:9092/orders --group billing --exit-at-end --format json
  mq consume kafka://localhost:9092/orders --group billing --group-protocol consumer
  mq consume kafka://localhost:9092/jobs --share-group workers --count 100 --format json
  mq consume amqp://guest:guest@localhost:5672/%2f --queue orders --prefetch 50
  mq consume amqp://guest:guest@localhost:5672/%2f --queue orders --count 10 --format json
  mq consume kafka://broker:9094/orders --config client.properties --from earliest --exit-at-end
  MQ_KAFKA_PASSWORD=... mq consume kafka://broker:9094/orders -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=alice -X ssl.truststore.location=ca.pem
  MQ_AMQP_PASSWORD=... mq consume 'amqps://alice@rabbit/%2f?cacertfile=ca.pem' --queue orders";

/// `mq consume`.
#[derive(Debug, Args)]
pub(crate) struct ConsumeArgs {
    /// kafka://host:port/topic, amqp://user:pass@host:port/vhost or amqps://...
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Stop after N messages.
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "raw")]
    pub(crate) format: OutputFormat,
    /// Consume as a member of this consumer group, committing offsets.
    #[arg(long, value_name = "G", help_heading = "Kafka")]
    pub(crate) group: Option<String>,
    /// The group's rebalance protocol, as Java's group.protocol: classic, or consumer (KIP-848, Kafka 4) [default: classic].
    #[arg(long, value_name = "P", value_parser = parse_group_protocol, requires = "group", help_heading = "Kafka")]
    pub(crate) group_protocol: Option<mq_client::kafka::GroupProtocol>,
    /// Consume as a member of this share group (Kafka 4.1+), accepting each record written.
    #[arg(long, value_name = "G", help_heading = "Kafka")]
    pub(crate) share_group: Option<String>,
    /// Where to start: earliest, latest or an offset (not with --group) [default: latest, or the group's offset].
    #[arg(long, value_name = "WHERE", value_parser = parse_start, help_heading = "Kafka")]
    pub(crate) from: Option<StartArg>,
    /// Exit once every partition (with --group: assigned to mq) is read to the end it had at the start.
    #[arg(long, help_heading = "Kafka")]
    pub(crate) exit_at_end: bool,
    /// Read this partition only [default: every partition of the topic].
    #[arg(long, value_name = "N", value_parser = partition_index, help_heading = "Kafka")]
    pub(crate) partition: Option<i32>,
    /// read_committed (records of aborted transactions are skipped, open ones waited for) or read_uncommitted (every record) [default: read_committed].
    #[arg(long, value_name = "LEVEL", value_parser = parse_isolation, help_heading = "Kafka")]
    pub(crate) isolation: Option<mq_client::kafka::IsolationLevel>,
    /// The queue to consume from.
    #[arg(long, value_name = "Q", help_heading = "AMQP")]
    pub(crate) queue: Option<String>,
    /// Unacknowledged deliveries allowed in flight (0: no limit) [default: 100, at most --count].
    #[arg(long, value_name = "N", help_heading = "AMQP")]
    pub(crate) prefetch: Option<u16>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

const DECLARE_ABOUT: &str = concat!(
    "\
Declare a RabbitMQ exchange (--exchange) or queue (--queue), and bind the
queue to an exchange (--bind). Declaring what already exists with the same
options succeeds; with other options the broker refuses it (exit status 10).

--argument values are typed: a whole number is sent as a 64-bit integer
(x-max-length=1000, x-message-ttl=60000), true and false as booleans, and
anything else as a string (x-queue-type=quorum, x-dead-letter-exchange=dlx);
a value in double quotes is always a string. Each step prints one line; a
queue declared with an empty name gets one from the server, shown there.",
    amqp_connection_help!()
);

const DECLARE_EXAMPLES: &str = "\
Examples:
  mq declare amqp://guest:guest@localhost:5672/%2f --exchange orders --type topic --durable
  mq declare amqp://guest:guest@localhost:5672/%2f --queue billing --durable --bind orders --routing-key 'order.*'
  mq declare amqp://guest:guest@localhost:5672/%2f --queue billing.q --argument x-queue-type=quorum --argument x-dead-letter-exchange=dlx --argument x-message-ttl=60000
  mq declare 'amqps://rabbit/%2f?cacertfile=ca.pem&certfile=me.pem&keyfile=me.key&auth_mechanism=external' --queue billing";

/// `mq declare`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["exchange", "queue"]))]
pub(crate) struct DeclareArgs {
    /// amqp://user:pass@host:port/vhost or amqps://...
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Declare this exchange.
    #[arg(long, value_name = "NAME")]
    pub(crate) exchange: Option<String>,
    /// Declare this queue.
    #[arg(long, value_name = "NAME")]
    pub(crate) queue: Option<String>,
    /// Exchange type.
    #[arg(
        long = "type",
        value_name = "TYPE",
        default_value = "direct",
        requires = "exchange"
    )]
    pub(crate) kind: ExchangeKind,
    /// Survive a broker restart.
    #[arg(long)]
    pub(crate) durable: bool,
    /// Delete when the last queue unbinds (exchange) or the last consumer leaves (queue).
    #[arg(long)]
    pub(crate) auto_delete: bool,
    /// Queue: only this connection may use it, and it goes away with it.
    #[arg(long, requires = "queue")]
    pub(crate) exclusive: bool,
    /// Queue: bind it to this exchange.
    #[arg(long, value_name = "EXCHANGE", requires = "queue")]
    pub(crate) bind: Option<String>,
    /// Queue: the binding's routing key (with --bind).
    #[arg(long, value_name = "K", requires = "bind")]
    pub(crate) routing_key: Option<String>,
    /// A declare argument, such as x-max-length=1000 (repeatable).
    #[arg(long = "argument", value_name = "K=V", value_parser = parse_key_value)]
    pub(crate) arguments: Vec<(String, String)>,
}

const BENCH_ABOUT: &str = concat!(
    "\
Measure produce (publish) and consume throughput and end-to-end latency.

Sends --count messages of --size bytes while consuming them back, and prints
a summary: msgs/s, MB/s, latency p50/p99/max and client CPU per message
(--json for machines). A progress bar runs on stderr meanwhile, when it is
a terminal. Without a topic (Kafka) or --queue (AMQP) a temporary one is
created and deleted; a --queue given must exist and be empty.

Kafka: the temporary topic has one partition; a topic in the URL must exist,
and is read from its end, so records already in it do not count. --window
bounds the records produced and not yet acknowledged; --compression and
--acks set the producer's codec and acknowledgements (with --acks all, the
default, the producer is idempotent).

Latency is end to end, publish to delivery: each message starts with a
16-byte stamp (run id, send time), so --size is at least 16. MB/s counts
payload bytes, 10^6 to the MB. CPU per message is the user plus system time
of the whole process (producer and consumer both run in it) over the count.
The exit status is 9 if any message was not confirmed or never arrived.",
    kafka_connection_help!(),
    amqp_connection_help!()
);

const BENCH_EXAMPLES: &str = "\
Examples:
  mq bench kafka://localhost:9092 --size 100 --count 1000000 --compression lz4
  mq bench amqp://guest:guest@localhost:5672/%2f --size 1024 --count 100000 --window 500 --json
  mq bench amqp://guest:guest@localhost:5672/%2f --count 10000 --window 100 --prefetch 50
  mq bench kafka://broker:9093 --config client.properties --count 100000
  mq bench 'amqps://guest:guest@localhost/%2f?cacertfile=ca.pem' --count 10000";

/// `mq bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// kafka://host:port[/topic], amqp://user:pass@host:port/vhost or amqps://...
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Message size in bytes (at least 16).
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub(crate) size: u32,
    /// Number of messages.
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: u64,
    /// Messages in flight: unconfirmed publishes (AMQP) or unacknowledged records (Kafka).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) window: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Compression codec [default: none].
    #[arg(long, value_name = "CODEC", help_heading = "Kafka")]
    pub(crate) compression: Option<CompressionArg>,
    /// Acknowledgements to wait for [default: all].
    #[arg(long, value_name = "ACKS", help_heading = "Kafka")]
    pub(crate) acks: Option<AcksArg>,
    /// The queue to use instead of a temporary one (it must be empty).
    #[arg(long, value_name = "Q", help_heading = "AMQP")]
    pub(crate) queue: Option<String>,
    /// Unacknowledged deliveries in flight [default: the window, at most 65535].
    #[arg(long, value_name = "N", help_heading = "AMQP")]
    pub(crate) prefetch: Option<u16>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

const DECODE_ABOUT: &str = "\
Print raw AMQP 0-9-1 or Kafka protocol bytes from stdin in readable form:
a dissector for debugging. One block per frame, request or response, each
starting with its byte offset in the input.

Input is binary, or hex text with --hex: whitespace, 0x prefixes, commas and
xxd's offsets and text column are ignored, so `xxd capture.bin` output works.

AMQP: client bytes start with the protocol header 'AMQP 0 0 9 1'; --direction
is taken from it when not given. Method arguments, content headers with their
properties and field tables, and bodies are shown.

Kafka: a stream of size-prefixed frames. Requests name their API and version;
a response does not, so it is matched by correlation id to a request earlier
in the same input (both directions interleaved, the default), or decoded as
--api NAME --version N. Record batches in Produce and Fetch are shown as
batch summaries with their records. --records reads a bare sequence of record
batches instead, such as a partition's .log segment file.

On malformed or truncated input, what decoded is printed, then one error line
naming the byte offset, and the exit status is 1. SASL passwords are shown
as ***.";

const DECODE_EXAMPLES: &str = "\
Examples:
  mq decode amqp < client-to-rabbitmq.bin
  mq decode amqp --direction server < rabbitmq-to-client.bin
  mq decode kafka < both-directions.bin
  mq decode kafka --direction server --api Metadata --version 12 < responses.bin
  mq decode kafka --records < /var/lib/kafka/orders-0/00000000000000000000.log
  echo '0000000a 0012 0000 00000001 ffff' | mq decode kafka --hex";

/// `mq decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The protocol of the bytes.
    #[arg(value_name = "PROTOCOL")]
    pub(crate) protocol: DecodeProtocol,
    /// Read hex text instead of binary.
    #[arg(long)]
    pub(crate) hex: bool,
    /// Whose bytes these are: the client's or the server's [default: detected].
    #[arg(long, value_name = "WHO")]
    pub(crate) direction: Option<Direction>,
    /// Decode responses with no matching request as this API (name or key).
    #[arg(
        long,
        value_name = "NAME",
        requires = "api_version",
        help_heading = "Kafka"
    )]
    pub(crate) api: Option<String>,
    /// The API version of those responses.
    #[arg(
        long = "version",
        id = "api_version",
        value_name = "N",
        requires = "api",
        help_heading = "Kafka"
    )]
    pub(crate) api_version: Option<i16>,
    /// The input is a sequence of record batches (a log segment), not frames.
    #[arg(long, help_heading = "Kafka", conflicts_with_all = ["direction", "api"])]
    pub(crate) records: bool,
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  mq completions bash > ~/.local/share/bash-completion/completions/mq
  mq completions zsh > ~/.zfunc/_mq
  mq completions fish > ~/.config/fish/completions/mq.fish";

/// `mq completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub(crate) shell: ShellArg,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ShellArg {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// The friendly interactive shell.
    Fish,
}

/// Protocols `mq decode` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DecodeProtocol {
    /// AMQP 0-9-1 (RabbitMQ).
    Amqp,
    /// The Kafka wire protocol.
    Kafka,
}

/// Whose bytes `mq decode` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Direction {
    /// Sent by the client (AMQP: starts with the protocol header; Kafka: requests).
    Client,
    /// Sent by the broker (Kafka: responses).
    Server,
}

/// Kafka compression codecs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressionArg {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Kafka producer acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AcksArg {
    /// Do not wait for the broker.
    #[value(name = "0")]
    None,
    /// The leader has written it.
    #[value(name = "1")]
    Leader,
    /// Every in-sync replica has written it.
    All,
}

/// RabbitMQ exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExchangeKind {
    /// Routing key equals binding key.
    Direct,
    /// Every bound queue.
    Fanout,
    /// Routing key matches a pattern.
    Topic,
    /// Message headers match.
    Headers,
}

/// `mq consume --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// The payload, one message per line.
    Raw,
    /// One JSON object per message per line.
    Json,
}

/// Where a Kafka consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartArg {
    /// The oldest offset kept.
    Earliest,
    /// After the newest record.
    Latest,
    /// This offset.
    Offset(u64),
}

fn parse_start(s: &str) -> Result<StartArg, String> {
    match s {
        "earliest" | "beginning" => Ok(StartArg::Earliest),
        "latest" | "end" => Ok(StartArg::Latest),
        n => n
            .parse()
            .map(StartArg::Offset)
            .map_err(|_| "expected earliest, latest or an offset (a whole number)".to_owned()),
    }
}

/// Java's `isolation.level` values.
fn parse_group_protocol(s: &str) -> Result<mq_client::kafka::GroupProtocol, String> {
    mq_client::kafka::GroupProtocol::from_name(s)
        .ok_or_else(|| "expected classic or consumer".to_owned())
}

fn parse_isolation(s: &str) -> Result<mq_client::kafka::IsolationLevel, String> {
    s.parse()
        .map_err(|_| "expected read_committed or read_uncommitted".to_owned())
}

/// A partition index: 0 to 2^31 - 1, as Kafka's int32 holds it.
fn partition_index(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err("expected a partition index: a whole number from 0".to_owned()),
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_has_examples() {
        let cmd = Cli::command();
        let mut stack = vec![cmd];
        let mut seen = 0;
        while let Some(mut c) = stack.pop() {
            let help = c.render_long_help().to_string();
            assert!(help.contains("Example"), "{}: {help}", c.get_name());
            seen += 1;
            stack.extend(c.get_subcommands().cloned());
        }
        // mq, its 13 commands, and the subcommands of topic, dead-letters,
        // group, config and acl.
        assert_eq!(seen, 1 + 13 + 2 + 2 + 3 + 2 + 3);
    }

    #[test]
    fn the_connection_help_names_the_real_exit_statuses() {
        use crate::error::Failure;
        let help = kafka_connection_help!();
        assert!(help.contains(&format!("exits with status {}", Failure::Tls.exit_code())));
        assert!(help.contains(&format!(
            "a refused login with {};",
            Failure::Auth.exit_code()
        )));
    }

    #[test]
    fn start_and_key_values_parse() {
        assert_eq!(parse_start("earliest"), Ok(StartArg::Earliest));
        assert_eq!(parse_start("latest"), Ok(StartArg::Latest));
        assert_eq!(parse_start("42"), Ok(StartArg::Offset(42)));
        assert!(parse_start("-1").is_err());
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
    }
}
