use saga_orchestrator::{Application, Settings};

const HELP: &str = "\
saga-orchestrator: drives each order to a decision. On OrderPlaced it reserves the order's
total on the user (users-command), then approves the order, or rejects it with the refusal's
reason (orders-command); past the deadline it rejects the order as timed out and releases any
reservation. On OrderCancelled it releases the order's credit. Saga state lives in its own
database and survives restarts; every call carries an idempotency key.

Usage: saga-orchestrator [--help] [--version] [migrate]
  migrate   bring the saga log's schema up to date, then exit (0 when done; what a
            Kubernetes migration Job runs); without it, the service runs

Configuration comes from defaults, then the TOML file named by SAGA_ORCHESTRATOR_CONFIG, then
environment variables SAGA_ORCHESTRATOR__<SECTION>__<KEY>, for example:
  SAGA_ORCHESTRATOR__HTTP__PORT=5020                  port to listen on (0 picks one)
  SAGA_ORCHESTRATOR__HTTP__RATE_LIMIT__PER_SECOND=1000
                                                      requests per client (subject or address) a second; 429
                                                      beyond it (also RATE_LIMIT__BURST=2000)
  SAGA_ORCHESTRATOR__HTTP__REQUEST_TIMEOUT_MS=30000   a longer request is answered 503
  SAGA_ORCHESTRATOR__DATABASE__DATABASE_NAME=saga     the saga log's database (also HOST, PORT,
                                                      USERNAME, PASSWORD, MAX_CONNECTIONS)
  SAGA_ORCHESTRATOR__EVENT_STORE__DATABASE_NAME=orders_es   read to fill gaps on retry
  SAGA_ORCHESTRATOR__KAFKA__BROKERS=127.0.0.1:9092
  SAGA_ORCHESTRATOR__KAFKA__SECURITY_PROTOCOL=sasl_ssl
      plaintext (default), ssl, sasl_plaintext or sasl_ssl; with SASL also KAFKA__SASL__USERNAME,
      KAFKA__SASL__PASSWORD and KAFKA__SASL__MECHANISM (scram-sha-512, the default, scram-sha-256
      or plain); with TLS KAFKA__TLS__CA_FILE (PEM; unset: the system's roots) and, for mutual
      TLS, KAFKA__TLS__CERT_FILE and KAFKA__TLS__KEY_FILE. Refused credentials stop the start.
  SAGA_ORCHESTRATOR__TOPIC=orders.events
  SAGA_ORCHESTRATOR__PROJECTOR__GROUP_ID=saga-orchestrator  consumer group of every instance
  SAGA_ORCHESTRATOR__PROJECTOR__FETCH_WAIT_MS=500     longest the broker holds an empty fetch (Kafka
                                                      answers at once when a record arrives)
  SAGA_ORCHESTRATOR__SAGA__DEADLINE_MS=30000          a place-order saga's deadline
  SAGA_ORCHESTRATOR__SAGA__WORKERS=8                  sagas run at once (one connection each)
  SAGA_ORCHESTRATOR__SAGA__RETRY_MIN_MS=200           first delay before a failed step reruns
  SAGA_ORCHESTRATOR__SAGA__RETRY_MAX_MS=5000          longest delay between attempts
  SAGA_ORCHESTRATOR__SAGA__TOKEN_FILE=.stack/auth/saga.token   the saga's bearer token (role
                                                      service), re-read when it changes
  SAGA_ORCHESTRATOR__AUTH__JWKS_FILE=.stack/auth/jwks.json   keys that sign callers' tokens
  SAGA_ORCHESTRATOR__USERS__URL=http://127.0.0.1:5001     users-command
  SAGA_ORCHESTRATOR__ORDERS__URL=http://127.0.0.1:5002    orders-command
  SAGA_ORCHESTRATOR__USERS__TIMEOUT_MS=2000           per attempt (same keys under ORDERS__)
  SAGA_ORCHESTRATOR__USERS__RETRIES=2                 retries within one call (429, 5xx, no answer)
  SAGA_ORCHESTRATOR__USERS__BREAKER_FAILURES=5        consecutive failures that open the breaker
  SAGA_ORCHESTRATOR__USERS__BREAKER_OPEN_MS=2000      open time before a half-open probe
  SAGA_ORCHESTRATOR__USERS__CONCURRENCY=32            calls in flight at most
  SAGA_ORCHESTRATOR__USERS__CA_FILE=/etc/cqrs/tls/ca.pem  a private CA to trust for an https URL
  SAGA_ORCHESTRATOR__AUTH__JWKS_URL=https://idp.example/jwks.json
      fetch the keys from an identity provider instead (refetched every 30 s and for a new kid)
  SAGA_ORCHESTRATOR__HTTP__TLS__CERT_FILE=/etc/cqrs/tls/cert.pem and SAGA_ORCHESTRATOR__HTTP__TLS__KEY_FILE=…/key.pem
      serve HTTPS only, with this PEM certificate chain and key (off unless both are set)
Every endpoint but health, metrics and the API documents wants Authorization: Bearer <JWT>.
Logs are JSON lines on stdout, filtered by RUST_LOG (default info), with trace_id and span_id.
Traces: OpenTelemetry spans go over OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT when it is set
(also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY, OTEL_TRACES_SAMPLER).
Endpoints: GET /sagas/{id}, GET /sagas?state=&kind=&order_id=&limit=&cursor= (newest first),
/admin/projection, /admin/parked, /health/live, /health/ready, /metrics, /api-docs/openapi.json,
/swagger-ui/
SIGTERM or SIGINT stops it after in-flight requests; a step cut short runs again on restart.";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::process::run(
        "saga-orchestrator",
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
