//! Strict JSON reading shared by the statement and the bundle: a struct must arrive as a JSON
//! object.
//!
//! serde's derived structs also accept a JSON *array* of field values (`["a", 1]` for
//! `{"x": "a", "y": 1}`). model-signing 1.1.1 and every Sigstore reader refuse that, so accepting
//! it would make modelseal verify payloads the reference rejects. [`Obj`] closes the gap by driving
//! the derived visitor through `deserialize_map`, which serde_json answers only for `{...}`.
//!
//! Depth: the typed structures are a handful of levels deep, and serde_json skips unknown fields
//! iteratively (one byte of bookkeeping per level), so no input can exhaust the stack.

use serde::de::{Deserialize, Deserializer, Visitor};

/// A `T` that was written as a JSON object; use it for every struct-typed field.
#[derive(Debug)]
pub(crate) struct Obj<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(MapOnly(deserializer)).map(Obj)
    }
}

/// Parses `T` from JSON bytes, requiring the top level to be an object.
pub(crate) fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> serde_json::Result<T> {
    serde_json::from_slice::<Obj<T>>(bytes).map(|o| o.0)
}

/// A deserializer that answers every request, in particular `deserialize_struct`, with
/// `deserialize_map` of the wrapped one.
struct MapOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Inner {
        x: String,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Outer {
        inner: Obj<Inner>,
        n: u8,
    }

    #[test]
    fn objects_are_read() {
        let o: Outer = from_slice(br#"{"n": 1, "inner": {"x": "a"}}"#).unwrap();
        assert_eq!(o.inner.0, Inner { x: "a".into() });
        assert_eq!(o.n, 1);
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        // Plain serde_json accepts this; we must not.
        assert!(serde_json::from_slice::<Inner>(br#"["a"]"#).is_ok());
        assert!(from_slice::<Inner>(br#"["a"]"#).is_err());
        assert!(from_slice::<Outer>(br#"[{"x": "a"}, 1]"#).is_err());
        let e = from_slice::<Outer>(br#"{"n": 1, "inner": ["a"]}"#).unwrap_err();
        assert!(e.to_string().contains("expected"), "{e}");
    }

    #[test]
    fn other_types_are_refused_with_a_position() {
        for text in [&b"1"[..], b"\"s\"", b"null", b"true", b""] {
            assert!(from_slice::<Inner>(text).is_err());
        }
    }
}
