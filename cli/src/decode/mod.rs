//! `mq decode amqp|kafka`: a dissector for raw protocol bytes on stdin.
//!
//! The input is read whole (binary, or hex text with `--hex`), then split
//! into frames by the protocol cores' own decoders. Each frame, request or
//! response becomes one [`Block`]: a title line `[offset] what`, and its
//! fields indented below. Blocks are written as they are decoded, so when
//! the input turns out malformed or truncated, everything before the fault
//! has been printed; then one error line names the byte offset.
//!
//! - [`amqp`]: protocol header and frames.
//! - [`kafka`]: size-prefixed requests and responses, matched by
//!   correlation id.
//! - [`kafka_fields`]: a message's fields, read with the schema metadata of
//!   `kafka_proto`.
//! - [`records`]: record batches (in Produce, Fetch, or `--records` input).
//! - [`hex`]: `--hex` input.
//! - [`text`]: how values are written.

use std::fmt::Display;
use std::io::Read;

use bytes::Bytes;

use crate::cli::{DecodeArgs, DecodeProtocol, Direction};
use crate::error::CliError;
use crate::output::Output;

mod amqp;
mod hex;
mod kafka;
mod kafka_fields;
mod records;
mod text;

use text::Block;

/// Runs `mq decode`.
pub(crate) fn run(args: &DecodeArgs, out: &mut Output) -> Result<(), CliError> {
    let kafka_opts = check(args)?;
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut raw)
        .map_err(|e| CliError::io("read stdin", &e))?;
    if args.hex {
        raw = hex::parse(&raw)?;
    }
    let input = Bytes::from(raw);
    let mut sink = Sink { out, blocks: 0 };
    match (args.protocol, kafka_opts) {
        (DecodeProtocol::Amqp, _) => amqp::decode(input, args.direction, &mut sink),
        (DecodeProtocol::Kafka, _) if args.records => records::decode_log(input, &mut sink),
        (DecodeProtocol::Kafka, opts) => kafka::decode(input, &opts, &mut sink),
    }
}

/// Checks the option combinations clap cannot, and reads `--api`.
fn check(args: &DecodeArgs) -> Result<kafka::Options, CliError> {
    if args.protocol == DecodeProtocol::Amqp {
        let kafka_only = [
            ("--api", args.api.is_some()),
            ("--version", args.api_version.is_some()),
            ("--records", args.records),
        ];
        if let Some((name, _)) = kafka_only.iter().find(|(_, given)| *given) {
            return Err(CliError::usage(format!(
                "{name} applies to 'mq decode kafka' only"
            )));
        }
    }
    let api = match (&args.api, args.api_version) {
        (Some(name), Some(version)) => Some(kafka::parse_api(name, version)?),
        _ => None,
    };
    if args.protocol == DecodeProtocol::Kafka
        && args.direction == Some(Direction::Server)
        && api.is_none()
    {
        return Err(CliError::usage(
            "Kafka responses do not say which API they answer: add --api NAME --version N, \
             or decode both directions together",
        ));
    }
    Ok(kafka::Options {
        direction: args.direction,
        api,
    })
}

/// Where decoded blocks go: stdout, a blank line between blocks.
pub(crate) struct Sink<'a> {
    out: &'a mut Output,
    blocks: usize,
}

impl Sink<'_> {
    /// Writes one block.
    pub(crate) fn block(&mut self, block: &Block) -> Result<(), CliError> {
        if self.blocks > 0 {
            self.out.line("")?;
        }
        self.blocks += 1;
        for line in block.rendered() {
            self.out.line(&line)?;
        }
        Ok(())
    }
}

/// Input that is not the protocol: what, where, why.
pub(crate) fn malformed(what: &str, offset: usize, why: impl Display) -> CliError {
    CliError::input(format!("malformed {what} at byte {offset}: {why}"))
}

/// Input that ends inside something: where it starts, what it needs, and
/// how many bytes were left.
pub(crate) fn truncated(offset: usize, need: &str, left: usize) -> CliError {
    let left = match left {
        0 => "none are left".to_owned(),
        1 => "only 1 byte is left".to_owned(),
        n => format!("only {n} are left"),
    };
    CliError::input(format!("truncated input at byte {offset}: {need}, {left}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;

    fn file(path: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Decodes `input` into nothing; a failure must be bad input, never a
    /// panic or anything else.
    fn survives(protocol: DecodeProtocol, records: bool, input: &[u8]) {
        let mut out = Output::to(Box::new(std::io::sink()));
        let mut sink = Sink {
            out: &mut out,
            blocks: 0,
        };
        let input = Bytes::copy_from_slice(input);
        let opts = kafka::Options {
            direction: None,
            api: Some((kafka_proto::ApiKey::METADATA, 12)),
        };
        let result = match protocol {
            DecodeProtocol::Amqp => amqp::decode(input, None, &mut sink),
            DecodeProtocol::Kafka if records => records::decode_log(input, &mut sink),
            DecodeProtocol::Kafka => kafka::decode(input, &opts, &mut sink),
        };
        if let Err(e) = result {
            assert_eq!(e.kind(), Failure::BadInput, "{e}");
        }
    }

    /// Every prefix of the captures, and each with one byte flipped at
    /// every position, decodes or fails cleanly.
    #[test]
    fn cut_and_corrupted_captures_never_panic() {
        let cases = [
            (
                DecodeProtocol::Amqp,
                false,
                file("cli/tests/data/amqp-publish.client.bin"),
            ),
            (
                DecodeProtocol::Amqp,
                false,
                file("cli/tests/data/amqp-consume.server.bin"),
            ),
            (
                DecodeProtocol::Kafka,
                false,
                file("cli/tests/data/kcat-produce.bin"),
            ),
            (
                DecodeProtocol::Kafka,
                false,
                file("cli/tests/data/kcat-consume.bin"),
            ),
            (
                DecodeProtocol::Kafka,
                true,
                file("kafka-proto/tests/data/records/java-txn-lz4.log"),
            ),
            (
                DecodeProtocol::Kafka,
                true,
                file("kafka-proto/tests/data/records/java-legacy-v1-gzip.log"),
            ),
        ];
        for (protocol, records, input) in &cases {
            for cut in 0..=input.len() {
                survives(*protocol, *records, &input[..cut]);
            }
            let mut corrupt = input.clone();
            for i in 0..corrupt.len() {
                for flip in [0x01, 0x80, 0xff] {
                    corrupt[i] ^= flip;
                    survives(*protocol, *records, &corrupt);
                    corrupt[i] ^= flip;
                }
            }
        }
    }
}
