//! `/health/live`, `/health/ready` and `/metrics`, the same on every service.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use serde_json::json;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The dependencies `/health/ready` checks.
#[derive(Clone)]
pub struct Readiness {
    /// The service's own database; `None` for a service without one (the gateway).
    pub database: Option<sqlx::PgPool>,
    /// The broker, when the service talks to one.
    pub broker: Option<Arc<AdminClient<DefaultClientContext>>>,
}

/// Mounts the health and metrics routes (and installs the metrics recorder, so everything
/// recorded from now on is exported).
pub fn configure(readiness: Readiness) -> impl FnOnce(&mut web::ServiceConfig) {
    crate::metrics::handle();
    move |config| {
        config
            .app_data(web::Data::new(readiness))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics));
    }
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "live" }))
}

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let database = match &readiness.database {
        Some(pool) => Some(
            tokio::time::timeout(CHECK_TIMEOUT, sqlx::query("SELECT 1").execute(pool))
                .await
                .is_ok_and(|result| result.is_ok()),
        ),
        None => None,
    };
    let broker = match &readiness.broker {
        Some(admin) => Some(crate::kafka::reachable(admin, CHECK_TIMEOUT).await),
        None => None,
    };
    let up = |ok: bool| if ok { "up" } else { "down" };
    let mut checks = serde_json::Map::new();
    if let Some(database) = database {
        checks.insert("database".into(), up(database).into());
    }
    if let Some(broker) = broker {
        checks.insert("broker".into(), up(broker).into());
    }
    let ready = database.unwrap_or(true) && broker.unwrap_or(true);
    let body = json!({ "status": if ready { "ready" } else { "not_ready" }, "checks": checks });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(readiness: web::Data<Readiness>) -> HttpResponse {
    // The pool's use at the moment of the scrape.
    if let Some(pool) = &readiness.database {
        let (size, idle) = (pool.size() as f64, pool.num_idle() as f64);
        metrics::gauge!("db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
        metrics::gauge!("db_pool_max_connections")
            .set(f64::from(pool.options().get_max_connections()));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::handle().render())
}
