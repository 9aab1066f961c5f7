//! Deserializers that accept what pydantic's lax mode accepts for integers and booleans, and,
//! the other way round, strict ones for what serde's derives would accept too widely: string
//! enums only from strings (not serde's `{"left": null}` map form), objects only from maps (not
//! from arrays).

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("expected an integer, got {v}")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let t = v.trim();
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n);
        }
        match t.parse::<f64>() {
            Ok(f) => self.visit_f64(f),
            Err(_) => Err(E::custom(format!("expected an integer, got {v:?}"))),
        }
    }
}

/// An integer from a JSON number or a numeric string.
pub(crate) fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(IntVisitor)
}

/// An optional integer: absent or `null` is `None`, else as [`int`].
pub(crate) fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct OptInt;
    impl<'de> Visitor<'de> for OptInt {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<i64>, D2::Error> {
            int(d).map(Some)
        }
    }
    d.deserialize_option(OptInt)
}

struct BoolVisitor;

impl Visitor<'_> for BoolVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true or false")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        match v {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(E::custom(format!("expected true or false, got {v}"))),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.visit_i64(i64::try_from(v).unwrap_or(2))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(E::custom(format!("expected true or false, got {v:?}"))),
        }
    }
}

/// An optional integer that, when given, must be one ([`int`]'s forms): `null` is refused like
/// any other non-integer (leave the argument out instead). Use with `#[serde(default)]`.
pub(crate) fn some_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    int(d).map(Some)
}

/// An optional string that, when given, must be a string: `null` is refused. Use with
/// `#[serde(default)]`.
pub(crate) fn some_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(d).map(Some)
}

/// A boolean from JSON true/false, 0/1 or the strings pydantic accepts.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

/// Implements `Deserialize` for a fieldless enum from its string names only. serde's derive
/// would also accept the map form `{"left": null}`, which no schema we publish allows.
macro_rules! string_enum {
    ($ty:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                match name.as_ref() {
                    $($name => Ok($ty::$variant),)+
                    other => Err(<D::Error as serde::de::Error>::unknown_variant(
                        other,
                        &[$($name),+],
                    )),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// Deserializes `T` (a derived struct) only from a map: serde's derive also reads structs
/// from sequences, so `[0, 0, 8, 8]` would pass as a region.
pub(crate) fn only_map<'de, T, D>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    T: serde::Deserialize<'de>,
    D: Deserializer<'de>,
{
    struct MapOnly<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for MapOnly<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(MapOnly(expecting, std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct N {
        #[serde(deserialize_with = "super::int")]
        n: i64,
    }

    #[test]
    fn integers_written_as_floats_read_exactly_up_to_the_bound() {
        // Found by the fuzzer: read one unit off without exact float parsing.
        for (text, want) in [
            (r#"{"n": 8222000288609628.0}"#, 8_222_000_288_609_628),
            (r#"{"n": "8222000288609628"}"#, 8_222_000_288_609_628),
            (r#"{"n": -8999999999999998.0}"#, -8_999_999_999_999_998),
        ] {
            assert_eq!(serde_json::from_str::<N>(text).unwrap().n, want, "{text}");
        }
        assert!(serde_json::from_str::<N>(r#"{"n": 9000000000000002.0}"#).is_err());
    }
}
