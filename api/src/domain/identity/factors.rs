//! The authentication factors a login session has presented, and the assurance they give.
//! They travel in the access token's `amr` claim (RFC 8176 values) and are stored on the
//! session's refresh tokens, so a refreshed session keeps what it proved.

/// A set of factors; the empty set is a credential that is no login (an API key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Factors(u8);

impl Factors {
    pub const NONE: Factors = Factors(0);
    /// Something known: the account's password (`pwd`).
    pub const PASSWORD: Factors = Factors(1);
    /// Something held: a WebAuthn assertion by a registered passkey (`hwk`, proof of
    /// possession of a key the authenticator keeps).
    pub const PASSKEY: Factors = Factors(2);

    pub fn contains(self, other: Factors) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Factors) -> Factors {
        Factors(self.0 | other.0)
    }

    /// How many distinct factors: the session's assurance level (1 or 2).
    pub fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// The `amr` claim: one value per factor, plus `mfa` when there are several.
    pub fn amr(self) -> Vec<String> {
        let mut values: Vec<String> = self.names_amr().map(str::to_string).collect();
        if self.count() > 1 {
            values.push("mfa".into());
        }
        values
    }

    fn names_amr(self) -> impl Iterator<Item = &'static str> {
        [(Factors::PASSWORD, "pwd"), (Factors::PASSKEY, "hwk")]
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, name)| name)
    }

    /// Reads an `amr` claim; values this build does not know are ignored.
    pub fn from_amr<S: AsRef<str>>(values: &[S]) -> Factors {
        values
            .iter()
            .fold(Factors::NONE, |acc, v| match v.as_ref() {
                "pwd" => acc.with(Factors::PASSWORD),
                "hwk" => acc.with(Factors::PASSKEY),
                _ => acc,
            })
    }

    /// The stored form on refresh tokens (`pwd`, `pwd hwk`).
    pub fn stored(self) -> String {
        self.names_amr().collect::<Vec<_>>().join(" ")
    }

    pub fn parse_stored(text: &str) -> Factors {
        Factors::from_amr(&text.split(' ').collect::<Vec<_>>())
    }

    /// Human names, for reports: `password`, `passkey`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Factors::PASSWORD, "password"),
            (Factors::PASSKEY, "passkey"),
        ]
        .into_iter()
        .filter(|(f, _)| self.contains(*f))
        .map(|(_, name)| name)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amr_round_trips_and_marks_mfa() {
        let both = Factors::PASSWORD.with(Factors::PASSKEY);
        assert_eq!(both.amr(), ["pwd", "hwk", "mfa"]);
        assert_eq!(Factors::from_amr(&both.amr()), both);
        assert_eq!(Factors::PASSWORD.amr(), ["pwd"]);
        assert_eq!(both.count(), 2);
        assert_eq!(Factors::parse_stored(&both.stored()), both);
        assert_eq!(Factors::parse_stored(""), Factors::NONE);
        assert_eq!(Factors::from_amr(&["otp", "pwd"]), Factors::PASSWORD);
        assert_eq!(both.names(), ["password", "passkey"]);
    }
}
