//! JSON objects only: serde's derived structs also accept a JSON array of their fields in
//! order (`[null, null]` for a struct of two options), which no client means and no schema
//! allows. Fields that hold such structs read an object first.

use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};

pub fn optional<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)? {
        None => Ok(None),
        Some(object) => serde_json::from_value(serde_json::Value::Object(object))
            .map(Some)
            .map_err(D::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Range {
        start: Option<String>,
        end: Option<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    struct Holder {
        #[serde(default, deserialize_with = "super::optional")]
        range: Option<Range>,
    }

    #[test]
    fn arrays_are_not_objects() {
        assert!(serde_json::from_str::<Holder>(r#"{"range": [null, null]}"#).is_err());
        assert!(
            serde_json::from_str::<Holder>(r#"{"range": {"start": "2026-01-01"}}"#)
                .unwrap()
                .range
                .is_some()
        );
        assert!(serde_json::from_str::<Holder>(r#"{"range": null}"#)
            .unwrap()
            .range
            .is_none());
        assert!(serde_json::from_str::<Holder>(r#"{}"#)
            .unwrap()
            .range
            .is_none());
    }
}
