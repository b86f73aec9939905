//! Metadata describing each implemented message as written in this crate's
//! message DSL: field names, types, version ranges, nullability, tags and
//! defaults. A conformance test compares it with Kafka's JSON schema files, so
//! a hand-written codec cannot drift from the protocol unnoticed.

/// An inclusive range of versions, parsed from the schema notation: `"3+"`,
/// `"0-4"`, `"7"` or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// Lowest version in the range.
    pub min: i16,
    /// Highest version in the range (`i16::MAX` for an open range).
    pub max: i16,
}

impl Versions {
    /// The empty range (`"none"`).
    pub const NONE: Versions = Versions { min: 1, max: 0 };

    /// Parses the schema notation. Used in constant context by the message
    /// DSL, where a malformed range is a compile error.
    ///
    /// # Panics
    /// On text that is not a version range (only ever at compile time).
    pub const fn parse(s: &str) -> Versions {
        let b = s.as_bytes();
        if b.len() == 4 && b[0] == b'n' && b[1] == b'o' && b[2] == b'n' && b[3] == b'e' {
            return Versions::NONE;
        }
        let mut i = 0;
        let mut min: i16 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            min = min * 10 + (b[i] - b'0') as i16;
            i += 1;
        }
        if i == 0 {
            panic!("bad version range");
        }
        if i == b.len() {
            return Versions { min, max: min };
        }
        if b[i] == b'+' && i + 1 == b.len() {
            return Versions { min, max: i16::MAX };
        }
        if b[i] != b'-' {
            panic!("bad version range");
        }
        i += 1;
        let start = i;
        let mut max: i16 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            max = max * 10 + (b[i] - b'0') as i16;
            i += 1;
        }
        if i == start || i != b.len() {
            panic!("bad version range");
        }
        Versions { min, max }
    }

    /// Whether `version` is in the range.
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// Whether the range holds no version.
    pub const fn is_empty(&self) -> bool {
        self.min > self.max
    }

    /// The versions in both ranges.
    pub fn intersect(&self, other: &Versions) -> Versions {
        Versions {
            min: self.min.max(other.min),
            max: self.max.min(other.max),
        }
    }
}

/// The wire type of a field, named as in the schema files.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeMeta {
    /// `bool`
    Bool,
    /// `int8`
    Int8,
    /// `int16`
    Int16,
    /// `int32`
    Int32,
    /// `int64`
    Int64,
    /// `uint16`
    Uint16,
    /// `uint32`
    Uint32,
    /// `float64`
    Float64,
    /// `string`
    String,
    /// `bytes`
    Bytes,
    /// `records`
    Records,
    /// `uuid`
    Uuid,
    /// `[]T`
    Array(Box<TypeMeta>),
    /// A struct, with its fields.
    Struct(StructMeta),
}

impl TypeMeta {
    /// The type as the schema files spell it: `"int32"`, `"[]string"`,
    /// `"[]MetadataResponseTopic"`.
    pub fn schema_name(&self) -> String {
        match self {
            TypeMeta::Bool => "bool".into(),
            TypeMeta::Int8 => "int8".into(),
            TypeMeta::Int16 => "int16".into(),
            TypeMeta::Int32 => "int32".into(),
            TypeMeta::Int64 => "int64".into(),
            TypeMeta::Uint16 => "uint16".into(),
            TypeMeta::Uint32 => "uint32".into(),
            TypeMeta::Float64 => "float64".into(),
            TypeMeta::String => "string".into(),
            TypeMeta::Bytes => "bytes".into(),
            TypeMeta::Records => "records".into(),
            TypeMeta::Uuid => "uuid".into(),
            TypeMeta::Array(t) => format!("[]{}", t.schema_name()),
            TypeMeta::Struct(s) => s.name.to_owned(),
        }
    }

    /// The struct this type holds, directly or as array elements.
    pub fn struct_meta(&self) -> Option<&StructMeta> {
        match self {
            TypeMeta::Struct(s) => Some(s),
            TypeMeta::Array(t) => t.struct_meta(),
            _ => None,
        }
    }
}

/// A struct (a message body or a nested struct) and its fields in wire order.
#[derive(Debug, Clone, PartialEq)]
pub struct StructMeta {
    /// The struct's name (the schema's name for it).
    pub name: &'static str,
    /// Its fields, in wire order.
    pub fields: Vec<FieldMeta>,
}

/// One field of a struct, as declared in the message DSL.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMeta {
    /// The Rust field name (snake case of the schema's name).
    pub name: &'static str,
    /// The wire type.
    pub ty: TypeMeta,
    /// The versions the field is in, in schema notation.
    pub versions: &'static str,
    /// The versions in which it may be null.
    pub nullable_versions: Option<&'static str>,
    /// The tag, for a tagged field.
    pub tag: Option<u32>,
    /// The versions in which it is tagged.
    pub tagged_versions: Option<&'static str>,
    /// The default, as written in the DSL, when it is not the type's zero.
    pub default: Option<&'static str>,
}
