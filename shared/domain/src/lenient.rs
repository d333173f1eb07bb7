//! Deserializers for the loose spots of EverBright's payloads. Older payloads carry Python-style
//! values such as `"None"` for a missing string and `false` for an empty sub-task `data`.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// `null`, a missing field, `""`, `"None"` and `"null"` are all "absent", and so is a value not in
/// `T`'s form (a quote that is not a UUID, a date that is not RFC 3339): it is kept as sent in the
/// archive and ignored for logic, never a reason to refuse the webhook.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
{
    Ok(text(deserializer)?.and_then(|text| text.trim().parse().ok()))
}

/// `true` or `false` (also as the strings `"true"`, `"True"`, `"false"`, `"False"`); anything
/// else is absent.
pub fn optional_bool<'de, D>(deserializer: D) -> Result<Option<bool>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(text(deserializer)?.and_then(|text| match text.trim() {
        "true" | "True" => Some(true),
        "false" | "False" => Some(false),
        _ => None,
    }))
}

/// A list whose elements that are not a `T` (a document without a usable id, say) are skipped;
/// `null`, a missing field or anything but a list is an empty list. Each element is kept as its
/// raw text first (a parse error inside one element would end the whole list), then parsed.
pub fn each_valid<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde_json::value::RawValue;
    let Some(list) = Option::<Box<RawValue>>::deserialize(deserializer)? else { return Ok(Vec::new()) };
    let items: Vec<Box<RawValue>> = serde_json::from_str(list.get()).unwrap_or_default();
    Ok(items.iter().filter_map(|item| serde_json::from_str(item.get()).ok()).collect())
}

/// A JSON value as text: a string (not `""`, `"None"` or `"null"`), a number or a boolean.
pub fn text_of(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => match text.as_str() {
            "" | "None" | "null" => None,
            text => Some(text.to_owned()),
        },
        serde_json::Value::Number(number) => Some(number.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
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

/// A string, a number or a boolean, kept as text; `null`, `"None"`, a list and an object are absent.
pub fn text<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: Deserializer<'de>,
{
    struct TextVisitor;

    impl<'de> Visitor<'de> for TextVisitor {
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

        fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
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
    fn a_value_not_in_its_form_is_ignored_not_refused() {
        for json in [r#"{"quote":"42"}"#, r#"{"quote":42}"#, r#"{"quote":{"id":1}}"#, r#"{"quote":[1]}"#] {
            assert_eq!(probe(json).unwrap().quote, None, "{json}");
        }
        let quote = probe(r#"{"quote":" 042e6753-6b06-457d-9efd-70f047f4d348 "}"#).unwrap().quote;
        assert_eq!(quote.unwrap().to_string(), "042e6753-6b06-457d-9efd-70f047f4d348");
    }

    #[test]
    fn list_elements_that_are_not_valid_are_skipped() {
        #[derive(Deserialize)]
        struct Id {
            #[allow(dead_code)]
            uuid: QuoteId,
        }
        #[derive(Deserialize)]
        struct List {
            #[serde(default, deserialize_with = "each_valid")]
            ids: Vec<Id>,
        }
        let list: List =
            serde_json::from_str(r#"{"ids":[{"uuid":"042e6753-6b06-457d-9efd-70f047f4d348"},{"uuid":"nope"},{},3]}"#)
                .unwrap();
        assert_eq!(list.ids.len(), 1);
        for other in
            [r#"{"ids":"None"}"#, r#"{"ids":{"uuid":"042e6753-6b06-457d-9efd-70f047f4d348"}}"#, r#"{"ids":null}"#]
        {
            let list: List = serde_json::from_str(other).unwrap();
            assert!(list.ids.is_empty(), "{other}");
        }
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
