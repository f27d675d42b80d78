//! Scalars with one wire form across Orrery: `DateTime` is RFC 3339 in UTC with `Z`
//! (`2026-12-01T13:47:39.852Z`), as every REST dialect writes it. async-graphql's chrono
//! scalar writes `+00:00`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// An instant: RFC 3339 in UTC, ending in `Z` (input: any RFC 3339 offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant: RFC 3339 in UTC, ending in `Z` (`2026-12-01T13:47:39.852Z`). Input takes any
/// RFC 3339 offset.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| DateTime(t.to_utc()))
                .map_err(|_| {
                    InputValueError::custom("expected an RFC 3339 time like 2026-01-15T09:30:00Z")
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(at: chrono::DateTime<Utc>) -> Self {
        Self(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_z_and_reads_any_offset() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T13:47:39.852+02:00")
            .unwrap()
            .to_utc();
        assert_eq!(
            DateTime(at).to_value(),
            Value::String("2026-12-01T11:47:39.852Z".into())
        );
        let parsed = DateTime::parse(Value::String("2026-12-01T11:47:39.852Z".into())).unwrap();
        assert_eq!(parsed.0, at);
        assert!(DateTime::parse(Value::String("yesterday".into())).is_err());
        assert!(DateTime::parse(Value::Number(5.into())).is_err());
    }
}
