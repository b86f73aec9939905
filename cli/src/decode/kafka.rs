//! `mq decode kafka`: size-prefixed requests and responses.
//!
//! Frames are split off by `kafka_proto`'s [`FrameDecoder`]. A request's
//! header names its API and version; its body is decoded with
//! [`AnyRequest::decode`]. A response says only its correlation id, so it is
//! decoded ([`AnyResponse::decode`]) as the answer to the request with that
//! id seen earlier in the input, or as `--api NAME --version N`. With no
//! `--direction`, both directions may be interleaved: a frame whose id
//! matches an unanswered request and that decodes as its response is that
//! response; otherwise it is read as a request.
//!
//! A request of an API or version `kafka_proto` does not implement is shown
//! with its header and raw body, and its response likewise; that is not an
//! error. Malformed bytes are.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_proto::api::{AnyRequest, AnyResponse, ApiKey, SUPPORTED_APIS, all_schemas};
use kafka_proto::connection::FrameDecoder;
use kafka_proto::header::{RequestHeader, ResponseHeader, response_header_version};
use kafka_proto::schema::StructMeta;
use kafka_proto::{DecodeError, DecodeErrorKind};

use super::kafka_fields::{Walk, WalkError};
use super::text::{Block, Payload, quote};
use super::{Sink, malformed, truncated};
use crate::cli::Direction;
use crate::error::CliError;

/// How `mq decode kafka` reads frames.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// Requests only, responses only, or both (`None`).
    pub(crate) direction: Option<Direction>,
    /// The API and version of responses that match no request.
    pub(crate) api: Option<(ApiKey, i16)>,
}

/// Reads `--api NAME --version N`: a name as Kafka spells it (any case,
/// `-` and `_` ignored) or an API key number.
pub(crate) fn parse_api(name: &str, version: i16) -> Result<(ApiKey, i16), CliError> {
    let wanted: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .collect::<String>()
        .to_ascii_lowercase();
    let support = SUPPORTED_APIS.iter().find(|s| {
        s.api_key.name().to_ascii_lowercase() == wanted
            || name.parse::<i16>().ok() == Some(s.api_key.0)
    });
    let Some(support) = support else {
        let known: Vec<&str> = SUPPORTED_APIS.iter().map(|s| s.api_key.name()).collect();
        return Err(CliError::usage(format!(
            "unknown Kafka API '{}'; known: {}",
            name.escape_debug(),
            known.join(", ")
        )));
    };
    if !(support.min_version..=support.max_version).contains(&version) {
        return Err(CliError::usage(format!(
            "{} versions {}..={} can be decoded, not {version}",
            support.api_key.name(),
            support.min_version,
            support.max_version
        )));
    }
    Ok((support.api_key, version))
}

/// The largest frame read: what the 4-byte size can say.
const MAX_FRAME: usize = i32::MAX as usize;

/// Decodes a Kafka byte stream.
pub(crate) fn decode(input: Bytes, opts: &Options, sink: &mut Sink<'_>) -> Result<(), CliError> {
    let total = input.len();
    let mut buf = BytesMut::from(&input[..]);
    let mut d = Dissector {
        origin: buf.as_ptr() as usize,
        schemas: all_schemas()
            .into_iter()
            .map(|(support, req, resp)| (support.api_key, (req, resp)))
            .collect(),
        pending: HashMap::new(),
        opts: *opts,
    };
    let mut frames = FrameDecoder::new(MAX_FRAME);
    while !buf.is_empty() {
        let offset = total - buf.len();
        // Check for a partial frame first: the decoder would reserve room
        // for all of it.
        if let Some(size) = buf.first_chunk::<4>().map(|s| i32::from_be_bytes(*s)) {
            if let Ok(size) = usize::try_from(size) {
                if buf.len() - 4 < size {
                    let need = format!("the frame's size prefix says {size} bytes follow");
                    return Err(truncated(offset, &need, buf.len() - 4));
                }
            }
        } else {
            return Err(truncated(
                offset,
                "a frame's size prefix needs 4 bytes",
                buf.len(),
            ));
        }
        match frames.decode(&mut buf) {
            Ok(Some(frame)) => d.frame(offset, frame, sink)?,
            // Cannot happen: the whole frame is there.
            Ok(None) => return Err(truncated(offset, "the frame is incomplete", buf.len())),
            Err(e) => return Err(malformed("Kafka frame", offset, e.kind)),
        }
    }
    Ok(())
}

/// A request that is waiting for its response.
#[derive(Debug, Clone, Copy)]
struct Pending {
    api: ApiKey,
    version: i16,
}

/// Why a frame did not decode as what it was tried as: where (from the
/// start of the frame, after its size prefix) and what.
struct Fault {
    at: usize,
    what: String,
    why: String,
}

struct Dissector {
    origin: usize,
    schemas: HashMap<ApiKey, (StructMeta, StructMeta)>,
    pending: HashMap<i32, Pending>,
    opts: Options,
}

/// A frame read as a request, and what is known about that reading.
struct RequestTry {
    decoded: Decoded,
    /// `kafka_proto` implements the API and version, and decoded the body.
    supported: bool,
    /// Bytes after the decoded body.
    trailing: usize,
    /// The header looks like a client's.
    plausible: bool,
    /// The correlation id and request whose response will follow.
    waits: Option<(i32, Pending)>,
}

/// A frame read as a request or response, ready to print.
struct Decoded {
    block: Block,
    /// A malformed record batch found while printing it.
    records_error: Option<CliError>,
}

impl Dissector {
    /// Decodes and prints one frame that starts at `offset` (its size prefix).
    fn frame(&mut self, offset: usize, frame: Bytes, sink: &mut Sink<'_>) -> Result<(), CliError> {
        let fault = |f: Fault| malformed(&f.what, offset + 4 + f.at, f.why);
        let decoded = match self.opts.direction {
            Some(Direction::Client) => {
                let r = self.request(offset, &frame).map_err(fault)?;
                self.accept(r)
            }
            Some(Direction::Server) => {
                let Some((api, version)) = self.opts.api else {
                    return Err(CliError::usage("responses need --api NAME --version N"));
                };
                self.response(offset, &frame, Pending { api, version })
                    .map_err(fault)?
            }
            None => self.either(offset, &frame).map_err(fault)?,
        };
        sink.block(&decoded.block)?;
        match decoded.records_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A frame of a stream with both directions: a response to an
    /// unanswered request, else a request that decodes whole, else a
    /// response as `--api` says, else a request of an API or version that
    /// is not implemented but whose header looks like a client's.
    fn either(&mut self, offset: usize, frame: &Bytes) -> Result<Decoded, Fault> {
        let correlation_id = frame.first_chunk::<4>().map(|c| i32::from_be_bytes(*c));
        let pending = correlation_id.and_then(|id| self.pending.get(&id).copied());
        let response_fault = match pending {
            Some(p) => match self.response(offset, frame, p) {
                Ok(decoded) => return Ok(decoded),
                Err(fault) => Some(fault),
            },
            None => None,
        };
        let request = match self.request(offset, frame) {
            Ok(r) if r.supported && r.trailing == 0 => return Ok(self.accept(r)),
            other => other,
        };
        let api_fault = match self.opts.api {
            Some((api, version)) => match self.response(offset, frame, Pending { api, version }) {
                Ok(decoded) => return Ok(decoded),
                Err(fault) => Some(fault),
            },
            None => None,
        };
        let request_fault = match request {
            Ok(r) if r.supported || r.plausible => return Ok(self.accept(r)),
            Ok(r) => Fault {
                at: 0,
                what: "Kafka frame".to_owned(),
                why: format!(
                    "reads neither as a response nor as a request (its header would say {})",
                    r.decoded.block.texts().next().unwrap_or_default()
                ),
            },
            Err(fault) => fault,
        };
        match response_fault.or(api_fault) {
            // A matched response that did not decode is the likelier story.
            Some(fault) => Err(fault),
            None => Err(Fault {
                why: format!(
                    "{}; nor does it answer an earlier request (correlation id {})",
                    request_fault.why,
                    correlation_id.unwrap_or_default()
                ),
                ..request_fault
            }),
        }
    }

    /// A request frame: decoded, or shown raw if its API or version is not
    /// one `kafka_proto` implements. Nothing is remembered until the caller
    /// [`accept`](Dissector::accept)s it.
    fn request(&self, offset: usize, frame: &Bytes) -> Result<RequestTry, Fault> {
        let mut buf = frame.clone();
        let header = RequestHeader::decode_any(&mut buf).map_err(|e| Fault {
            at: e.offset.unwrap_or(0),
            what: "Kafka request header".to_owned(),
            why: describe(&e),
        })?;
        let header_len = frame.len() - buf.len();
        let api = header.request_api_key;
        let version = header.request_api_version;
        let what = format!("Kafka {} v{version} request", api.name());
        let mut body = buf.clone();
        let mut block = Block::new(
            offset,
            format_args!(
                "request {} v{version}, correlation id {}, client id {} ({} bytes)",
                api_name(api),
                header.correlation_id,
                header
                    .client_id
                    .as_deref()
                    .map_or_else(|| "null".to_owned(), |c| quote(c.as_bytes())),
                frame.len()
            ),
        );
        let mut expects_response = true;
        let mut supported = true;
        let records_error = match AnyRequest::decode(api, version, &mut body) {
            Ok(request) => {
                if let AnyRequest::Produce(p) = &request {
                    expects_response = p.acks != 0;
                }
                let schema = self.schemas.get(&api).map(|(req, _)| req);
                let walk = Walk {
                    version,
                    flexible: is_flexible(api, version),
                    origin: self.origin,
                    secret_auth: api == ApiKey::SASL_AUTHENTICATE,
                };
                let error = self.walk(&mut block, schema, &walk, &mut buf, &what, header_len)?;
                trailing(&mut block, buf.len());
                error
            }
            Err(e) if unsupported(&e) => {
                supported = false;
                not_decoded(&mut block, &e, &buf);
                None
            }
            Err(e) => {
                return Err(Fault {
                    at: header_len + e.offset.unwrap_or(0),
                    what,
                    why: describe(&e),
                });
            }
        };
        // A real client's id is text; a response read as a request header
        // rarely has one that is.
        let plausible = api.0 >= 0
            && version >= 0
            && header
                .client_id
                .as_deref()
                .is_none_or(|c| !c.chars().any(char::is_control));
        Ok(RequestTry {
            decoded: Decoded {
                block,
                records_error,
            },
            supported,
            trailing: buf.len(),
            plausible,
            waits: expects_response.then_some((header.correlation_id, Pending { api, version })),
        })
    }

    /// Takes `r` as the frame's reading, remembering the response it waits for.
    fn accept(&mut self, r: RequestTry) -> Decoded {
        if let Some((id, pending)) = r.waits {
            self.pending.insert(id, pending);
        }
        r.decoded
    }

    /// A response frame, as the answer to `to`.
    fn response(&mut self, offset: usize, frame: &Bytes, to: Pending) -> Result<Decoded, Fault> {
        let Pending { api, version } = to;
        let what = format!("Kafka {} v{version} response", api.name());
        let mut buf = frame.clone();
        let header = ResponseHeader::decode(&mut buf, response_header_version(api, version))
            .map_err(|e| Fault {
                at: e.offset.unwrap_or(0),
                what: what.clone(),
                why: describe(&e),
            })?;
        let header_len = frame.len() - buf.len();
        let mut block = Block::new(
            offset,
            format_args!(
                "response {} v{version}, correlation id {} ({} bytes)",
                api_name(api),
                header.correlation_id,
                frame.len()
            ),
        );
        let mut body = buf.clone();
        let records_error = match AnyResponse::decode(api, version, &mut body) {
            Ok(_) => {
                if self.opts.direction.is_none() && !body.is_empty() {
                    // Interleaved: a response with bytes left over is not
                    // this request's; let the caller try it as a request.
                    return Err(Fault {
                        at: frame.len() - body.len(),
                        what,
                        why: format!("{} bytes after the body", body.len()),
                    });
                }
                let schema = self.schemas.get(&api).map(|(_, resp)| resp);
                let walk = Walk {
                    version,
                    flexible: is_flexible(api, version),
                    origin: self.origin,
                    secret_auth: false,
                };
                let error = self.walk(&mut block, schema, &walk, &mut buf, &what, header_len)?;
                trailing(&mut block, buf.len());
                error
            }
            Err(e) if unsupported(&e) => {
                not_decoded(&mut block, &e, &buf);
                None
            }
            Err(e) => {
                return Err(Fault {
                    at: header_len + e.offset.unwrap_or(0),
                    what,
                    why: describe(&e),
                });
            }
        };
        if self
            .pending
            .get(&header.correlation_id)
            .is_some_and(|p| p.api == api)
        {
            self.pending.remove(&header.correlation_id);
        }
        Ok(Decoded {
            block,
            records_error,
        })
    }

    /// Prints a body's fields; a malformed record batch inside is returned
    /// to be reported after the block.
    fn walk(
        &self,
        block: &mut Block,
        schema: Option<&StructMeta>,
        walk: &Walk,
        buf: &mut Bytes,
        what: &str,
        header_len: usize,
    ) -> Result<Option<CliError>, Fault> {
        let Some(schema) = schema else {
            return Ok(None);
        };
        match walk.fields(block, 1, schema, buf) {
            Ok(()) => Ok(None),
            Err(WalkError::Records(e)) => {
                block.line(1, "(stopped at a malformed record batch)");
                Ok(Some(e))
            }
            // The typed decoder accepted these bytes; the schema walk
            // should too. If not, say so rather than print half.
            Err(WalkError::Field(e)) => Err(Fault {
                at: header_len + e.offset.unwrap_or(0),
                what: what.to_owned(),
                why: format!("{} (while printing it)", describe(&e)),
            }),
        }
    }
}

/// Whether `version` of `api` uses the flexible encoding.
fn is_flexible(api: ApiKey, version: i16) -> bool {
    SUPPORTED_APIS
        .iter()
        .find(|s| s.api_key == api)
        .and_then(|s| s.flexible_version)
        .is_some_and(|f| version >= f)
}

/// `Metadata`, or `key 68` for an API this crate does not know.
fn api_name(api: ApiKey) -> String {
    match api.name() {
        "Unknown" => format!("(API key {})", api.0),
        name => name.to_owned(),
    }
}

/// An API or version that `kafka_proto` does not implement: not malformed.
fn unsupported(e: &DecodeError) -> bool {
    matches!(
        e.kind,
        DecodeErrorKind::UnknownApiKey(_) | DecodeErrorKind::UnsupportedVersion { .. }
    )
}

/// The reason a body was not decoded, and the body.
fn not_decoded(block: &mut Block, e: &DecodeError, body: &Bytes) {
    block.field(1, "body not decoded", &e.kind);
    block.field(1, "body", Payload(body));
}

/// Notes bytes left after a decoded body.
fn trailing(block: &mut Block, left: usize) {
    if left > 0 {
        block.line(1, format_args!("({left} bytes after the body)"));
    }
}

/// What went wrong, and in which field.
fn describe(e: &DecodeError) -> String {
    match e.field {
        Some(field) => format!("{} in {field}", e.kind),
        None => e.kind.to_string(),
    }
}
