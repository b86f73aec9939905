//! A Kafka message's fields, printed in wire order with their schema names.
//!
//! The message has already been decoded by `kafka_proto` (which is what
//! says whether it is valid); this reads the same bytes again, guided by the
//! message's [`StructMeta`] (the field list the crate's DSL declares, with
//! versions, nullability and tags) and using `kafka_proto`'s primitive
//! readers, so that every field present in the message's version is shown
//! under its name, tagged fields included, and unknown tags too.

use bytes::Bytes;
use kafka_proto::api::ApiKey;
use kafka_proto::primitives as p;
use kafka_proto::schema::{StructMeta, TypeMeta, Versions};
use kafka_proto::{DecodeError, DecodeErrorKind, ErrorCode};

use super::records;
use super::text::{Block, Payload, quote};
use crate::error::CliError;

/// Arrays of structs whose elements fit one line this long are shown one
/// element per line.
const ONE_LINE: usize = 110;

/// What the walk needs besides the bytes.
pub(crate) struct Walk {
    /// The message version.
    pub(crate) version: i16,
    /// Whether the version is flexible.
    pub(crate) flexible: bool,
    /// Address of the input's first byte, to turn slices into offsets.
    pub(crate) origin: usize,
    /// The body is a SaslAuthenticate request, whose bytes hold a password.
    pub(crate) secret_auth: bool,
}

/// A failure while walking: the bytes did not read as the schema says, or
/// a record batch inside was malformed.
pub(crate) enum WalkError {
    /// A field did not read.
    Field(DecodeError),
    /// A record batch is malformed (already a full message).
    Records(CliError),
}

impl From<DecodeError> for WalkError {
    fn from(e: DecodeError) -> Self {
        WalkError::Field(e)
    }
}

type Result<T> = std::result::Result<T, WalkError>;

fn contains(range: Option<&str>, version: i16) -> bool {
    range.is_some_and(|r| Versions::parse(r).contains(version))
}

impl Walk {
    /// Prints the fields of `meta` read from the front of `buf` at `depth`.
    pub(crate) fn fields(
        &self,
        block: &mut Block,
        depth: usize,
        meta: &StructMeta,
        buf: &mut Bytes,
    ) -> Result<()> {
        let v = self.version;
        for f in &meta.fields {
            if !contains(Some(f.versions), v) || contains(f.tagged_versions, v) {
                continue;
            }
            let nullable = contains(f.nullable_versions, v);
            self.value(block, depth, f.name, &f.ty, nullable, buf)
                .map_err(|e| match e {
                    WalkError::Field(e) => WalkError::Field(e.in_field(f.name)),
                    other => other,
                })?;
        }
        if self.flexible {
            let count = p::read_tagged_count(buf)?;
            for _ in 0..count {
                let raw = p::read_tagged_field(buf)?;
                let known = meta.fields.iter().find(|f| {
                    f.tag == Some(raw.tag)
                        && contains(f.tagged_versions, v)
                        && contains(Some(f.versions), v)
                });
                match known {
                    Some(f) => {
                        let mut data = raw.data.clone();
                        let name = format!("{} (tag {})", f.name, raw.tag);
                        let nullable = contains(f.nullable_versions, v);
                        self.value(block, depth, &name, &f.ty, nullable, &mut data)?;
                    }
                    None => block.field(
                        depth,
                        &format!("unknown tagged field {}", raw.tag),
                        Payload(&raw.data),
                    ),
                }
            }
        }
        Ok(())
    }

    /// Prints one value of type `ty`, named `name`.
    fn value(
        &self,
        block: &mut Block,
        depth: usize,
        name: &str,
        ty: &TypeMeta,
        nullable: bool,
        buf: &mut Bytes,
    ) -> Result<()> {
        let flexible = self.flexible;
        let shown = match ty {
            TypeMeta::Struct(meta) => {
                if nullable && p::read_i8(buf)? == -1 {
                    block.field(depth, name, "null");
                    return Ok(());
                }
                let mut inner = Block::default();
                self.fields(&mut inner, 0, meta, buf)?;
                block.line(depth, format_args!("{name}:"));
                block.append(depth + 1, inner);
                return Ok(());
            }
            TypeMeta::Array(inner) => {
                let Some(n) = p::read_array_len(buf, flexible)? else {
                    if nullable {
                        block.field(depth, name, "null");
                        return Ok(());
                    }
                    return Err(DecodeError::new(DecodeErrorKind::UnexpectedNull).into());
                };
                return self.array(block, depth, name, inner, n, buf);
            }
            TypeMeta::Records => {
                let blob = if nullable {
                    p::read_nullable_bytes(buf, flexible)?
                } else {
                    Some(p::read_bytes(buf, flexible)?)
                };
                match blob {
                    None => block.field(depth, name, "null"),
                    Some(blob) => {
                        let at = (blob.as_ptr() as usize).saturating_sub(self.origin);
                        records::render(block, depth, name, &blob, at)
                            .map_err(WalkError::Records)?;
                    }
                }
                return Ok(());
            }
            _ => self.scalar(name, ty, nullable, buf)?,
        };
        block.field(depth, name, shown);
        Ok(())
    }

    /// An array: scalars inline, structs one per line when they fit, or
    /// nested.
    fn array(
        &self,
        block: &mut Block,
        depth: usize,
        name: &str,
        inner: &TypeMeta,
        n: usize,
        buf: &mut Bytes,
    ) -> Result<()> {
        if n == 0 {
            block.field(depth, name, "[]");
            return Ok(());
        }
        match inner {
            TypeMeta::Struct(meta) => {
                block.line(depth, format_args!("{name}: [{n}]"));
                for i in 0..n {
                    let mut element = Block::default();
                    self.fields(&mut element, 0, meta, buf)?;
                    let joined = element.texts().collect::<Vec<_>>().join(", ");
                    if element.is_flat() && joined.len() <= ONE_LINE {
                        block.line(depth + 1, format_args!("[{i}] {joined}"));
                    } else {
                        block.line(depth + 1, format_args!("[{i}]"));
                        block.append(depth + 2, element);
                    }
                }
            }
            TypeMeta::Array(_) | TypeMeta::Records => {
                block.line(depth, format_args!("{name}: [{n}]"));
                for i in 0..n {
                    self.value(block, depth + 1, &format!("[{i}]"), inner, false, buf)?;
                }
            }
            scalar => {
                let mut items = Vec::with_capacity(n.min(256));
                for _ in 0..n {
                    items.push(self.scalar(name, scalar, false, buf)?);
                }
                block.field(depth, name, format_args!("[{}]", items.join(", ")));
            }
        }
        Ok(())
    }

    /// A value that fits on one line.
    fn scalar(&self, name: &str, ty: &TypeMeta, nullable: bool, buf: &mut Bytes) -> Result<String> {
        let flexible = self.flexible;
        Ok(match ty {
            TypeMeta::Bool => p::read_bool(buf)?.to_string(),
            TypeMeta::Int8 => p::read_i8(buf)?.to_string(),
            TypeMeta::Int16 => {
                let v = p::read_i16(buf)?;
                if name.ends_with("error_code") {
                    format!("{v} ({})", ErrorCode(v).name())
                } else if name.ends_with("api_key") && ApiKey(v).name() != "Unknown" {
                    format!("{v} ({})", ApiKey(v).name())
                } else {
                    v.to_string()
                }
            }
            TypeMeta::Int32 => p::read_i32(buf)?.to_string(),
            TypeMeta::Int64 => p::read_i64(buf)?.to_string(),
            TypeMeta::Uint16 => p::read_u16(buf)?.to_string(),
            TypeMeta::Uint32 => p::read_u32(buf)?.to_string(),
            TypeMeta::Float64 => p::read_f64(buf)?.to_string(),
            TypeMeta::Uuid => p::read_uuid(buf)?.to_string(),
            TypeMeta::String => {
                let s = if nullable {
                    p::read_nullable_string(buf, flexible)?
                } else {
                    Some(p::read_string(buf, flexible)?)
                };
                s.map_or_else(|| "null".to_owned(), |s| quote(s.as_bytes()))
            }
            TypeMeta::Bytes => {
                let b = if nullable {
                    p::read_nullable_bytes(buf, flexible)?
                } else {
                    Some(p::read_bytes(buf, flexible)?)
                };
                match b {
                    None => "null".to_owned(),
                    Some(b) if self.secret_auth && name == "auth_bytes" => redact_plain(&b),
                    Some(b) => Payload(&b).to_string(),
                }
            }
            // Structs, arrays and records are not scalars; they never get here.
            other => format!("({})", other.schema_name()),
        })
    }
}

/// SASL PLAIN's `authzid\0user\0password` with the password hidden;
/// anything else hidden whole.
fn redact_plain(b: &[u8]) -> String {
    let mut parts = b.splitn(3, |&c| c == 0);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(authz), Some(user), Some(_)) => format!(
            "\"{}\\0{}\\0***\" (password hidden)",
            String::from_utf8_lossy(authz).escape_debug(),
            String::from_utf8_lossy(user).escape_debug()
        ),
        _ => format!("*** ({} bytes hidden)", b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_passwords_are_hidden() {
        assert_eq!(
            redact_plain(b"\0alice\0s3cret"),
            "\"\\0alice\\0***\" (password hidden)"
        );
        assert_eq!(redact_plain(b"token"), "*** (5 bytes hidden)");
    }
}
