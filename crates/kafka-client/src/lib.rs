//! How every Kafka client of the system (the relay's producer, the projectors' and the saga's
//! consumers, admin clients, esctl and the benchmark) reaches the brokers: one settings type
//! with the bootstrap list and the connection's security, turned into librdkafka's
//! configuration in one place. The SASL password is a secret: never logged, never serialized
//! except as the default of the settings' first layer.

pub mod inspect;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The `[kafka]` section of a service's settings.
#[derive(Clone, Deserialize, Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    /// Partitions of topics the service creates when they are missing.
    pub topic_partitions: i32,
    /// Milliseconds a record may wait for the broker's acknowledgement before it fails.
    pub delivery_timeout_ms: u64,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: SecurityProtocol,
    /// Credentials for the `sasl_*` protocols.
    #[setting(section)]
    pub sasl: SaslSettings,
    /// Certificates for the `ssl` and `sasl_ssl` protocols.
    #[setting(section)]
    pub tls: KafkaTlsSettings,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_partitions: 3,
            // Kafka's own default for delivery.timeout.ms: a slow broker is waited for
            // rather than failed (a failed record makes an idempotent producer bump its epoch).
            delivery_timeout_ms: 120_000,
            security_protocol: SecurityProtocol::Plaintext,
            sasl: SaslSettings::default(),
            tls: KafkaTlsSettings::default(),
        }
    }
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("security_protocol", &self.security_protocol)
            .field("sasl", &self.sasl)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// How a client talks to the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    #[serde(alias = "PLAINTEXT")]
    Plaintext,
    #[serde(alias = "SSL")]
    Ssl,
    #[serde(alias = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(alias = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    fn librdkafka(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// The `[kafka.sasl]` section.
#[derive(Clone, Deserialize, Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct SaslSettings {
    /// `scram-sha-512` (the default), `scram-sha-256` or `plain`.
    pub mechanism: SaslMechanism,
    /// SASL user name.
    pub username: String,
    /// SASL password (never logged).
    #[serde(serialize_with = "defaults_only")]
    pub password: SecretString,
}

impl Default for SaslSettings {
    fn default() -> Self {
        Self {
            mechanism: SaslMechanism::ScramSha512,
            username: String::new(),
            password: SecretString::from(""),
        }
    }
}

impl std::fmt::Debug for SaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Serializes a password for the settings' layer of defaults (`service_kit::settings::load`)
/// and for `--help`'s list of defaults: settings are serialized only there, before anything is
/// configured, so a configured password never is.
pub fn defaults_only<S: serde::Serializer>(
    password: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(password.expose_secret())
}

/// A SASL mechanism (librdkafka's `sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum SaslMechanism {
    #[serde(rename = "scram-sha-512", alias = "SCRAM-SHA-512")]
    ScramSha512,
    #[serde(rename = "scram-sha-256", alias = "SCRAM-SHA-256")]
    ScramSha256,
    /// The password travels as is: only over TLS.
    #[serde(rename = "plain", alias = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    fn librdkafka(self) -> &'static str {
        match self {
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::Plain => "PLAIN",
        }
    }
}

/// The `[kafka.tls]` section: PEM files.
#[derive(Debug, Clone, Default, Deserialize, Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaTlsSettings {
    /// CA certificate(s) the brokers' certificates must chain to; unset, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The client's certificate, for brokers that require one (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key.
    pub key_file: Option<PathBuf>,
}

/// Settings that cannot make a working client; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("kafka settings: {0}")]
pub struct InvalidKafkaSettings(String);

impl KafkaSettings {
    /// Plaintext settings for `brokers`, the rest default (tests, tools).
    pub fn plaintext(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            ..Self::default()
        }
    }

    /// Checks what can be checked before connecting: credentials present where the protocol
    /// needs them, certificate files readable, a client certificate with its key.
    pub fn validate(&self) -> Result<(), InvalidKafkaSettings> {
        let invalid = |message: String| Err(InvalidKafkaSettings(message));
        if self.brokers.trim().is_empty() {
            return invalid("kafka.brokers is empty".into());
        }
        let protocol = self.security_protocol;
        if protocol.uses_sasl() {
            if self.sasl.username.is_empty() {
                return invalid(format!(
                    "kafka.security_protocol is {} but kafka.sasl.username is empty",
                    protocol.librdkafka()
                ));
            }
            if self.sasl.password.expose_secret().is_empty() {
                return invalid(format!(
                    "kafka.security_protocol is {} but kafka.sasl.password is empty",
                    protocol.librdkafka()
                ));
            }
        }
        if protocol == SecurityProtocol::SaslPlaintext
            && self.sasl.mechanism == SaslMechanism::Plain
        {
            return invalid(
                "kafka.sasl.mechanism plain with kafka.security_protocol sasl_plaintext would send \
                 the password in clear: use sasl_ssl, or a scram mechanism"
                    .into(),
            );
        }
        let tls = &self.tls;
        let any_file = tls.ca_file.is_some() || tls.cert_file.is_some() || tls.key_file.is_some();
        if any_file && !protocol.uses_tls() {
            return invalid(format!(
                "kafka.tls files are set but kafka.security_protocol is {}, which does not \
                 use TLS (ssl or sasl_ssl do)",
                protocol.librdkafka()
            ));
        }
        match (&tls.cert_file, &tls.key_file) {
            (Some(_), None) => {
                return invalid("kafka.tls.cert_file is set but key_file is not".into());
            }
            (None, Some(_)) => {
                return invalid("kafka.tls.key_file is set but cert_file is not".into());
            }
            _ => {}
        }
        for (name, file) in [
            ("ca_file", &tls.ca_file),
            ("cert_file", &tls.cert_file),
            ("key_file", &tls.key_file),
        ] {
            if let Some(file) = file
                && let Err(error) = std::fs::File::open(file)
            {
                return invalid(format!(
                    "kafka.tls.{name} {} cannot be read: {error}",
                    file.display()
                ));
            }
        }
        Ok(())
    }

    /// librdkafka's configuration for a client of these brokers: the bootstrap list and the
    /// security settings; each client adds its own (group, acks, …).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("security.protocol", self.security_protocol.librdkafka());
        if self.security_protocol.uses_sasl() {
            config
                .set("sasl.mechanism", self.sasl.mechanism.librdkafka())
                .set("sasl.username", &self.sasl.username)
                .set("sasl.password", self.sasl.password.expose_secret());
        }
        if self.security_protocol.uses_tls() {
            let files = [
                ("ssl.ca.location", &self.tls.ca_file),
                ("ssl.certificate.location", &self.tls.cert_file),
                ("ssl.key.location", &self.tls.key_file),
            ];
            for (key, file) in files {
                if let Some(file) = file {
                    config.set(key, file.display().to_string());
                }
            }
        }
        config
    }
}

/// Why a process cannot use the brokers it was configured for.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The settings cannot work whatever the brokers say.
    #[error(transparent)]
    Invalid(#[from] InvalidKafkaSettings),
    /// A broker refused the credentials or the TLS handshake: a mistake in the settings that
    /// no waiting mends.
    #[error(
        "Kafka at {brokers} refused this client: {reason} (check kafka.security_protocol, \
         kafka.sasl.* and kafka.tls.*)"
    )]
    Refused { brokers: String, reason: String },
    /// librdkafka could not build a client from the settings.
    #[error("Kafka client settings: {0}")]
    Client(#[from] KafkaError),
}

/// Remembers the first refusal librdkafka reports through its error callback: a failed SASL
/// authentication or TLS handshake surfaces there, while requests only time out.
#[derive(Default)]
struct RefusalWatch(Mutex<Option<String>>);

impl ClientContext for RefusalWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        let refused = matches!(
            error.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Authentication
                    | RDKafkaErrorCode::SaslAuthenticationFailed
                    | RDKafkaErrorCode::SSL
            )
        );
        if refused {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_or_insert_with(|| reason.to_owned());
        }
    }
}

impl ProducerContext for RefusalWatch {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

impl KafkaSettings {
    /// Validates the settings, then asks the brokers for metadata for up to `timeout`
    /// (blocking): `Ok(true)` once they answered, `Ok(false)` when none could be reached in
    /// that time (a broker that is down is waited for by the caller's own retries), and
    /// [`AccessError::Refused`] as soon as a broker refuses the credentials or the TLS
    /// handshake, so a wrong password stops a service at start instead of leaving it retrying.
    pub fn check_access(&self, timeout: Duration) -> Result<bool, AccessError> {
        self.validate()?;
        // A producer's errors reach its context, with librdkafka's own words, when it polls.
        let client: BaseProducer<RefusalWatch> = self
            .client_config()
            .set("socket.connection.setup.timeout.ms", "5000")
            .create_with_context(RefusalWatch::default())?;
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let answered = client
                .client()
                .fetch_metadata(None, left.min(Duration::from_millis(500)))
                .is_ok();
            client.poll(Duration::ZERO);
            let refusal = client
                .context()
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(reason) = refusal {
                return Err(AccessError::Refused {
                    brokers: self.brokers.clone(),
                    reason,
                });
            }
            if answered {
                return Ok(true);
            }
            if left.is_zero() {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl_ssl() -> KafkaSettings {
        KafkaSettings {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl: SaslSettings {
                username: "relay".into(),
                password: SecretString::from("s3cret-pass"),
                ..SaslSettings::default()
            },
            ..KafkaSettings::plaintext("127.0.0.1:9093")
        }
    }

    #[test]
    fn sasl_settings_reach_librdkafka_and_stay_out_of_debug_output() {
        let settings = sasl_ssl();
        settings.validate().unwrap();
        let config = settings.client_config();
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(config.get("sasl.username"), Some("relay"));
        assert_eq!(config.get("sasl.password"), Some("s3cret-pass"));
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("relay") && !shown.contains("s3cret-pass"),
            "{shown}"
        );
    }

    #[test]
    fn plaintext_sets_no_credentials() {
        let config = KafkaSettings::plaintext("127.0.0.1:9092").client_config();
        assert_eq!(config.get("security.protocol"), Some("plaintext"));
        assert_eq!(config.get("sasl.username"), None);
        assert_eq!(config.get("ssl.ca.location"), None);
    }

    #[test]
    fn settings_that_cannot_work_are_refused_with_the_setting_named() {
        let mut missing_password = sasl_ssl();
        missing_password.sasl.password = SecretString::from("");
        let mut missing_user = sasl_ssl();
        missing_user.sasl.username.clear();
        let mut unreadable_ca = sasl_ssl();
        unreadable_ca.tls.ca_file = Some("/nonexistent/ca.pem".into());
        let mut cert_without_key = sasl_ssl();
        cert_without_key.tls.cert_file = Some("/etc/hostname".into());
        let mut plain_in_clear = sasl_ssl();
        plain_in_clear.security_protocol = SecurityProtocol::SaslPlaintext;
        plain_in_clear.sasl.mechanism = SaslMechanism::Plain;
        let mut files_without_tls = KafkaSettings::plaintext("127.0.0.1:9092");
        files_without_tls.tls.ca_file = Some("/etc/hostname".into());
        for (settings, named) in [
            (missing_password, "kafka.sasl.password"),
            (missing_user, "kafka.sasl.username"),
            (unreadable_ca, "kafka.tls.ca_file"),
            (cert_without_key, "kafka.tls.cert_file"),
            (files_without_tls, "kafka.security_protocol"),
            (plain_in_clear, "kafka.sasl.mechanism plain"),
            (KafkaSettings::plaintext(" "), "kafka.brokers"),
        ] {
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(named), "{named}: {error}");
        }
    }

    #[test]
    fn protocols_and_mechanisms_read_as_kafka_spells_them_too() {
        #[derive(Deserialize)]
        struct Both {
            protocol: SecurityProtocol,
            mechanism: SaslMechanism,
        }
        for (protocol, mechanism) in [("sasl_ssl", "scram-sha-256"), ("SASL_SSL", "SCRAM-SHA-256")]
        {
            let both: Both = serde_json::from_value(serde_json::json!({
                "protocol": protocol, "mechanism": mechanism
            }))
            .unwrap();
            assert_eq!(both.protocol, SecurityProtocol::SaslSsl);
            assert_eq!(both.mechanism, SaslMechanism::ScramSha256);
        }
    }
}
