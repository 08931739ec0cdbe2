//! Personal data sealed with a key per data subject, so that destroying one key erases the
//! subject's data from every copy at once: the event store's payloads and snapshots, the
//! envelopes in the outbox and on Kafka, and anything downstream kept them (crypto-shredding,
//! ADR 0018).
//!
//! A sealed value is a string, `sealed:v1:` and the base64 of a fresh 96-bit nonce followed by
//! the AES-256-GCM ciphertext of the UTF-8 value, authenticated with the subject's id, so a
//! sealed value moved to another subject does not open. Being a string, it travels where the
//! value did (a JSON field, a protobuf string) without any schema changing. A reader with the
//! key opens it; once the key is destroyed, [`open`] answers [`ERASED`].
//!
//! [`keys`] is the key store (`subject_keys` in the event store) and the secret that turns a
//! unique value (an email) into the digest its uniqueness claim stores.

pub mod keys;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

/// The prefix of a sealed value.
pub const ARMOR: &str = "sealed:v1:";

/// What a sealed value reads as once its subject's key is destroyed.
pub use domain_kit::ERASED;

/// Bytes of a subject key.
pub const KEY_LEN: usize = 32;

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("a subject key must be {KEY_LEN} bytes")]
    KeyLength,
    #[error("the system's random source failed")]
    Random,
    #[error("a sealed value of {subject} is damaged or was sealed for another subject")]
    Damaged { subject: String },
}

/// The key of one data subject.
pub struct SubjectKey {
    subject: String,
    key: LessSafeKey,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl SubjectKey {
    /// The key of `subject` from its stored bytes.
    pub fn from_bytes(subject: &str, bytes: &[u8]) -> Result<Self, PrivacyError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| PrivacyError::KeyLength)?;
        Ok(Self {
            subject: subject.to_owned(),
            key: LessSafeKey::new(key),
        })
    }

    /// New random key bytes.
    pub fn generate() -> Result<[u8; KEY_LEN], PrivacyError> {
        let mut bytes = [0; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PrivacyError::Random)?;
        Ok(bytes)
    }

    /// `value` sealed (a value already sealed is kept as it is).
    pub fn seal(&self, value: &str) -> Result<String, PrivacyError> {
        if is_sealed(value) {
            return Ok(value.to_owned());
        }
        let mut nonce = [0; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| PrivacyError::Random)?;
        let mut sealed = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.subject.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| PrivacyError::Random)?;
        let mut bytes = nonce.to_vec();
        bytes.append(&mut sealed);
        Ok(format!("{ARMOR}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    fn open_sealed(&self, armored: &str) -> Result<String, PrivacyError> {
        let damaged = || PrivacyError::Damaged {
            subject: self.subject.clone(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(&armored[ARMOR.len()..])
            .map_err(|_| damaged())?;
        if bytes.len() < NONCE_LEN {
            return Err(damaged());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| damaged())?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(self.subject.as_bytes()), &mut sealed)
            .map_err(|_| damaged())?;
        String::from_utf8(plain.to_vec()).map_err(|_| damaged())
    }
}

/// Whether `value` is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(ARMOR)
}

/// `value` opened with `key`: as it is when it is not sealed (written before sealing), and
/// [`ERASED`] when there is no key (the subject was erased).
pub fn open(key: Option<&SubjectKey>, value: &str) -> Result<String, PrivacyError> {
    match key {
        _ if !is_sealed(value) => Ok(value.to_owned()),
        Some(key) => key.open_sealed(value),
        None => Ok(ERASED.to_owned()),
    }
}

/// Seals the string fields `fields` of the JSON object `value`; without a key (the subject is
/// erased) they become [`ERASED`]. Fields that are missing or not strings are left alone.
pub fn seal_fields(
    value: &mut Value,
    fields: &[&str],
    key: Option<&SubjectKey>,
) -> Result<(), PrivacyError> {
    each_field(value, fields, |text| match key {
        Some(key) => key.seal(text),
        None => Ok(ERASED.to_owned()),
    })
}

/// Replaces each string field of `fields` in `value` with `change` of it.
fn each_field(
    value: &mut Value,
    fields: &[&str],
    change: impl Fn(&str) -> Result<String, PrivacyError>,
) -> Result<(), PrivacyError> {
    for field in fields {
        if let Some(Value::String(text)) = value.get_mut(*field) {
            *text = change(text)?;
        }
    }
    Ok(())
}

/// Opens the string fields `fields` of the JSON object `value` (see [`open`]).
pub fn open_fields(
    value: &mut Value,
    fields: &[&str],
    key: Option<&SubjectKey>,
) -> Result<(), PrivacyError> {
    each_field(value, fields, |text| open(key, text))
}

/// Whether any of `fields` of `value` is sealed, i.e. opening them needs the subject's key.
pub fn any_sealed(value: &Value, fields: &[&str]) -> bool {
    fields.iter().any(|field| {
        value
            .get(*field)
            .and_then(Value::as_str)
            .is_some_and(is_sealed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str) -> SubjectKey {
        SubjectKey::from_bytes(subject, &SubjectKey::generate().unwrap()).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_only_and_shows_nothing_of_itself() {
        let ada = key("ada");
        let sealed = ada.seal("ada@example.com").unwrap();
        assert!(
            sealed.starts_with(ARMOR) && !sealed.contains("ada@"),
            "{sealed}"
        );
        assert_ne!(
            sealed,
            ada.seal("ada@example.com").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(open(Some(&ada), &sealed).unwrap(), "ada@example.com");
        assert_eq!(
            ada.seal(&sealed).unwrap(),
            sealed,
            "sealing twice seals once"
        );
        // Another key, or the same bytes given to another subject, refuse it.
        assert!(open(Some(&key("ada")), &sealed).is_err());
        let bytes = SubjectKey::generate().unwrap();
        let (a, b) = (
            SubjectKey::from_bytes("a", &bytes).unwrap(),
            SubjectKey::from_bytes("b", &bytes).unwrap(),
        );
        assert!(open(Some(&b), &a.seal("x").unwrap()).is_err());
        // Without a key it reads as erased; a value never sealed reads as it is.
        assert_eq!(open(None, &sealed).unwrap(), ERASED);
        assert_eq!(open(None, "plain").unwrap(), "plain");
        // Damaged armor is an error, never a panic.
        for damaged in [
            ARMOR.to_owned(),
            format!("{ARMOR}!!"),
            format!("{sealed}AA"),
        ] {
            assert!(open(Some(&ada), &damaged).is_err(), "{damaged}");
        }
        assert!(SubjectKey::from_bytes("x", &[0; 16]).is_err());
    }

    #[test]
    fn json_fields_are_sealed_and_opened_in_place() {
        let ada = key("ada");
        let mut event = serde_json::json!({"type": "UserRenamed", "name": "Ada", "n": 1});
        seal_fields(&mut event, &["name", "n", "missing"], Some(&ada)).unwrap();
        assert!(any_sealed(&event, &["name"]));
        assert_eq!(event["n"], 1);
        let sealed = event.clone();
        open_fields(&mut event, &["name"], Some(&ada)).unwrap();
        assert_eq!(event["name"], "Ada");
        let mut erased = sealed;
        open_fields(&mut erased, &["name"], None).unwrap();
        assert_eq!(erased["name"], ERASED);
        seal_fields(&mut event, &["name"], None).unwrap();
        assert_eq!(event["name"], ERASED);
    }
}
