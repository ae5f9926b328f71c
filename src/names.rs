//! Enums chosen by name in the config: one list declares the variants with their config names,
//! and the table of every value (`ALL`), `name()` and `from_name()` are derived from it.

/// Declares an enum whose variants are written `Variant = "config name",` and derives from that
/// one list `ALL` (every value with its config name, in order), `name()` and `from_name()`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value with its config name, in order.
            pub const ALL: [(&'static str, $name); [$($text),+].len()] = [$(($text, $name::$variant)),+];

            /// The config name.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The value of a config name, if it is one.
            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().find(|(n, _)| *n == s).map(|&(_, v)| v)
            }
        }
    };
}

pub(crate) use named_enum;
