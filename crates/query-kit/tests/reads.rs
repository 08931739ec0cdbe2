//! What every query service shares, proven with a tiny query service of the test counters'
//! view (test_support::fixture): `min_version` reads wait for the version or answer 504 with
//! the version reached, pages are cut to their limit and continue after their cursor, and the
//! `/admin` routes list, show, retry and skip parked events, report the projection and rebuild.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use query_kit::reads::{self, Page, Reads, VersionParams, Versioned};
use query_kit::{QueryApp, QueryContext, QuerySettings};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use service_kit::Problem;
use test_support::fixture::{COUNTER_TYPE, CounterStore, CounterView};
use test_support::service::{Running, assert_problem};
use uuid::Uuid;

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Row {
    id: String,
    events: i64,
    version: i64,
}

impl Versioned for Row {
    fn version(&self) -> i64 {
        self.version
    }
}

fn not_found() -> Problem {
    Problem::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "counter-not-found",
        "No such counter",
    )
}

/// `GET /counters/{id}`.
async fn counter(
    reads: web::Data<Reads>,
    id: web::Path<Uuid>,
    params: web::Query<VersionParams>,
) -> Result<HttpResponse, Problem> {
    let id = id.into_inner();
    let read = || {
        sqlx::query_as::<_, Row>("SELECT id, events, version FROM counters WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&reads.pool)
    };
    let row = reads
        .at_version(id, params.into_inner(), "counter", not_found, read)
        .await?;
    Ok(reads::found(&row))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /counters`, by id.
async fn counters(
    reads: web::Data<Reads>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    let limit = reads.page_limit(params.limit)?;
    let after = reads::decode_cursor(params.cursor.as_deref())?;
    let mut items: Vec<Row> = sqlx::query_as(
        "SELECT id, events, version FROM counters WHERE $1::text IS NULL OR id > $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(after.map(|id| id.to_string()))
    .bind(limit + 1)
    .fetch_all(&reads.pool)
    .await
    .map_err(|error| Problem::unavailable(&error))?;
    let next_cursor = reads::next_page(&mut items, limit, |row| {
        row.id.parse().expect("counter ids are UUIDs")
    });
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// The counters' query service: a bounded context's read side as small as one can be.
#[derive(Debug, Clone, Copy)]
struct Counters;

impl QueryContext for Counters {
    type Projection = CounterView;

    const SERVICE: &'static str = "counters-query";
    const SUMMARY: &'static str = "the test counters' read side.";
    const ENDPOINTS: &'static str = "GET /counters/{id}, GET /counters";
    const ENV_PREFIX: &'static str = "COUNTERS_QUERY";
    const PORT: u16 = 5998;
    const DATABASE: &'static str = "counters_read";
    const EVENT_STORE: &'static str = "counters_es";
    const TOPIC: &'static str = "counters.events";
    const GROUP: &'static str = "counters-query";
    const AGGREGATE_TYPE: &'static str = COUNTER_TYPE;

    fn projection(_event_store: &sqlx::PgPool) -> CounterView {
        CounterView
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }

    fn routes(config: &mut web::ServiceConfig) {
        config
            .route("/counters", web::get().to(counters))
            .route("/counters/{id}", web::get().to(counter));
    }
}

/// The counters' query service, built by `QueryApp` on a fresh read database, its projector
/// in a consumer group of its own.
async fn query_service(store: &CounterStore) -> Running {
    let mut settings = QuerySettings::<Counters>::default();
    settings.database = test_support::fresh_database().await;
    settings.event_store = store.database.clone();
    settings.kafka = store.kafka.clone();
    settings.topic = store.topic.clone();
    settings.projector.group_id = format!("counters-query-{}", Uuid::new_v4().simple());
    settings.reads.max_limit = 3;
    settings.auth = test_support::auth::settings();
    settings.http.port = 0;
    settings.http.workers = 2;
    let cancel = tokio_util::sync::CancellationToken::new();
    let service = QueryApp::<Counters>::build(settings, cancel.clone())
        .await
        .expect("the counters' query service starts");
    Running::start(service.port(), cancel, service.run_until_stopped())
}

#[test]
fn the_settings_have_the_contexts_defaults_and_help_lists_each_with_its_text() {
    let settings = QuerySettings::<Counters>::default();
    assert_eq!(settings.http.port, 5998);
    assert_eq!(settings.database.database_name, "counters_read");
    assert_eq!(settings.event_store.database_name, "counters_es");
    assert_eq!(settings.event_store.max_connections, 4);
    assert!(
        !settings.event_store.migrate,
        "a query service never migrates the event store"
    );
    assert_eq!(settings.projector.group_id, "counters-query");
    let docs = QuerySettings::<Counters>::setting_docs();
    let undocumented = service_kit::help::undocumented(&settings, &docs);
    assert!(
        undocumented.is_empty(),
        "without a doc comment: {undocumented:?}"
    );
    let help = QuerySettings::<Counters>::help();
    for setting in service_kit::help::settings("COUNTERS_QUERY", &settings, &docs) {
        let line = format!("  {}={}", setting.variable, setting.default);
        assert!(help.contains(&line), "--help lists {line}");
    }
    assert!(help.contains("GET /counters, /admin/projection, /admin/parked, /admin/rebuild"));
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_min_version_read_waits_for_the_version_or_answers_504_with_the_version_reached() {
    let store = CounterStore::new().await;
    let counter = store.counter(2).await;
    let service = query_service(&store).await;
    store.publish(counter, &[1]).await;
    let first = service
        .get(&format!("/counters/{counter}?min_version=1&wait_ms=10000"))
        .await;
    assert_eq!(json_of(first).await["version"], 1);
    // Asked while the view is at version 1: the read waits for 3 to be published and applied.
    let path = format!("/counters/{counter}?min_version=3&wait_ms=10000");
    let (reached, ()) = tokio::join!(service.get(&path), store.publish(counter, &[2, 3]));
    assert_eq!(reached.status(), 200);
    assert_eq!(reached.headers()["etag"], "\"3\"");
    assert_eq!(json_of(reached).await["version"], 3);

    let not_yet = service
        .get(&format!("/counters/{counter}?min_version=9&wait_ms=200"))
        .await;
    let problem = assert_problem(not_yet, 504, "/problems/version-not-reached").await;
    assert_eq!(problem["current_version"], 3);
    let unknown = Uuid::now_v7();
    let never = service
        .get(&format!("/counters/{unknown}?min_version=1&wait_ms=100"))
        .await;
    let problem = assert_problem(never, 504, "/problems/version-not-reached").await;
    assert_eq!(problem["current_version"], 0, "no row yet");
    let missing = service.get(&format!("/counters/{unknown}")).await;
    assert_problem(missing, 404, "/problems/counter-not-found").await;
    for bad in [
        format!("/counters/{counter}?min_version=0"),
        format!("/counters/{counter}?wait_ms=10"),
        format!("/counters/{counter}?min_version=1&wait_ms=10001"),
    ] {
        assert_problem(service.get(&bad).await, 400, "/problems/bad-request").await;
    }
    service.stop().await;
}

#[tokio::test]
async fn pages_are_cut_to_their_limit_and_continue_after_their_cursor() {
    let store = CounterStore::new().await;
    let service = query_service(&store).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let counter = store.counter(0).await;
        store.publish(counter, &[1]).await;
        ids.push(counter.to_string());
    }
    ids.sort();
    let page = |path: String| {
        let service = &service;
        async move {
            let response = service.get(&path).await;
            assert_eq!(response.status(), 200, "{path}");
            json_of(response).await
        }
    };
    let listed = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap().to_owned())
            .collect()
    };
    test_support::eventually(Duration::from_secs(30), "five counters", || async {
        (listed(&page("/counters?limit=3".into()).await).len() == 3
            && page(format!("/counters/{}?min_version=1", ids[4])).await["version"] == 1)
            .then_some(())
    })
    .await;
    let first = page("/counters?limit=2".into()).await;
    assert_eq!(listed(&first), ids[..2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = page(format!("/counters?limit=2&cursor={cursor}")).await;
    assert_eq!(listed(&second), ids[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();
    let last = page(format!("/counters?limit=2&cursor={cursor}")).await;
    assert_eq!(listed(&last), ids[4..]);
    assert!(last["next_cursor"].is_null(), "the last page has no cursor");
    assert_eq!(
        listed(&page("/counters".into()).await).len(),
        5,
        "no limit is the default page size"
    );
    assert_eq!(
        listed(&page("/counters?limit=1000".into()).await).len(),
        3,
        "a large limit is capped, not refused"
    );
    for bad in ["/counters?limit=0", "/counters?cursor=!!!"] {
        assert_problem(service.get(bad).await, 400, "/problems/bad-request").await;
    }
    service.stop().await;
}

#[tokio::test]
async fn the_admin_routes_show_retry_skip_and_rebuild_for_admins_only() {
    let store = CounterStore::new().await;
    let counter = store.counter(1).await;
    let service = query_service(&store).await;
    store.publish(counter, &[1]).await;
    store
        .publish_raw(counter, b"not an envelope".to_vec())
        .await;
    let parked = test_support::eventually(Duration::from_secs(60), "a parked event", || async {
        let listed = json_of(service.get("/admin/parked").await).await;
        listed["items"].as_array()?.first().cloned()
    })
    .await;
    let id = parked["id"].as_i64().unwrap();
    assert_eq!(parked["status"], "parked");
    let shown = json_of(service.get(&format!("/admin/parked/{id}")).await).await;
    assert_eq!(shown["message"]["raw_text"], "not an envelope");
    let status = json_of(service.get("/admin/projection").await).await;
    assert_eq!(
        (
            &status["stored_events"],
            &status["applied_events"],
            &status["parked"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{status}"
    );

    let retried = json_of(
        service
            .post(&format!("/admin/parked/{id}/retry"), json!(null))
            .await,
    )
    .await;
    assert_eq!(retried["still_parked"], 1, "nothing fixed it: {retried}");
    let blank = service
        .post(
            &format!("/admin/parked/{id}/skip"),
            json!({ "reason": "  " }),
        )
        .await;
    assert_problem(blank, 422, "/problems/validation").await;
    let skipped = service
        .post(
            &format!("/admin/parked/{id}/skip"),
            json!({ "reason": "garbage from a test" }),
        )
        .await;
    assert_eq!(skipped.status(), 200);
    let listed = json_of(service.get("/admin/parked?status=skipped").await).await;
    assert_eq!(listed["items"][0]["resolved_by"], "admin:test-admin");
    for missing in ["retry", "skip"] {
        let response = service
            .post(
                &format!("/admin/parked/999999/{missing}"),
                json!({ "reason": "x" }),
            )
            .await;
        assert_problem(response, 404, "/problems/parked-event-not-found").await;
    }
    assert_problem(
        service.get("/admin/parked?limit=0").await,
        400,
        "/problems/bad-request",
    )
    .await;

    let rebuild = || async {
        let started = service.post("/admin/rebuild", json!(null)).await;
        assert_eq!(started.status(), 202);
        test_support::eventually(Duration::from_secs(60), "the rebuild to end", || async {
            let status = json_of(service.get("/admin/rebuild").await).await;
            (status["state"] != "running").then_some(status)
        })
        .await
    };
    // A stored event that cannot be replayed: the rebuild is refused and says why, and the
    // live view is left as it was.
    let second = store.envelopes(counter).await[1].clone();
    let set_envelope = |envelope: Option<Vec<u8>>| {
        sqlx::query("UPDATE events SET envelope = $1 WHERE aggregate_id = $2 AND sequence = 2")
            .bind(envelope)
            .bind(counter.to_string())
            .execute(&store.pool)
    };
    set_envelope(None).await.unwrap();
    let refused = rebuild().await;
    assert_eq!(refused["state"], "failed", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|error| error.contains("1 events could not be applied")),
        "{refused}"
    );
    let row = json_of(service.get(&format!("/counters/{counter}")).await).await;
    assert_eq!((&row["events"], &row["version"]), (&json!(1), &json!(1)));
    set_envelope(Some(second)).await.unwrap();
    let rebuilt = rebuild().await;
    // The skipped event's place is taken by the stored one: the rebuild applies it.
    assert_eq!(rebuilt["state"], "succeeded", "{rebuilt}");
    let row = json_of(
        service
            .get(&format!("/counters/{counter}?min_version=2"))
            .await,
    )
    .await;
    assert_eq!((&row["events"], &row["version"]), (&json!(2), &json!(2)));

    let openapi = json_of(service.get("/api-docs/openapi.json").await).await;
    for path in [
        "/admin/projection",
        "/admin/parked/{id}/skip",
        "/admin/rebuild",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
    let saga = test_support::auth::client_as("saga", service_kit::auth::Role::Service);
    for path in ["/admin/parked", "/admin/projection", "/admin/rebuild"] {
        let response = saga.get(service.url(path)).send().await.unwrap();
        assert_problem(response, 403, "/problems/forbidden").await;
    }
    service.stop().await;
}
