//! One text per JSON value: object keys sorted by their UTF-8 bytes at every
//! level, no insignificant white space. Two spellings of the same value
//! (key order, spacing, escapes) have one canonical text, so digests and
//! hashes over it compare values, not spellings. Sorting here, rather than
//! relying on the map type, keeps it independent of serde_json's
//! `preserve_order` feature, which any crate in a build may turn on.

use serde_json::Value;

/// The canonical text of `value`.
pub fn canonical_text(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_spacing_and_escapes_do_not_count() {
        let a: Value = serde_json::from_str(r#"{ "b": [1, {"d": 1, "c": "\u00e9"}], "a": null }"#)
            .expect("json");
        let b = json!({"a": null, "b": [1, {"c": "é", "d": 1}]});
        assert_eq!(canonical_text(&a), canonical_text(&b));
        assert_eq!(canonical_text(&b), r#"{"a":null,"b":[1,{"c":"é","d":1}]}"#);
    }

    #[test]
    fn keys_sort_by_their_bytes() {
        let value = json!({"é": 1, "z": 2, "Z": 3, "": 4});
        assert_eq!(canonical_text(&value), r#"{"":4,"Z":3,"z":2,"é":1}"#);
    }
}
