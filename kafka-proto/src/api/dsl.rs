//! The message DSL: the `kafka_struct!` macro in which every message's
//! fields are listed by hand with their version ranges, and the machinery
//! behind it (the `Wire` trait, saying how each field type is written and
//! read at a version, and the tagged-field sections of flexible versions).
//!
//! The wire primitives it builds on (integers, varints, strings, bytes,
//! arrays, tagged fields) are in [`crate::primitives`]; the metadata it
//! records for the conformance test is in [`crate::schema`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::primitives::{self as p, Uuid};
use crate::schema::TypeMeta;

/// The version being read or written, and whether it is a flexible one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ver {
    pub(crate) version: i16,
    pub(crate) flexible: bool,
}

/// A value with one wire encoding (given the version).
pub(crate) trait Wire: Sized {
    fn write(&self, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError>;
    fn read(buf: &mut Bytes, v: Ver) -> Result<Self, DecodeError>;
    fn type_meta() -> TypeMeta;
    #[cfg(test)]
    fn generate(g: &mut crate::api::dsl::testgen::Gen, v: Ver) -> Self;
}

/// A type whose wire form has a null.
pub(crate) trait Nullable: Wire {
    fn write_nullable(this: Option<&Self>, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError>;
    fn read_nullable(buf: &mut Bytes, v: Ver) -> Result<Option<Self>, DecodeError>;
}

/// A struct field's value: a [`Wire`] value, or an `Option` of a nullable one.
pub(crate) trait FieldValue: Sized {
    fn write_field(
        &self,
        buf: &mut BytesMut,
        v: Ver,
        nullable: bool,
        field: &'static str,
    ) -> Result<(), EncodeError>;
    fn read_field(buf: &mut Bytes, v: Ver, nullable: bool) -> Result<Self, DecodeError>;
    fn field_type() -> TypeMeta;
    #[cfg(test)]
    fn gen_field(g: &mut crate::api::dsl::testgen::Gen, v: Ver, nullable: bool) -> Self;
}

macro_rules! fixed_wire {
    ($($ty:ty, $meta:ident, $read:path, |$b:ident, $x:ident| $write:expr, |$g:ident| $gen:expr;)*) => {$(
        impl Wire for $ty {
            fn write(&self, $b: &mut BytesMut, _v: Ver) -> Result<(), EncodeError> {
                let $x = self;
                $write;
                Ok(())
            }
            fn read(buf: &mut Bytes, _v: Ver) -> Result<Self, DecodeError> {
                $read(buf)
            }
            fn type_meta() -> TypeMeta {
                TypeMeta::$meta
            }
            #[cfg(test)]
            fn generate($g: &mut crate::api::dsl::testgen::Gen, _v: Ver) -> Self {
                $gen
            }
        }
        plain_field!($ty);
    )*};
}

/// Implements [`FieldValue`] for a non-`Option` [`Wire`] type.
macro_rules! plain_field {
    ($ty:ty) => {
        impl $crate::api::dsl::FieldValue for $ty {
            fn write_field(
                &self,
                buf: &mut ::bytes::BytesMut,
                v: $crate::api::dsl::Ver,
                _nullable: bool,
                _field: &'static str,
            ) -> Result<(), $crate::error::EncodeError> {
                $crate::api::dsl::Wire::write(self, buf, v)
            }
            fn read_field(
                buf: &mut ::bytes::Bytes,
                v: $crate::api::dsl::Ver,
                _nullable: bool,
            ) -> Result<Self, $crate::error::DecodeError> {
                <$ty as $crate::api::dsl::Wire>::read(buf, v)
            }
            fn field_type() -> $crate::schema::TypeMeta {
                <$ty as $crate::api::dsl::Wire>::type_meta()
            }
            #[cfg(test)]
            fn gen_field(
                g: &mut $crate::api::dsl::testgen::Gen,
                v: $crate::api::dsl::Ver,
                _nullable: bool,
            ) -> Self {
                <$ty as $crate::api::dsl::Wire>::generate(g, v)
            }
        }
    };
}

fixed_wire! {
    bool, Bool, p::read_bool, |b, x| b.put_u8(u8::from(*x)), |g| g.bool();
    i8, Int8, p::read_i8, |b, x| b.put_i8(*x), |g| g.u64() as i8;
    i16, Int16, p::read_i16, |b, x| b.put_i16(*x), |g| g.u64() as i16;
    i32, Int32, p::read_i32, |b, x| b.put_i32(*x), |g| g.u64() as i32;
    i64, Int64, p::read_i64, |b, x| b.put_i64(*x), |g| g.u64() as i64;
    u16, Uint16, p::read_u16, |b, x| b.put_u16(*x), |g| g.u64() as u16;
    u32, Uint32, p::read_u32, |b, x| b.put_u32(*x), |g| g.u64() as u32;
    f64, Float64, p::read_f64, |b, x| b.put_f64(*x), |g| (g.u64() % 1_000_000) as f64 / 8.0;
    Uuid, Uuid, p::read_uuid, |b, x| p::write_uuid(b, x), |g| {
        let mut u = [0u8; 16];
        for (i, b) in u.iter_mut().enumerate() { *b = (g.u64() >> (i % 8)) as u8; }
        Uuid(u)
    };
    crate::error::ErrorCode, Int16, read_error_code, |b, x| b.put_i16(x.0), |g| crate::error::ErrorCode(g.u64() as i16);
    crate::api::ApiKey, Int16, read_api_key, |b, x| b.put_i16(x.0), |g| crate::api::ApiKey(g.u64() as i16);
}

fn read_error_code(buf: &mut Bytes) -> Result<crate::error::ErrorCode, DecodeError> {
    p::read_i16(buf).map(crate::error::ErrorCode)
}

fn read_api_key(buf: &mut Bytes) -> Result<crate::api::ApiKey, DecodeError> {
    p::read_i16(buf).map(crate::api::ApiKey)
}

impl Wire for String {
    fn write(&self, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        p::write_string(buf, self, v.flexible)
    }
    fn read(buf: &mut Bytes, v: Ver) -> Result<Self, DecodeError> {
        p::read_string(buf, v.flexible)
    }
    fn type_meta() -> TypeMeta {
        TypeMeta::String
    }
    #[cfg(test)]
    fn generate(g: &mut testgen::Gen, _v: Ver) -> Self {
        g.string()
    }
}
plain_field!(String);

impl Nullable for String {
    fn write_nullable(this: Option<&Self>, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        p::write_nullable_string(buf, this.map(String::as_str), v.flexible)
    }
    fn read_nullable(buf: &mut Bytes, v: Ver) -> Result<Option<Self>, DecodeError> {
        p::read_nullable_string(buf, v.flexible)
    }
}

impl Wire for Bytes {
    fn write(&self, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        p::write_bytes(buf, self, v.flexible)
    }
    fn read(buf: &mut Bytes, v: Ver) -> Result<Self, DecodeError> {
        p::read_bytes(buf, v.flexible)
    }
    fn type_meta() -> TypeMeta {
        TypeMeta::Bytes
    }
    #[cfg(test)]
    fn generate(g: &mut testgen::Gen, _v: Ver) -> Self {
        g.bytes()
    }
}
plain_field!(Bytes);

impl Nullable for Bytes {
    fn write_nullable(this: Option<&Self>, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        p::write_nullable_bytes(buf, this.map(|b| &b[..]), v.flexible)
    }
    fn read_nullable(buf: &mut Bytes, v: Ver) -> Result<Option<Self>, DecodeError> {
        p::read_nullable_bytes(buf, v.flexible)
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn write(&self, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        p::write_array_len(buf, Some(self.len()), v.flexible)?;
        for item in self {
            item.write(buf, v)?;
        }
        Ok(())
    }
    fn read(buf: &mut Bytes, v: Ver) -> Result<Self, DecodeError> {
        let start = buf.clone();
        match Self::read_nullable(buf, v)? {
            Some(items) => Ok(items),
            None => {
                *buf = start;
                Err(DecodeErrorKind::UnexpectedNull.into())
            }
        }
    }
    fn type_meta() -> TypeMeta {
        TypeMeta::Array(Box::new(T::type_meta()))
    }
    #[cfg(test)]
    fn generate(g: &mut testgen::Gen, v: Ver) -> Self {
        let n = g.len();
        (0..n).map(|_| T::generate(g, v)).collect()
    }
}

impl<T: Wire> Nullable for Vec<T> {
    fn write_nullable(this: Option<&Self>, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        match this {
            Some(items) => items.write(buf, v),
            None => p::write_array_len(buf, None, v.flexible),
        }
    }
    fn read_nullable(buf: &mut Bytes, v: Ver) -> Result<Option<Self>, DecodeError> {
        // The count is checked against the bytes left. Room is reserved for
        // at most PREALLOC elements up front: a large struct decoded from a
        // few bytes must not let a short input reserve `n` of them.
        const PREALLOC: usize = 256;
        let Some(n) = p::read_array_len(buf, v.flexible)? else {
            return Ok(None);
        };
        let mut items = Vec::with_capacity(n.min(PREALLOC));
        for _ in 0..n {
            items.push(T::read(buf, v)?);
        }
        Ok(Some(items))
    }
}

impl<T: Wire> FieldValue for Vec<T> {
    fn write_field(
        &self,
        buf: &mut BytesMut,
        v: Ver,
        _nullable: bool,
        _field: &'static str,
    ) -> Result<(), EncodeError> {
        self.write(buf, v)
    }
    fn read_field(buf: &mut Bytes, v: Ver, _nullable: bool) -> Result<Self, DecodeError> {
        Self::read(buf, v)
    }
    fn field_type() -> TypeMeta {
        Self::type_meta()
    }
    #[cfg(test)]
    fn gen_field(g: &mut testgen::Gen, v: Ver, _nullable: bool) -> Self {
        Self::generate(g, v)
    }
}

impl<T: Nullable> FieldValue for Option<T> {
    fn write_field(
        &self,
        buf: &mut BytesMut,
        v: Ver,
        nullable: bool,
        field: &'static str,
    ) -> Result<(), EncodeError> {
        if nullable {
            T::write_nullable(self.as_ref(), buf, v)
        } else {
            match self {
                Some(x) => x.write(buf, v),
                None => Err(EncodeError::NullNotAllowed {
                    field,
                    version: v.version,
                }),
            }
        }
    }
    fn read_field(buf: &mut Bytes, v: Ver, nullable: bool) -> Result<Self, DecodeError> {
        if nullable {
            T::read_nullable(buf, v)
        } else {
            T::read(buf, v).map(Some)
        }
    }
    fn field_type() -> TypeMeta {
        T::type_meta()
    }
    #[cfg(test)]
    fn gen_field(g: &mut testgen::Gen, v: Ver, nullable: bool) -> Self {
        if nullable && g.below(4) == 0 {
            None
        } else {
            Some(T::generate(g, v))
        }
    }
}

/// Reads the tagged-field section of a struct: known tags are handed to
/// `known` (which returns whether it took the field), the others are kept.
pub(crate) fn read_tagged_section(
    buf: &mut Bytes,
    unknown: &mut Vec<p::RawTaggedField>,
    mut known: impl FnMut(&p::RawTaggedField) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    let count = p::read_tagged_count(buf)?;
    for _ in 0..count {
        let raw = p::read_tagged_field(buf)?;
        if !known(&raw)? {
            unknown.push(raw);
        }
    }
    Ok(())
}

/// Writes a struct's tagged-field section: the known fields that differ
/// from their default, and the unknown ones kept from decoding.
pub(crate) fn write_tagged_section(
    buf: &mut BytesMut,
    mut known: Vec<p::RawTaggedField>,
    unknown: &[p::RawTaggedField],
) -> Result<(), EncodeError> {
    if known.is_empty() {
        p::write_tagged_fields(buf, unknown)
    } else {
        known.extend_from_slice(unknown);
        p::write_tagged_fields(buf, &known)
    }
}

/// Default value of a DSL field: the explicit one, or the type's.
macro_rules! kdefault {
    ($ty:ty) => {
        <$ty as ::core::default::Default>::default()
    };
    ($ty:ty, $e:expr) => {
        $e
    };
}

/// Version range of a DSL field attribute, `NONE` when absent.
macro_rules! kvers {
    () => {
        $crate::schema::Versions::NONE
    };
    ($v:literal) => {
        const { $crate::schema::Versions::parse($v) }
    };
}

/// The schema type of a DSL field: the Rust type's, or an override.
macro_rules! ktype {
    ($ty:ty) => {
        <$ty as $crate::api::dsl::FieldValue>::field_type()
    };
    ($ty:ty, records) => {
        $crate::schema::TypeMeta::Records
    };
}

/// The schema's name of a DSL struct: its Rust name, or the one given
/// after `as` (where two schemas' nested structs share a name).
macro_rules! kname {
    ($name:ident) => {
        stringify!($name)
    };
    ($name:ident, $schema:literal) => {
        $schema
    };
}

/// `Some(x)` when the optional DSL attribute is given.
macro_rules! kopt {
    () => {
        None
    };
    ($v:expr) => {
        Some($v)
    };
}

/// Writes one tagged DSL field into `known` when it is tagged in this
/// version and differs from its default; nothing for untagged fields.
macro_rules! ktag_write {
    ($self:ident, $known:ident, $v:ident, $name:ident, $field:ident, $fty:ty, $ver:literal,
     [$($nv:literal)?], [], [$($def:expr)?]) => {};
    ($self:ident, $known:ident, $v:ident, $name:ident, $field:ident, $fty:ty, $ver:literal,
     [$($nv:literal)?], [$tag:literal $tv:literal], [$($def:expr)?]) => {
        if kvers!($tv).contains($v.version)
            && kvers!($ver).contains($v.version)
            && $self.$field != kdefault!($fty $(, $def)?)
        {
            let mut tmp = ::bytes::BytesMut::new();
            $crate::api::dsl::FieldValue::write_field(
                &$self.$field, &mut tmp, $v,
                kvers!($($nv)?).contains($v.version),
                concat!(stringify!($name), ".", stringify!($field)),
            )?;
            $known.push($crate::primitives::RawTaggedField { tag: $tag, data: tmp.freeze() });
        }
    };
}

/// Reads one tagged DSL field from `raw` when its tag matches (returning
/// `Ok(true)` from the enclosing closure); nothing for untagged fields.
macro_rules! ktag_read {
    ($this:ident, $raw:ident, $v:ident, $name:ident, $field:ident, $ver:literal,
     [$($nv:literal)?], []) => {};
    ($this:ident, $raw:ident, $v:ident, $name:ident, $field:ident, $ver:literal,
     [$($nv:literal)?], [$tag:literal $tv:literal]) => {
        if $raw.tag == $tag
            && kvers!($tv).contains($v.version)
            && kvers!($ver).contains($v.version)
        {
            let mut data = $raw.data.clone();
            $this.$field = $crate::api::dsl::FieldValue::read_field(
                &mut data, $v, kvers!($($nv)?).contains($v.version),
            ).map_err(|e| e.in_field(concat!(stringify!($name), ".", stringify!($field))))?;
            return Ok(true);
        }
    };
}

/// Declares one struct of a message (or a message body) by listing its
/// fields, each with its Rust type and the schema's version attributes:
///
/// ```text
/// kafka_struct! {
///     /// Doc.
///     pub struct MetadataResponseTopic {
///         /// Doc.
///         name: Option<String> = "0+" nullable "12+";
///         topic_id: Uuid = "10+";
///         is_internal: bool = "1+" default false;
///         current_leader: LeaderIdAndEpoch = "10+" tag 0 "10+";
///         records: Option<Bytes> = "0+" nullable "0+" schema records;
///     }
/// }
/// ```
///
/// It generates the struct (with `unknown_tagged_fields`), `Default` (schema
/// defaults), the codec for every version, the schema metadata, and (in
/// tests) a generator of random values valid for a version.
///
/// A struct whose schema name is not unique in the crate (the consumer
/// protocol's two schemas both nest a `TopicPartition`) gets a Rust name of
/// its own and says the schema's after `as`:
/// `pub struct ConsumerProtocolAssignmentTopicPartition as "TopicPartition" { .. }`.
macro_rules! kafka_struct {
    (
        $(#[$smeta:meta])*
        pub struct $name:ident $(as $schema_name:literal)? {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $fty:ty = $ver:literal
                    $(nullable $nv:literal)?
                    $(tag $tag:literal $tv:literal)?
                    $(schema $sty:ident)?
                    $(default $def:expr)?
            );* $(;)?
        }
    ) => {
        $(#[$smeta])*
        $(#[doc = concat!("\n\nIn the schema: `", $schema_name, "`.")])?
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[doc = concat!("\n\nWire: versions `", $ver, "`"
                    $(, "; nullable in `", $nv, "`")?
                    $(, "; tagged (tag ", $tag, ") in `", $tv, "`")?
                    $(, "; default `", stringify!($def), "`")?
                    , ".")]
                pub $field: $fty,
            )*
            /// Tagged fields this crate does not know, kept as read and
            /// written back unchanged.
            pub unknown_tagged_fields: ::std::vec::Vec<$crate::primitives::RawTaggedField>,
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self {
                    $( $field: kdefault!($fty $(, $def)?), )*
                    unknown_tagged_fields: ::std::vec::Vec::new(),
                }
            }
        }

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn struct_meta() -> $crate::schema::StructMeta {
                $crate::schema::StructMeta {
                    name: kname!($name $(, $schema_name)?),
                    fields: vec![$(
                        $crate::schema::FieldMeta {
                            name: stringify!($field),
                            ty: ktype!($fty $(, $sty)?),
                            versions: $ver,
                            nullable_versions: kopt!($($nv)?),
                            tag: kopt!($($tag)?),
                            tagged_versions: kopt!($($tv)?),
                            default: kopt!($(stringify!($def))?),
                        },
                    )*],
                }
            }
        }

        impl $crate::api::dsl::Wire for $name {
            #[allow(unused_variables)]
            fn write(
                &self,
                buf: &mut ::bytes::BytesMut,
                v: $crate::api::dsl::Ver,
            ) -> Result<(), $crate::error::EncodeError> {
                $(
                    if kvers!($ver).contains(v.version) && !kvers!($($tv)?).contains(v.version) {
                        $crate::api::dsl::FieldValue::write_field(
                            &self.$field, buf, v,
                            kvers!($($nv)?).contains(v.version),
                            concat!(stringify!($name), ".", stringify!($field)),
                        )?;
                    }
                )*
                if v.flexible {
                    #[allow(unused_mut)]
                    let mut known = ::std::vec::Vec::new();
                    $(
                        ktag_write!(self, known, v, $name, $field, $fty, $ver, [$($nv)?], [$($tag $tv)?], [$($def)?]);
                    )*
                    $crate::api::dsl::write_tagged_section(buf, known, &self.unknown_tagged_fields)?;
                }
                Ok(())
            }

            #[allow(unused_variables)]
            fn read(
                buf: &mut ::bytes::Bytes,
                v: $crate::api::dsl::Ver,
            ) -> Result<Self, $crate::error::DecodeError> {
                let mut this = Self::default();
                $(
                    if kvers!($ver).contains(v.version) && !kvers!($($tv)?).contains(v.version) {
                        this.$field = $crate::api::dsl::FieldValue::read_field(
                            buf, v, kvers!($($nv)?).contains(v.version),
                        ).map_err(|e| e.in_field(concat!(stringify!($name), ".", stringify!($field))))?;
                    }
                )*
                if v.flexible {
                    let mut unknown = ::std::vec::Vec::new();
                    $crate::api::dsl::read_tagged_section(buf, &mut unknown, |raw| {
                        $(
                            ktag_read!(this, raw, v, $name, $field, $ver, [$($nv)?], [$($tag $tv)?]);
                        )*
                        Ok(false)
                    })
                    .map_err(|e| e.in_field(concat!(stringify!($name), ".<tagged fields>")))?;
                    this.unknown_tagged_fields = unknown;
                }
                Ok(this)
            }

            fn type_meta() -> $crate::schema::TypeMeta {
                $crate::schema::TypeMeta::Struct(Self::struct_meta())
            }

            #[cfg(test)]
            fn generate(g: &mut $crate::api::dsl::testgen::Gen, v: $crate::api::dsl::Ver) -> Self {
                #[allow(unused_mut)]
                let mut this = Self::default();
                $(
                    if kvers!($ver).contains(v.version)
                        && (v.flexible || !kvers!($($tv)?).contains(v.version))
                    {
                        this.$field = <$fty as $crate::api::dsl::FieldValue>::gen_field(
                            g, v, kvers!($($nv)?).contains(v.version),
                        );
                    }
                )*
                if v.flexible {
                    this.unknown_tagged_fields = g.unknown_tagged_fields();
                }
                this
            }
        }

        plain_field!($name);

        impl $crate::api::dsl::Nullable for $name {
            fn write_nullable(
                this: Option<&Self>,
                buf: &mut ::bytes::BytesMut,
                v: $crate::api::dsl::Ver,
            ) -> Result<(), $crate::error::EncodeError> {
                match this {
                    None => {
                        ::bytes::BufMut::put_i8(buf, -1);
                        Ok(())
                    }
                    Some(x) => {
                        ::bytes::BufMut::put_i8(buf, 1);
                        $crate::api::dsl::Wire::write(x, buf, v)
                    }
                }
            }
            fn read_nullable(
                buf: &mut ::bytes::Bytes,
                v: $crate::api::dsl::Ver,
            ) -> Result<Option<Self>, $crate::error::DecodeError> {
                let start = buf.clone();
                match $crate::primitives::read_i8(buf)? {
                    -1 => Ok(None),
                    1 => <Self as $crate::api::dsl::Wire>::read(buf, v).map(Some),
                    m => {
                        *buf = start;
                        Err($crate::error::DecodeErrorKind::InvalidStructMarker(m).into())
                    }
                }
            }
        }
    };
}

/// Random values for the round-trip property tests: a small deterministic
/// generator driven by a seed that proptest picks.
#[cfg(test)]
pub(crate) mod testgen {
    use bytes::Bytes;

    use crate::primitives::RawTaggedField;

    /// A splitmix64 generator with helpers for protocol values.
    #[derive(Debug)]
    pub(crate) struct Gen {
        state: u64,
    }

    impl Gen {
        pub(crate) fn new(seed: u64) -> Self {
            Gen { state: seed }
        }

        pub(crate) fn u64(&mut self) -> u64 {
            self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.u64() % n.max(1)
        }

        pub(crate) fn bool(&mut self) -> bool {
            self.u64() & 1 == 1
        }

        /// An array length: mostly small, sometimes empty.
        pub(crate) fn len(&mut self) -> usize {
            self.below(4) as usize
        }

        pub(crate) fn string(&mut self) -> String {
            const ALPHABET: &[&str] =
                &["a", "b", "z", "-", ".", "_", "0", "9", "é", "ü", "東", "🦀"];
            let n = self.below(12);
            (0..n)
                .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
                .collect()
        }

        pub(crate) fn bytes(&mut self) -> Bytes {
            let n = self.below(24);
            (0..n).map(|_| self.u64() as u8).collect::<Vec<u8>>().into()
        }

        /// Unknown tagged fields, with tags no schema uses, ascending.
        pub(crate) fn unknown_tagged_fields(&mut self) -> Vec<RawTaggedField> {
            let n = self.below(3);
            let mut tag = 1000u32;
            (0..n)
                .map(|_| {
                    tag += 1 + self.below(100) as u32;
                    RawTaggedField {
                        tag,
                        data: self.bytes(),
                    }
                })
                .collect()
        }
    }
}
