//! The conventions every command endpoint shares, proven with a tiny command service of the
//! test counter (test_support::fixture) on a real Postgres: `If-Match`, `Idempotency-Key`
//! bound to method, path and body, the answer's ETag and `Idempotent-Replayed`, every
//! `CommandError` as problem+json, and the `/{id}/events` stream.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use command_kit::http::{Call, answer, expected_version, idempotency_key};
use command_kit::problem::command_problem;
use command_kit::{CommandApp, CommandContext, CommandSettings, CommandState};
use event_store::{ClaimTaken, CommandError, EventContract};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::Problem;
use test_support::fixture::{Counter, CounterCommand, CounterContract, CounterError};
use test_support::service::{Running, assert_problem};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Open {
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    amount: i64,
}

/// The counters' command service: a bounded context as small as one can be.
#[derive(Debug, Clone, Copy)]
struct Counters;

impl CommandContext for Counters {
    type Aggregate = Counter;

    const SERVICE: &'static str = "counters-command";
    const SUMMARY: &'static str = "the test counters' write side.";
    const ENDPOINTS: &'static str = "/counters...";
    const ENV_PREFIX: &'static str = "COUNTERS_COMMAND";
    const PORT: u16 = 5999;
    const DATABASE: &'static str = "counters_es";
    const TOPIC: &'static str = "counters.events.unused";

    fn contract(topic: &str) -> Arc<dyn EventContract> {
        Arc::new(CounterContract::new(topic))
    }

    fn refused(error: CommandError<CounterError>) -> Problem {
        refused(error)
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }

    fn routes(config: &mut web::ServiceConfig) {
        config
            .route("/counters", web::post().to(open))
            .route("/counters/{id}/additions", web::post().to(add))
            .route("/counters/{id}/events", web::get().to(events));
    }
}

type State = web::Data<CommandState<Counters>>;

fn refused(error: CommandError<CounterError>) -> Problem {
    command_problem(error, "counter", |rejection| match rejection {
        CounterError::NotOpen => not_found(),
        other => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "counter-refused",
            "The counter refused",
        )
        .with_detail(other.to_string()),
    })
}

fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "counter-not-found",
        "No such counter",
    )
}

/// `POST /counters`: the server picks the id, as creating commands do.
async fn open(state: State, call: Call, body: web::Json<Open>) -> Result<HttpResponse, Problem> {
    let command = CounterCommand::Open {
        name: body.name.clone(),
    };
    let body = body.into_inner();
    let done = state.execute(Uuid::now_v7(), command, call, &body).await?;
    let answered = json!({ "id": done.aggregate_id, "version": done.version });
    Ok(answer(
        StatusCode::CREATED,
        done.version,
        done.replayed,
        &answered,
    ))
}

/// `POST /counters/{id}/additions`.
async fn add(
    state: State,
    call: Call,
    id: web::Path<Uuid>,
    body: web::Json<Add>,
) -> Result<HttpResponse, Problem> {
    let (id, body) = (id.into_inner(), body.into_inner());
    let command = CounterCommand::Add {
        amount: body.amount,
    };
    let done = state.execute(id, command, call, &body).await?;
    let answered = json!({ "id": id, "version": done.version, "total": done.state.total });
    Ok(answer(
        StatusCode::OK,
        done.version,
        done.replayed,
        &answered,
    ))
}

/// `GET /counters/{id}/events`.
async fn events(state: State, id: web::Path<Uuid>) -> Result<HttpResponse, Problem> {
    state.stream(id.into_inner(), not_found()).await
}

/// The counters' command service, built by `CommandApp` on a fresh event store, relay off.
async fn counters_service() -> Running {
    let mut settings = CommandSettings::<Counters>::default();
    settings.database = test_support::fresh_database().await;
    settings.kafka.brokers = test_support::kafka_brokers();
    settings.relay.enabled = false;
    settings.auth = test_support::auth::settings();
    settings.http.port = 0;
    settings.http.workers = 2;
    let cancel = tokio_util::sync::CancellationToken::new();
    let service = CommandApp::<Counters>::build(settings, cancel.clone())
        .await
        .expect("the counters' service starts");
    Running::start(service.port(), cancel, service.run_until_stopped())
}

#[test]
fn the_settings_have_the_contexts_defaults_and_help_lists_each_with_its_text() {
    let settings = CommandSettings::<Counters>::default();
    assert_eq!(settings.http.port, 5999);
    assert_eq!(settings.database.database_name, "counters_es");
    assert_eq!(settings.topic, "counters.events.unused");
    assert!(settings.relay.enabled && settings.database.migrate);
    let docs = CommandSettings::<Counters>::setting_docs();
    let undocumented = service_kit::help::undocumented(&settings, &docs);
    assert!(
        undocumented.is_empty(),
        "without a doc comment: {undocumented:?}"
    );
    let help = CommandSettings::<Counters>::help();
    assert!(help.starts_with("counters-command: the test counters' write side.\n"));
    for setting in service_kit::help::settings("COUNTERS_COMMAND", &settings, &docs) {
        let line = format!("  {}={}", setting.variable, setting.default);
        assert!(help.contains(&line), "--help lists {line}");
    }
    assert!(help.contains("COUNTERS_COMMAND_CONFIG"));
    assert!(help.contains("Endpoints: /counters..., GET /admin/correlations/{id} (the events one request caused),\n/health/live"), "{help}");
}

fn if_match(value: &'static [u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::IF_MATCH,
        HeaderValue::from_bytes(value).expect("a header value"),
    );
    headers
}

#[test]
fn if_match_takes_a_version_bare_quoted_or_weak_and_star_means_any() {
    assert_eq!(expected_version(&HeaderMap::new()).unwrap(), None);
    for (value, expected) in [
        (&b"3"[..], Some(3)),
        (b"\"3\"", Some(3)),
        (b"W/\"3\"", Some(3)),
        (b" 7 ", Some(7)),
        (b"*", None),
    ] {
        assert_eq!(
            expected_version(&if_match(value)).unwrap(),
            expected,
            "{value:?}"
        );
    }
    for value in [&b"yesterday"[..], b"-1", b"\"\"", b"3.0", b"\xff"] {
        let refused = expected_version(&if_match(value)).unwrap_err();
        assert_eq!(
            (refused.status, refused.kind.as_str()),
            (400, "/problems/bad-request"),
            "{value:?}"
        );
    }
}

fn keyed(method: actix_web::http::Method, path: &str, key: &str) -> HttpRequest {
    actix_web::test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("Idempotency-Key", key))
        .to_http_request()
}

#[test]
fn an_idempotency_key_is_visible_ascii_and_bound_to_method_path_and_body() {
    use actix_web::http::Method;
    let body = json!({ "amount": 1 });
    let bound = |method: Method, path: &str, key: &str, body: &Value| {
        idempotency_key(&keyed(method, path, key), body)
            .unwrap()
            .expect("a key")
    };
    let first = bound(Method::POST, "/counters/a/additions", "k-1", &body);
    assert_eq!(first.key, "k-1");
    assert_eq!(
        bound(Method::POST, "/counters/a/additions", "\"k-1\"", &body),
        first,
        "a quoted key is the same key, for the same request"
    );
    for (what, other) in [
        (
            "another body",
            bound(
                Method::POST,
                "/counters/a/additions",
                "k-1",
                &json!({ "amount": 2 }),
            ),
        ),
        (
            "another path",
            bound(Method::POST, "/counters/b/additions", "k-1", &body),
        ),
        (
            "another method",
            bound(Method::PUT, "/counters/a/additions", "k-1", &body),
        ),
    ] {
        assert_eq!(other.key, "k-1");
        assert_ne!(other.fingerprint, first.fingerprint, "{what}");
    }
    let plain = actix_web::test::TestRequest::post().to_http_request();
    assert_eq!(idempotency_key(&plain, &body).unwrap(), None);
    let long = "k".repeat(command_kit::http::MAX_KEY_LEN + 1);
    for bad in ["", "\"\"", "a b", "é", long.as_str()] {
        let refused = idempotency_key(&keyed(Method::POST, "/x", bad), &body).unwrap_err();
        assert_eq!(refused.status, 400, "{bad:?}");
    }
    let longest = "k".repeat(command_kit::http::MAX_KEY_LEN);
    assert!(idempotency_key(&keyed(Method::POST, "/x", &longest), &body).is_ok());
}

#[actix_web::test]
async fn an_answer_carries_the_version_as_a_strong_etag_and_marks_a_replay() {
    let body = json!({ "id": "c", "version": 4 });
    let first = answer(StatusCode::CREATED, 4, false, &body);
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers().get(header::ETAG).unwrap(), "\"4\"");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let replayed = answer(StatusCode::OK, 4, true, &body);
    assert_eq!(
        replayed.headers().get("idempotent-replayed").unwrap(),
        "true"
    );
    let bytes = actix_web::body::to_bytes(replayed.into_body())
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), body);
}

#[test]
fn every_command_error_has_its_problem_and_store_failures_stay_opaque() {
    let problem = |error: CommandError<CounterError>| refused(error);
    let rejected = problem(CommandError::Rejected(CounterError::NotOpen));
    assert_eq!(
        (rejected.status, rejected.kind.as_str()),
        (404, "/problems/counter-not-found"),
        "the context says how its own refusals read"
    );
    let stale = problem(CommandError::VersionMismatch {
        expected: 2,
        actual: 5,
    });
    assert_eq!(
        (stale.status, stale.kind.as_str()),
        (409, "/problems/version-mismatch")
    );
    assert_eq!(stale.extensions["current_version"], 5);
    let concurrent = problem(CommandError::Concurrent);
    assert_eq!(
        (concurrent.status, concurrent.kind.as_str()),
        (409, "/problems/concurrent-modification")
    );
    let reused = problem(CommandError::IdempotencyKeyReused { key: "k".into() });
    assert_eq!(
        (reused.status, reused.kind.as_str()),
        (422, "/problems/idempotency-key-reused")
    );
    let taken = problem(CommandError::ClaimTaken(ClaimTaken {
        scope: "counter.name".into(),
        value: "shared".into(),
    }));
    assert_eq!(
        (taken.status, taken.kind.as_str()),
        (409, "/problems/value-taken")
    );
    assert!(taken.detail.unwrap().contains("shared"));

    let down = problem(CommandError::Store(Box::new(sqlx::Error::PoolTimedOut)));
    assert_eq!(
        (down.status, down.kind.as_str()),
        (503, "/problems/unavailable")
    );
    let secret = sqlx::Error::Protocol("password=hunter2 in the cause".into());
    let failed = problem(CommandError::Store(Box::new(secret)));
    assert_eq!(
        (failed.status, failed.kind.as_str()),
        (500, "/problems/internal")
    );
    let body = serde_json::to_string(&failed).unwrap();
    assert!(
        !body.contains("hunter2"),
        "the cause stays in the log: {body}"
    );
}

#[tokio::test]
async fn a_repeated_key_answers_the_first_outcome_and_one_reused_for_another_body_is_refused() {
    let service = counters_service().await;
    let key = [("Idempotency-Key", "open-once")];
    let first = service
        .post_with("/counters", &key, json!({ "name": "first" }))
        .await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers()["etag"], "\"1\"");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();

    let repeat = service
        .post_with("/counters", &key, json!({ "name": "first" }))
        .await;
    assert_eq!(repeat.status(), 201);
    assert_eq!(repeat.headers()["idempotent-replayed"], "true");
    assert_eq!(
        repeat.json::<Value>().await.unwrap(),
        first,
        "the same counter, not a second one"
    );
    let reused = service
        .post_with("/counters", &key, json!({ "name": "second" }))
        .await;
    assert_problem(reused, 422, "/problems/idempotency-key-reused").await;
    let id = first["id"].as_str().unwrap();
    let elsewhere = service
        .post_with(
            &format!("/counters/{id}/additions"),
            &key,
            json!({ "amount": 1 }),
        )
        .await;
    assert_problem(elsewhere, 422, "/problems/idempotency-key-reused").await;
    let bad_key = service
        .post_with(
            "/counters",
            &[("Idempotency-Key", "a b")],
            json!({ "name": "x" }),
        )
        .await;
    assert_problem(bad_key, 400, "/problems/bad-request").await;
    service.stop().await;
}

#[tokio::test]
async fn if_match_guards_a_command_and_the_stream_shows_what_was_committed() {
    let service = counters_service().await;
    let opened: Value = service
        .post("/counters", json!({ "name": "guarded" }))
        .await
        .json()
        .await
        .unwrap();
    let id = opened["id"].as_str().unwrap();
    let path = format!("/counters/{id}/additions");
    let stale = service
        .post_with(&path, &[("If-Match", "\"2\"")], json!({ "amount": 1 }))
        .await;
    let problem = assert_problem(stale, 409, "/problems/version-mismatch").await;
    assert_eq!(problem["current_version"], 1);
    let malformed = service
        .post_with(&path, &[("If-Match", "soon")], json!({ "amount": 1 }))
        .await;
    assert_problem(malformed, 400, "/problems/bad-request").await;
    let current = service
        .post_with(
            &path,
            &[("If-Match", "W/\"1\""), ("X-Correlation-Id", "corr-kit")],
            json!({ "amount": 5 }),
        )
        .await;
    assert_eq!(current.status(), 200);
    assert_eq!(current.headers()["etag"], "\"2\"");
    assert_eq!(current.json::<Value>().await.unwrap()["total"], 5);
    let refused = service.post(&path, json!({ "amount": 0 })).await;
    assert_problem(refused, 422, "/problems/counter-refused").await;

    let stream: Value = service
        .get(&format!("/counters/{id}/events"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stream["id"], id);
    let events = stream["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["CounterOpened", "CounterAdded"],
        "refusals wrote nothing"
    );
    assert_eq!(events[1]["sequence"], 2);
    assert_eq!(events[1]["payload"], json!({ "Added": { "amount": 5 } }));
    assert_eq!(events[1]["metadata"]["correlation_id"], "corr-kit");
    assert_eq!(events[1]["metadata"]["actor"], "admin:test-admin");
    let unknown = service
        .get(&format!("/counters/{}/events", Uuid::now_v7()))
        .await;
    assert_problem(unknown, 404, "/problems/counter-not-found").await;
    service.stop().await;
}
