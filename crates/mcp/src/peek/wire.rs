//! Single-pass serde visitors that pull the fields the gateway needs out of a
//! JSON-RPC message while borrowing everything else as raw JSON.
//!
//! Keys are compared after unescaping (`"n\u0061me"` is `name`) and letter
//! case (`METHOD` is `method` to a case-insensitive reader; see `key_set`),
//! and repeated keys are rejected in every object of the envelope (the message, `params`,
//! `params._meta`), members the gateway reads or not: a peer that reads the
//! last duplicate while we read the first would let a body say one thing to
//! the policy and another upstream. (`params.arguments` is checked to any
//! depth by [`super::ambiguity`], and refused as a call, not a message.)

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::key_set::KeySet;
use crate::json_text::JsonKind;

/// The members of a message object the gateway looks at.
#[derive(Debug, Default)]
pub(crate) struct WireMessage<'a> {
    pub(crate) jsonrpc: Option<&'a RawValue>,
    pub(crate) id: Option<&'a RawValue>,
    pub(crate) method: Option<&'a RawValue>,
    pub(crate) params: Option<WireParams<'a>>,
    pub(crate) result: Option<&'a RawValue>,
    pub(crate) error: Option<&'a RawValue>,
}

/// `params`, dug into when it is an object.
#[derive(Debug)]
pub(crate) enum WireParams<'a> {
    Object(WireParamsObject<'a>),
    Array,
    Other(JsonKind),
}

#[derive(Debug, Default)]
pub(crate) struct WireParamsObject<'a> {
    pub(crate) name: Option<&'a RawValue>,
    pub(crate) uri: Option<&'a RawValue>,
    /// `completion/complete`'s `ref`: the prompt or resource template it completes.
    pub(crate) reference: Option<&'a RawValue>,
    pub(crate) arguments: Option<&'a RawValue>,
    pub(crate) protocol_version: Option<&'a RawValue>,
    pub(crate) meta: Option<WireMeta<'a>>,
}

/// `params._meta`.
#[derive(Debug)]
pub(crate) enum WireMeta<'a> {
    Object(WireMetaObject<'a>),
    Other(JsonKind),
}

#[derive(Debug, Default)]
pub(crate) struct WireMetaObject<'a> {
    pub(crate) progress_token: Option<&'a RawValue>,
    pub(crate) protocol_version: Option<&'a RawValue>,
    pub(crate) client_capabilities: Option<&'a RawValue>,
}

/// `_meta` key of the protocol revision (2026-07-28 requests).
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the client's capabilities (2026-07-28 requests).
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// Stores `value` in `slot`, refusing a second occurrence of `key`.
fn set_once<'a, E: de::Error>(
    slot: &mut Option<&'a RawValue>,
    key: &str,
    value: &'a RawValue,
) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(format_args!("duplicate member `{key}`")));
    }
    Ok(())
}

fn set_once_with<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(format_args!("duplicate member `{key}`")));
    }
    Ok(())
}

impl<'a> KeySet<'a> {
    /// Notes a member, refusing it a second time (or in another letter case):
    /// a repeated member is ambiguous whether or not the gateway reads it.
    fn insert_once<E: de::Error>(&mut self, key: std::borrow::Cow<'a, str>) -> Result<(), E> {
        if self.insert(key.clone()) {
            return Ok(());
        }
        Err(E::custom(format_args!("duplicate member `{key}`")))
    }
}

/// An object key, decoded (escapes resolved), borrowed when possible.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(v.into()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(v.to_owned().into()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for WireMessage<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = WireMessage<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut m = WireMessage::default();
                let mut seen = KeySet::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    seen.insert_once(key.clone())?;
                    match key.as_ref() {
                        "jsonrpc" => set_once(&mut m.jsonrpc, &key, map.next_value()?)?,
                        "id" => set_once(&mut m.id, &key, map.next_value()?)?,
                        "method" => set_once(&mut m.method, &key, map.next_value()?)?,
                        "result" => set_once(&mut m.result, &key, map.next_value()?)?,
                        "error" => set_once(&mut m.error, &key, map.next_value()?)?,
                        "params" => set_once_with(&mut m.params, &key, map.next_value()?)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(m)
            }
        }
        deserializer.deserialize_map(MessageVisitor)
    }
}

/// Visits any JSON value, handing objects to `on_map` and classifying the rest.
trait ObjectOr<'de>: Sized {
    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
    fn array() -> Self;
    fn other(kind: JsonKind) -> Self;
}

struct ObjectOrVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: ObjectOr<'de>> Visitor<'de> for ObjectOrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::array())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
        Ok(T::other(JsonKind::String))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Ok(T::other(JsonKind::Bool))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Ok(T::other(JsonKind::Number))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
        Ok(T::other(JsonKind::Number))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::other(JsonKind::Number))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::other(JsonKind::Null))
    }
}

impl<'de> ObjectOr<'de> for WireParams<'de> {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut p = WireParamsObject::default();
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert_once(key.clone())?;
            match key.as_ref() {
                "name" => set_once(&mut p.name, &key, map.next_value()?)?,
                "uri" => set_once(&mut p.uri, &key, map.next_value()?)?,
                "ref" => set_once(&mut p.reference, &key, map.next_value()?)?,
                "arguments" => set_once(&mut p.arguments, &key, map.next_value()?)?,
                "protocolVersion" => set_once(&mut p.protocol_version, &key, map.next_value()?)?,
                "_meta" => set_once_with(&mut p.meta, &key, map.next_value()?)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(WireParams::Object(p))
    }
    fn array() -> Self {
        WireParams::Array
    }
    fn other(kind: JsonKind) -> Self {
        WireParams::Other(kind)
    }
}

impl<'de> ObjectOr<'de> for WireMeta<'de> {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut m = WireMetaObject::default();
        let mut seen = KeySet::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            seen.insert_once(key.clone())?;
            match key.as_ref() {
                "progressToken" => set_once(&mut m.progress_token, &key, map.next_value()?)?,
                META_PROTOCOL_VERSION => {
                    set_once(&mut m.protocol_version, &key, map.next_value()?)?;
                }
                META_CLIENT_CAPABILITIES => {
                    set_once(&mut m.client_capabilities, &key, map.next_value()?)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(WireMeta::Object(m))
    }
    fn array() -> Self {
        WireMeta::Other(JsonKind::Array)
    }
    fn other(kind: JsonKind) -> Self {
        WireMeta::Other(kind)
    }
}

impl<'de> Deserialize<'de> for WireParams<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectOrVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for WireMeta<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectOrVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Result<WireMessage<'_>, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn captures_raw_members_and_skips_the_rest() {
        let m =
            wire(r#"{"jsonrpc":"2.0","id":7,"method":"x","extra":[1,{"a":2}],"result":{"k":1}}"#)
                .unwrap();
        assert_eq!(m.jsonrpc.unwrap().get(), "\"2.0\"");
        assert_eq!(m.id.unwrap().get(), "7");
        assert_eq!(m.method.unwrap().get(), "\"x\"");
        assert_eq!(m.result.unwrap().get(), r#"{"k":1}"#);
        assert!(m.error.is_none() && m.params.is_none());
    }

    #[test]
    fn null_id_is_present_not_missing() {
        let m = wire(r#"{"id":null}"#).unwrap();
        assert_eq!(m.id.unwrap().get(), "null");
    }

    #[test]
    fn escaped_keys_are_decoded() {
        let m = wire(r#"{"me\u0074hod":"x","params":{"n\u0061me":"t"}}"#).unwrap();
        assert!(m.method.is_some());
        let Some(WireParams::Object(p)) = m.params else {
            panic!()
        };
        assert_eq!(p.name.unwrap().get(), "\"t\"");
    }

    #[test]
    fn duplicate_members_are_rejected_at_every_level() {
        for text in [
            r#"{"id":1,"id":2}"#,
            r#"{"method":"a","me\u0074hod":"b"}"#,
            r#"{"params":{},"params":{}}"#,
            r#"{"params":{"name":"a","name":"b"}}"#,
            r#"{"params":{"arguments":{},"arguments":{}}}"#,
            r#"{"params":{"_meta":{},"_meta":{}}}"#,
            r#"{"params":{"_meta":{"progressToken":1,"progressToken":2}}}"#,
            // Members the gateway does not read are no exception.
            r#"{"x":1,"x":2}"#,
            r#"{"params":{"cursor":"a","cursor":"b"}}"#,
            r#"{"params":{"_meta":{"k":1,"\u006b":2}}}"#,
        ] {
            let err = wire(text).unwrap_err();
            assert!(
                err.to_string().contains("duplicate member"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn params_shapes_are_classified() {
        let m = wire(r#"{"params":[1,2]}"#).unwrap();
        assert!(matches!(m.params, Some(WireParams::Array)));
        for (text, kind) in [
            (r#"{"params":"s"}"#, JsonKind::String),
            (r#"{"params":3}"#, JsonKind::Number),
            (r#"{"params":-3}"#, JsonKind::Number),
            (r#"{"params":3.5}"#, JsonKind::Number),
            (r#"{"params":true}"#, JsonKind::Bool),
            (r#"{"params":null}"#, JsonKind::Null),
        ] {
            match wire(text).unwrap().params {
                Some(WireParams::Other(k)) => assert_eq!(k, kind, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn meta_fields_are_captured() {
        let m = wire(
            r#"{"params":{"_meta":{"progressToken":"p","io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"other":1}}}"#,
        )
        .unwrap();
        let Some(WireParams::Object(p)) = m.params else {
            panic!()
        };
        let Some(WireMeta::Object(meta)) = p.meta else {
            panic!()
        };
        assert_eq!(meta.progress_token.unwrap().get(), "\"p\"");
        assert_eq!(meta.protocol_version.unwrap().get(), "\"2026-07-28\"");
        assert!(meta.client_capabilities.is_some());
        let m = wire(r#"{"params":{"_meta":[1]}}"#).unwrap();
        let Some(WireParams::Object(p)) = m.params else {
            panic!()
        };
        assert!(matches!(p.meta, Some(WireMeta::Other(JsonKind::Array))));
    }

    #[test]
    fn non_object_message_is_a_type_error() {
        let err = wire("[1]").unwrap_err();
        assert!(err.is_data());
    }
}
