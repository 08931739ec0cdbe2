use orders_command::{Application, Settings};

const HELP: &str = "\
orders-command: the write side of the Orders bounded context (REST commands -> event store ->
outbox -> Kafka topic orders.events).

Usage: orders-command [--help] [--version] [migrate]
  migrate   bring the event store's tables up to date, then exit (0 when done; what a
            Kubernetes migration Job runs); without it, the service runs

Configuration comes from defaults, then the TOML file named by ORDERS_COMMAND_CONFIG, then
environment variables ORDERS_COMMAND__<SECTION>__<KEY>, for example:
  ORDERS_COMMAND__HTTP__PORT=5002            port to listen on (0 picks one)
  ORDERS_COMMAND__HTTP__RATE_LIMIT__PER_SECOND=1000
                                             requests per client (subject or address) a second; 429
                                             beyond it (also RATE_LIMIT__BURST=2000)
  ORDERS_COMMAND__HTTP__REQUEST_TIMEOUT_MS=30000
                                             a longer request is answered 503
  ORDERS_COMMAND__AUTH__JWKS_FILE=.stack/auth/jwks.json
                                             keys that sign bearer tokens (EdDSA, by kid; re-read
                                             when it changes); also AUTH__ISSUER, AUTH__AUDIENCE
  ORDERS_COMMAND__DATABASE__HOST=127.0.0.1   Postgres host (also PORT, USERNAME, PASSWORD,
                                             DATABASE_NAME=orders_es, MAX_CONNECTIONS, MIGRATE)
  ORDERS_COMMAND__KAFKA__BROKERS=127.0.0.1:9092
  ORDERS_COMMAND__KAFKA__SECURITY_PROTOCOL=sasl_ssl
      plaintext (default), ssl, sasl_plaintext or sasl_ssl; with SASL also KAFKA__SASL__USERNAME,
      KAFKA__SASL__PASSWORD and KAFKA__SASL__MECHANISM (scram-sha-512, the default, scram-sha-256
      or plain); with TLS KAFKA__TLS__CA_FILE (PEM; unset: the system's roots) and, for mutual
      TLS, KAFKA__TLS__CERT_FILE and KAFKA__TLS__KEY_FILE. Refused credentials stop the start.
  ORDERS_COMMAND__TOPIC=orders.events
  ORDERS_COMMAND__RELAY__ENABLED=true        run the outbox relay in this process
  ORDERS_COMMAND__AUTH__JWKS_URL=https://idp.example/jwks.json
      fetch the keys from an identity provider instead (refetched every 30 s and for a new kid)
  ORDERS_COMMAND__HTTP__TLS__CERT_FILE=/etc/cqrs/tls/cert.pem and ORDERS_COMMAND__HTTP__TLS__KEY_FILE=…/key.pem
      serve HTTPS only, with this PEM certificate chain and key (off unless both are set)
Every endpoint but health, metrics and the API documents wants Authorization: Bearer <JWT>.
Logs are JSON lines on stdout, filtered by RUST_LOG (default info), with trace_id and span_id.
Traces: OpenTelemetry spans go over OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT when it is set
(also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY, OTEL_TRACES_SAMPLER).
Endpoints: /orders..., /health/live, /health/ready, /metrics, /api-docs/openapi.json, /swagger-ui/
SIGTERM or SIGINT stops it after in-flight requests and the relay's current batch finish.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::process::run(
        "orders-command",
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
