//! JSON integers as JSON Schema defines them: `3.0` is the integer 3 (JSON has one number
//! type, and clients written in languages without integers send floats). serde's `i64`
//! refuses `3.0`; these accept any number with no fractional part that fits.

use serde::{Deserialize, Deserializer};

const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn integral<E: serde::de::Error>(number: serde_json::Number) -> Result<i64, E> {
    if let Some(n) = number.as_i64() {
        return Ok(n);
    }
    match number.as_f64() {
        // Only where every integer is exact in a double (±2^53): past it, `9.2e18` could be
        // a rounded neighbour of the number the client meant.
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_EXACT => Ok(f as i64),
        _ => Err(E::custom(format!(
            "invalid value: {number}, expected an integer"
        ))),
    }
}

pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    integral(serde_json::Number::deserialize(deserializer)?)
}

pub fn optional_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(integral)
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::integer")]
        n: i64,
        #[serde(default, deserialize_with = "super::optional_integer")]
        m: Option<i64>,
    }

    fn n(json: &str) -> Result<i64, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_are_integers() {
        assert_eq!(n(r#"{"n": 3}"#), Ok(3));
        assert_eq!(n(r#"{"n": 3.0}"#), Ok(3));
        assert_eq!(n(r#"{"n": -1e3}"#), Ok(-1000));
        assert!(n(r#"{"n": 3.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
        assert!(n(r#"{"n": "3"}"#).is_err());
        let body: Body = serde_json::from_str(r#"{"n": 1, "m": 2.0}"#).unwrap();
        assert_eq!(body.m, Some(2));
        let body: Body = serde_json::from_str(r#"{"n": 1, "m": null}"#).unwrap();
        assert_eq!(body.m, None);
    }
}
