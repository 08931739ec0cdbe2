use users_query::{Application, Settings};

const HELP: &str = "\
users-query: the read side of the Users bounded context (Kafka topic users.events -> projector
-> read model in its own database -> REST queries).

Usage: users-query [--help] [--version] [migrate]
  migrate   bring the read model's schema up to date, then exit (0 when done; what a
            Kubernetes migration Job runs); without it, the service runs

Configuration comes from defaults, then the TOML file named by USERS_QUERY_CONFIG, then
environment variables USERS_QUERY__<SECTION>__<KEY>, for example:
  USERS_QUERY__HTTP__PORT=5011               port to listen on (0 picks one)
  USERS_QUERY__HTTP__RATE_LIMIT__PER_SECOND=1000
                                             requests per client (subject or address) a second; 429
                                             beyond it (also RATE_LIMIT__BURST=2000)
  USERS_QUERY__HTTP__REQUEST_TIMEOUT_MS=30000
                                             a longer request is answered 503
  USERS_QUERY__AUTH__JWKS_FILE=.stack/auth/jwks.json
                                             keys that sign bearer tokens (EdDSA, by kid; re-read
                                             when it changes); also AUTH__ISSUER, AUTH__AUDIENCE
  USERS_QUERY__DATABASE__DATABASE_NAME=users_read   the read model's database (also HOST,
                                             PORT, USERNAME, PASSWORD, MAX_CONNECTIONS)
  USERS_QUERY__EVENT_STORE__DATABASE_NAME=users_es  the event store, read by rebuilds
  USERS_QUERY__KAFKA__BROKERS=127.0.0.1:9092
  USERS_QUERY__KAFKA__SECURITY_PROTOCOL=sasl_ssl
      plaintext (default), ssl, sasl_plaintext or sasl_ssl; with SASL also KAFKA__SASL__USERNAME,
      KAFKA__SASL__PASSWORD and KAFKA__SASL__MECHANISM (scram-sha-512, the default, scram-sha-256
      or plain); with TLS KAFKA__TLS__CA_FILE (PEM; unset: the system's roots) and, for mutual
      TLS, KAFKA__TLS__CERT_FILE and KAFKA__TLS__KEY_FILE. Refused credentials stop the start.
  USERS_QUERY__TOPIC=users.events
  USERS_QUERY__PROJECTOR__GROUP_ID=users-query      consumer group of every instance
  USERS_QUERY__PROJECTOR__GAP_TIMEOUT_MS=30000      wait for a missing sequence, then park
  USERS_QUERY__PROJECTOR__FETCH_WAIT_MS=500         longest the broker holds an empty fetch (Kafka
                                                    answers at once when a record arrives)
  USERS_QUERY__READS__MAX_WAIT_MS=10000             longest min_version wait
  USERS_QUERY__AUTH__JWKS_URL=https://idp.example/jwks.json
      fetch the keys from an identity provider instead (refetched every 30 s and for a new kid)
  USERS_QUERY__HTTP__TLS__CERT_FILE=/etc/cqrs/tls/cert.pem and USERS_QUERY__HTTP__TLS__KEY_FILE=…/key.pem
      serve HTTPS only, with this PEM certificate chain and key (off unless both are set)
Every endpoint but health, metrics and the API documents wants Authorization: Bearer <JWT>.
Logs are JSON lines on stdout, filtered by RUST_LOG (default info), with trace_id and span_id.
Traces: OpenTelemetry spans go over OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT when it is set
(also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY, OTEL_TRACES_SAMPLER).
Endpoints: GET /users/{id}[?min_version=N&wait_ms=M], GET /users?email=|name_prefix=|status=
&limit=&cursor=, /admin/projection, /admin/parked, /admin/rebuild, /health/live, /health/ready,
/metrics, /api-docs/openapi.json, /swagger-ui/
SIGTERM or SIGINT stops it after in-flight requests and the projector's current batch.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::process::run(
        "users-query",
        env!("CARGO_PKG_VERSION"),
        HELP,
        Settings::load,
        Application::migrate,
        |settings, cancel| async move {
            Application::build(settings, cancel)
                .await?
                .run_until_stopped()
                .await
        },
    )
    .await
}
