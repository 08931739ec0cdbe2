//! Layered configuration: defaults in code, then an optional TOML file, then environment
//! variables with the service's prefix (`USERS_COMMAND__DATABASE__HOST=…`).
//!
//! `load` reads the process environment, so its tests live in the services' binaries' tests,
//! where each test process owns its environment.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

/// Loads `T` from its defaults, the TOML file named by `<PREFIX>_CONFIG` if set, and
/// `<PREFIX>__SECTION__KEY` environment variables, in increasing precedence. (The file's
/// variable has a single underscore so it is not read as a setting itself.)
pub fn load<T>(prefix: &str) -> Result<T, config::ConfigError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Default,
{
    // The service's own defaults first, whole: a file or a variable that sets one key of a
    // section keeps the service's other defaults of that section (its database name, its
    // consumer group), not those of the section's type.
    let mut builder =
        config::Config::builder().add_source(config::Config::try_from(&T::default())?);
    if let Ok(file) = std::env::var(format!("{prefix}_CONFIG")) {
        builder = builder.add_source(config::File::with_name(&file).required(true));
    }
    builder
        .add_source(
            config::Environment::with_prefix(prefix)
                .prefix_separator("__")
                .separator("__")
                // No `try_parsing`: it would turn a password "007" into "7". Numbers and
                // booleans are parsed from the text when the typed field asks for them.
                .ignore_empty(true),
        )
        .build()?
        .try_deserialize()
}

/// Where a service's Postgres database is.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Postgres host.
    pub host: String,
    /// Postgres port.
    pub port: u16,
    /// Role to connect as.
    pub username: String,
    /// The role's password (never logged).
    #[serde(serialize_with = "kafka_client::defaults_only")]
    pub password: SecretString,
    /// Database to use.
    pub database_name: String,
    /// Refuse a connection without TLS (otherwise TLS is used when the server offers it).
    pub require_ssl: bool,
    /// Connections in the pool at most.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_secs: u64,
    /// Apply pending migrations at start-up.
    pub migrate: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 5432,
            username: "cqrs".into(),
            password: SecretString::from("cqrs"),
            database_name: String::new(),
            require_ssl: false,
            max_connections: 16,
            acquire_timeout_secs: 5,
            migrate: true,
        }
    }
}

impl DatabaseSettings {
    /// Connect options without a database, for administrative statements.
    pub fn server_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .password(self.password.expose_secret())
            .ssl_mode(if self.require_ssl {
                PgSslMode::Require
            } else {
                PgSslMode::Prefer
            })
    }

    /// Connect options of the service's database.
    pub fn connect_options(&self) -> PgConnectOptions {
        self.server_options().database(&self.database_name)
    }

    /// A lazily connecting pool: connections open on demand, and a database that goes away
    /// later shows in `/health/ready` instead of stopping the service. (A service that
    /// migrates at start-up still needs the database then.)
    pub fn pool(&self) -> sqlx::PgPool {
        self.pool_with(self.connect_options())
    }

    /// `pool` with connect options the caller adjusted (e.g. a search path).
    ///
    /// A connection is pinged before it is handed out only when it sat idle for a second or
    /// more: one in steady use is known alive by its last statement, and a ping on every
    /// checkout was a round trip of its own (two or three per command). A connection that
    /// died in that second (Postgres restarted under load) fails its first statement, as the
    /// statements already in flight then fail, and is not returned to the pool.
    pub fn pool_with(&self, options: PgConnectOptions) -> sqlx::PgPool {
        PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(Duration::from_secs(self.acquire_timeout_secs))
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_BEFORE_PING {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options)
    }
}

/// How long a pooled connection may sit idle before it is pinged when next handed out.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Where the Kafka brokers are and how to reach them (one type for every Kafka client).
pub use kafka_client::KafkaSettings;

/// The `[kafka]` section alone, for the command-line tools: the defaults, then
/// `<PREFIX>__KAFKA__…` variables (e.g. `ESCTL__KAFKA__SASL__PASSWORD`), as a service reads it.
pub fn kafka_from_env(prefix: &str) -> Result<KafkaSettings, config::ConfigError> {
    #[derive(Default, Deserialize, serde::Serialize)]
    #[serde(default)]
    struct KafkaOnly {
        kafka: KafkaSettings,
    }
    load::<KafkaOnly>(prefix).map(|only| only.kafka)
}

/// Where and how a service serves HTTP.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on; 0 picks a free one (tests).
    pub port: u16,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Seconds in-flight requests get to finish after a shutdown signal.
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// Milliseconds a request may run before it is answered 503 `/problems/request-timeout`.
    pub request_timeout_ms: u64,
    /// Milliseconds a client has to send a request's headers before the connection is closed.
    pub client_header_timeout_ms: u64,
    /// Open connections each worker accepts at most; further ones wait in the backlog.
    pub max_connections: usize,
    /// Requests per client (the authenticated subject, else the peer's address).
    #[setting(section)]
    pub rate_limit: crate::limits::RateLimitSettings,
    /// TLS on the listener; off unless both files are set.
    #[setting(section)]
    pub tls: crate::tls::TlsSettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            body_limit_bytes: 64 * 1024,
            shutdown_timeout_secs: 10,
            workers: 0,
            request_timeout_ms: 30_000,
            client_header_timeout_ms: 5_000,
            max_connections: 10_000,
            rate_limit: crate::limits::RateLimitSettings::default(),
            tls: crate::tls::TlsSettings::default(),
        }
    }
}

impl HttpSettings {
    /// Binds the listener; the chosen port is the listener's local address.
    pub fn bind(&self) -> std::io::Result<std::net::TcpListener> {
        std::net::TcpListener::bind((self.host.as_str(), self.port))
    }
}
