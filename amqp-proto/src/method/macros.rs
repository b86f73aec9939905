//! The DSL in which each method's fields are written by hand.
//!
//! `methods!` takes a class (name and id) and its methods; for each method
//! it writes a struct with the fields in wire order, its ids and name, the
//! field list (spec names and wire types, which the conformance test checks
//! against the spec JSON), and `read`/`write`. Wire types come from the Rust
//! types through [`Wire`](super::Wire), so they cannot drift from the code.

macro_rules! methods {
    (
        class $class:literal = $class_id:literal;
        $(
            $(#[$doc:meta])*
            $name:ident = $method_id:literal, $spec:literal {
                $(
                    $(#[$fdoc:meta])*
                    $field:ident: $ty:ty = $fspec:literal
                ),* $(,)?
            }
        )*
    ) => {
        /// The class id.
        pub const CLASS_ID: u16 = $class_id;
        /// The class name in the spec.
        pub const CLASS_NAME: &str = $class;

        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Default, PartialEq, Eq)]
            pub struct $name {
                $(
                    $(#[$fdoc])*
                    pub $field: $ty,
                )*
            }

            impl $name {
                /// The class id.
                pub const CLASS_ID: u16 = $class_id;
                /// The method id.
                pub const METHOD_ID: u16 = $method_id;
                /// `class.method`, as the spec names it.
                pub const NAME: &'static str = concat!($class, ".", $spec);
                /// The fields in wire order: spec name and wire type.
                pub const FIELDS: &'static [(&'static str, &'static str)] =
                    &[$(($fspec, <$ty as $crate::method::Wire>::TYPE)),*];

                #[allow(unused_variables)]
                #[inline]
                pub(crate) fn read(
                    r: &mut $crate::primitives::Reader<'_>,
                ) -> Result<Self, $crate::error::DecodeError> {
                    Ok($name {
                        $($field: <$ty as $crate::method::Wire>::read(r, $fspec)?,)*
                    })
                }

                /// A strategy with arbitrary values in every field.
                #[cfg(test)]
                pub(crate) fn arbitrary() -> proptest::strategy::BoxedStrategy<Self> {
                    use proptest::strategy::{Just, Strategy};
                    let s = Just(Self::default()).boxed();
                    $(
                        let s = (s, <$ty as $crate::method::tests::ArbWire>::arb())
                            .prop_map(|(mut m, v)| {
                                m.$field = v;
                                m
                            })
                            .boxed();
                    )*
                    s
                }

                #[allow(unused_variables)]
                #[inline]
                pub(crate) fn write(&self, w: &mut $crate::primitives::Writer<'_>) {
                    $(<$ty as $crate::method::Wire>::write(&self.$field, w);)*
                }
            }
        )*
    };
}

pub(crate) use methods;
