//! Deserializers for the loose spots of EverBright's payloads. Older payloads carry Python-style
//! values such as `"None"` for a missing string and `false` for an empty sub-task `data`.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `null`, a missing field, `""`, `"None"` and `"null"` are all "absent"; any other string must
/// parse as `T`, and an error names the value.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct OptionalVisitor<T>(PhantomData<T>);

    impl<'de, T> Visitor<'de> for OptionalVisitor<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v.trim() {
                "" | "None" | "null" => Ok(None),
                text => text.parse().map(Some).map_err(|e| E::custom(format_args!("{text:?}: {e}"))),
            }
        }
    }

    deserializer.deserialize_option(OptionalVisitor(PhantomData))
}

/// `null` or a missing field become `T::default()` (an empty list, say).
pub fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// An object becomes `Some(T)`; `false`, `null`, a string or a number (what a checkbox sub-task
/// carries in `data`) become `None`. A list is refused.
pub fn object_or_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object, false or null")
        }

        fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }

        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
    }

    deserializer.deserialize_any(ObjectVisitor(PhantomData))
}

/// A string, a number or a boolean, kept as text; `null` and `"None"` are absent.
pub fn text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor;

    impl Visitor<'_> for TextVisitor {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(match v {
                "" | "None" | "null" => None,
                text => Some(text.to_owned()),
            })
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }
    }

    deserializer.deserialize_any(TextVisitor)
}

/// Declares an enum of the status codes EverBright sends that keeps codes it does not know yet in
/// `Other`, so that a new code never makes a webhook unreadable.
macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A code this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $code,)+
                    Self::Other(code) => code,
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                Ok(match code {
                    $($code => Self::$variant,)+
                    other => Self::Other(other.to_owned()),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use status_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::QuoteId;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "optional")]
        quote: Option<QuoteId>,
        #[serde(default, deserialize_with = "object_or_none")]
        data: Option<serde_json::Map<String, serde_json::Value>>,
        #[serde(default, deserialize_with = "text")]
        stage: Option<String>,
    }

    fn probe(json: &str) -> Result<Probe, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn python_style_none_and_null_are_absent() {
        for json in [r#"{"quote":null}"#, r#"{"quote":"None"}"#, r#"{"quote":""}"#, "{}"] {
            assert_eq!(probe(json).unwrap().quote, None, "{json}");
        }
    }

    #[test]
    fn a_bad_id_names_the_value() {
        let err = probe(r#"{"quote":"42"}"#).err().unwrap().to_string();
        assert!(err.contains("\"42\"") && err.contains("column"), "{err}");
    }

    #[test]
    fn sub_task_data_false_is_no_data() {
        assert!(probe(r#"{"data":false}"#).unwrap().data.is_none());
        assert!(probe(r#"{"data":{"documents":[]}}"#).unwrap().data.is_some());
        assert!(probe(r#"{"data":[1,2]}"#).is_err());
    }

    #[test]
    fn numbers_are_kept_as_text() {
        assert_eq!(probe(r#"{"stage":7}"#).unwrap().stage.as_deref(), Some("7"));
    }
}
