//! Value objects: each parses its input once and is valid from then on.

use domain_kit::{ValueError, bounded_text, refuse};
use serde::{Deserialize, Serialize};

/// A syntactically valid email address, trimmed and lower-cased (so uniqueness is
/// case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses an address: one `@`, a local part of at most 64 characters, a domain of
    /// dot-separated labels (letters, digits, hyphens) with at least one dot.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err(refuse("required", "email must not be empty"));
        }
        if email.chars().count() > Self::MAX_LEN {
            return Err(refuse(
                "too_long",
                format!("email must be at most {} characters", Self::MAX_LEN),
            ));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(refuse("invalid_email", "email needs an @"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(refuse(
                "invalid_email",
                format!("{:?} is not a valid email address", input.trim()),
            ));
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    /// Longest name accepted, in characters.
    pub const MAX_LEN: usize = 200;

    /// Parses a name.
    pub fn parse(input: &str) -> Result<Self, ValueError> {
        bounded_text("name", input, Self::MAX_LEN, false).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount of credit in minor units (cents): 0 to 10^11 (one billion in major units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CreditCents(i64);

impl CreditCents {
    /// Largest amount accepted.
    pub const MAX: i64 = 100_000_000_000;

    /// Parses a credit amount; zero allowed.
    pub fn parse(cents: i64) -> Result<Self, ValueError> {
        if cents < 0 {
            return Err(refuse("negative", "amount must not be negative"));
        }
        if cents > Self::MAX {
            return Err(refuse(
                "too_large",
                format!("amount must be at most {} cents", Self::MAX),
            ));
        }
        Ok(Self(cents))
    }

    /// Parses a strictly positive amount (a reservation).
    pub fn parse_positive(cents: i64) -> Result<Self, ValueError> {
        if cents == 0 {
            return Err(refuse("not_positive", "amount must be greater than zero"));
        }
        Self::parse(cents)
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@-example.com",
            "ada@example..com",
            ".ada@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long).unwrap_err().code, "invalid_email");
        let too_long = format!("a@{}.com", "b".repeat(260));
        assert_eq!(Email::parse(&too_long).unwrap_err().code, "too_long");
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(
            UserName::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(UserName::parse("   ").unwrap_err().code, "required");
        assert_eq!(
            UserName::parse(&"x".repeat(500)).unwrap_err().code,
            "too_long"
        );
        assert!(
            UserName::parse(&"é".repeat(200)).is_ok(),
            "the limit counts characters"
        );
        assert_eq!(
            UserName::parse("a\u{0}b").unwrap_err().code,
            "invalid_characters"
        );
    }

    #[test]
    fn credit_is_bounded() {
        assert!(CreditCents::parse(0).is_ok());
        assert_eq!(CreditCents::parse(-1).unwrap_err().code, "negative");
        assert_eq!(CreditCents::parse(i64::MAX).unwrap_err().code, "too_large");
        assert_eq!(
            CreditCents::parse_positive(0).unwrap_err().code,
            "not_positive"
        );
    }
}
