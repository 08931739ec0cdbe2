//! The gateway: the web console's backend and a GraphQL API over the five services.
//!
//! It holds no data and no privilege of its own. Reads and commands go to the services with
//! the caller's bearer token, so every decision about who may see or do what stays where it
//! is made today; the gateway itself serves operators only what it reads on its own (Kafka
//! inspection, live health). See `schema` for the API and `gateway/schema.graphql` for its
//! SDL.

pub mod console;
pub mod schema;
pub mod settings;
pub mod upstream;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use anyhow::Context as _;
use async_graphql::Data;
use async_graphql_actix_web::{GraphQLRequest, GraphQLSubscription};
use kafka_client::inspect::Inspector;
use service_kit::auth::{PublicPaths, Verifier, bearer, bearer_value};
use service_kit::http::{Background, RequestContext, Service};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

use crate::schema::GatewaySchema;
use crate::schema::health::Monitor;
use crate::schema::topics::{BROKER_TIMEOUT, Kafka};
pub use crate::settings::Settings;
use crate::upstream::{Caller, Upstreams};

/// The gateway's wiring.
pub struct Application;

impl Application {
    /// Nothing to migrate: the gateway has no database (`gateway migrate` succeeds at once).
    pub async fn migrate(_settings: Settings) -> anyhow::Result<()> {
        Ok(())
    }

    /// Starts the health monitor and binds the port; the gateway stops when `cancel` is
    /// cancelled.
    pub async fn build(settings: Settings, cancel: CancellationToken) -> anyhow::Result<Service> {
        let upstreams =
            Upstreams::new(&settings.services).context("building the services' HTTP client")?;
        let name = format!("gateway-{}", uuid::Uuid::now_v7());
        let inspector = Arc::new(
            Inspector::new(&settings.kafka, &name, BROKER_TIMEOUT)
                .context("creating the Kafka client")?,
        );
        let (monitor, monitor_task) = Monitor::spawn(
            upstreams.clone(),
            inspector.clone(),
            settings.pipelines.clone(),
            Duration::from_millis(settings.graphql.health_interval_ms.max(250)),
            cancel.child_token(),
        );
        let schema = schema::build(&settings.graphql)
            .data(upstreams)
            .data(monitor)
            .data(settings.pipelines.clone())
            .data(Kafka {
                inspector,
                settings: settings.kafka.clone(),
                tails: Arc::new(Semaphore::new(settings.graphql.max_tails)),
            })
            .finish();
        let console = console::Console::new(&settings.console.dir);
        if !console.built() {
            tracing::warn!(
                dir = %settings.console.dir.display(),
                "the console is not built (npm run build in console/); serving the API only"
            );
        }
        let routes = move |config: &mut web::ServiceConfig| {
            config
                .app_data(web::Data::new(schema.clone()))
                .app_data(web::Data::new(PublicPaths(public)))
                .route("/graphql", web::post().to(graphql))
                .route("/graphql/ws", web::get().to(subscriptions))
                .route("/graphql/schema", web::get().to(sdl));
            console.configure(config);
        };
        let service = Service::bind(
            &settings.http,
            &settings.auth,
            service_kit::health::Readiness {
                database: None,
                broker: None,
            },
            ApiDoc::openapi(),
            routes,
            vec![Background {
                name: "health monitor",
                task: monitor_task,
            }],
            cancel,
        )
        .await?;
        tracing::info!(port = service.port(), "gateway listening");
        Ok(service)
    }
}

/// What the gateway serves without a token: the console's files (the console signs in
/// itself), the schema, and the WebSocket, whose first message carries the token.
fn public(path: &str) -> bool {
    path != "/graphql"
}

/// The gateway's HTTP endpoints besides the shared ones.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "gateway",
        description = "GraphQL gateway of the web console: see /graphql/schema"
    ),
    paths(graphql, sdl)
)]
struct ApiDoc;

/// One GraphQL query or mutation (`{"query": …, "variables": …}`), run as the caller. A
/// request that does not parse or validate (too deep, too complex, unknown fields) is
/// answered 400 with the GraphQL errors; field errors come with 200 beside the data.
#[utoipa::path(post, path = "/graphql", tag = "graphql",
    responses((status = 200, description = "The GraphQL response"), (status = 400, description = "The request did not parse or validate")))]
async fn graphql(
    schema: web::Data<GatewaySchema>,
    request: HttpRequest,
    context: RequestContext,
    principal: service_kit::auth::Principal,
    body: GraphQLRequest,
) -> HttpResponse {
    let caller = Caller {
        principal,
        token: bearer(request.headers()).unwrap_or_default().to_owned(),
        correlation_id: context.correlation_id,
        traceparent: Some(context.traceparent),
    };
    let response = schema.execute(body.into_inner().data(caller)).await;
    // No data and only errors outside any field: the request itself was refused (it did not
    // parse or validate) before anything ran. A field's error has a path.
    let refused = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    let mut answer = if refused {
        HttpResponse::BadRequest()
    } else {
        HttpResponse::Ok()
    };
    answer.json(response)
}

/// The schema's SDL, as checked in at gateway/schema.graphql.
#[utoipa::path(get, path = "/graphql/schema", tag = "graphql",
    responses((status = 200, description = "GraphQL SDL", content_type = "text/plain")))]
async fn sdl(schema: web::Data<GatewaySchema>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(schema.sdl())
}

/// Subscriptions over a WebSocket (graphql-transport-ws). The bearer token arrives in
/// `connection_init`'s payload as `Authorization` (browsers cannot set headers on a
/// WebSocket) and is checked like any other; a connection without a valid one is closed, and
/// a subscription ends once its token no longer verifies.
async fn subscriptions(
    schema: web::Data<GatewaySchema>,
    verifier: web::Data<Arc<Verifier>>,
    request: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let verifier = verifier.get_ref().clone();
    GraphQLSubscription::new(schema.get_ref().clone())
        .on_connection_init(move |payload| async move {
            let token = payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(|value| value.as_str())
                .and_then(bearer_value)
                .map(str::to_owned)
                .ok_or_else(|| async_graphql::Error::new("no bearer token in connection_init"))?;
            let principal = verifier.verify(&token).map_err(async_graphql::Error::new)?;
            let mut data = Data::default();
            // Subscriptions check the token again as they run (schema::while_signed_in).
            data.insert(verifier.clone());
            data.insert(Caller {
                principal,
                token,
                correlation_id: uuid::Uuid::now_v7().to_string(),
                traceparent: None,
            });
            Ok(data)
        })
        .start(&request, payload)
}
