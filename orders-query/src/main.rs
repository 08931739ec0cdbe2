use orders_query::{Application, Settings};

const HELP: &str = "\
orders-query: the read side of the Orders bounded context (Kafka topic orders.events -> projector
-> read model in its own database -> REST queries).

Usage: orders-query [--help] [--version] [migrate]
  migrate   bring the read model's schema up to date, then exit (0 when done; what a
            Kubernetes migration Job runs); without it, the service runs

Configuration comes from defaults, then the TOML file named by ORDERS_QUERY_CONFIG, then
environment variables ORDERS_QUERY__<SECTION>__<KEY>, for example:
  ORDERS_QUERY__HTTP__PORT=5012                        port to listen on (0 picks one)
  ORDERS_QUERY__HTTP__RATE_LIMIT__PER_SECOND=1000      requests per client (subject or address) a second; 429
                                                       beyond it (also RATE_LIMIT__BURST=2000)
  ORDERS_QUERY__HTTP__REQUEST_TIMEOUT_MS=30000         a longer request is answered 503
  ORDERS_QUERY__AUTH__JWKS_FILE=.stack/auth/jwks.json  keys that sign bearer tokens (EdDSA, by kid; re-read
                                                       when it changes); also AUTH__ISSUER, AUTH__AUDIENCE
  ORDERS_QUERY__DATABASE__DATABASE_NAME=orders_read    the read model's database (also HOST,
                                                       PORT, USERNAME, PASSWORD, MAX_CONNECTIONS)
  ORDERS_QUERY__EVENT_STORE__DATABASE_NAME=orders_es   the event store, read by rebuilds
  ORDERS_QUERY__KAFKA__BROKERS=127.0.0.1:9092
  ORDERS_QUERY__KAFKA__SECURITY_PROTOCOL=sasl_ssl
      plaintext (default), ssl, sasl_plaintext or sasl_ssl; with SASL also KAFKA__SASL__USERNAME,
      KAFKA__SASL__PASSWORD and KAFKA__SASL__MECHANISM (scram-sha-512, the default, scram-sha-256
      or plain); with TLS KAFKA__TLS__CA_FILE (PEM; unset: the system's roots) and, for mutual
      TLS, KAFKA__TLS__CERT_FILE and KAFKA__TLS__KEY_FILE. Refused credentials stop the start.
  ORDERS_QUERY__TOPIC=orders.events
  ORDERS_QUERY__PROJECTOR__GROUP_ID=orders-query       consumer group of every instance
  ORDERS_QUERY__PROJECTOR__GAP_TIMEOUT_MS=30000        wait for a missing sequence, then park
  ORDERS_QUERY__PROJECTOR__FETCH_WAIT_MS=500           longest the broker holds an empty fetch (Kafka
                                                       answers at once when a record arrives)
  ORDERS_QUERY__READS__MAX_WAIT_MS=10000               longest min_version wait
  ORDERS_QUERY__AUTH__JWKS_URL=https://idp.example/jwks.json
      fetch the keys from an identity provider instead (refetched every 30 s and for a new kid)
  ORDERS_QUERY__HTTP__TLS__CERT_FILE=/etc/cqrs/tls/cert.pem and ORDERS_QUERY__HTTP__TLS__KEY_FILE=…/key.pem
      serve HTTPS only, with this PEM certificate chain and key (off unless both are set)
Every endpoint but health, metrics and the API documents wants Authorization: Bearer <JWT>.
Logs are JSON lines on stdout, filtered by RUST_LOG (default info), with trace_id and span_id.
Traces: OpenTelemetry spans go over OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT when it is set
(also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY, OTEL_TRACES_SAMPLER).
Endpoints: GET /orders/{id}[?min_version=N&wait_ms=M], GET /orders?user_id=|status=&limit=
&cursor= (newest first), GET /users/{user_id}/order-summary, /admin/projection, /admin/parked,
/admin/rebuild, /health/live, /health/ready, /metrics, /api-docs/openapi.json, /swagger-ui/
SIGTERM or SIGINT stops it after in-flight requests and the projector's current batch.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::process::run(
        "orders-query",
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
