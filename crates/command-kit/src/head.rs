//! The event store's head as gauges, so whoever watches the pipeline (the gateway's health,
//! Prometheus) sees where the store ends beside the outbox, the topic and the consumers.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How often the head is read: one probe of an index.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// Reads the head every `every` until `cancel`. A failed read leaves the last values; the
/// readiness check reports the database itself.
pub(crate) async fn measure_every(pool: PgPool, every: Duration, cancel: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = ticks.tick() => {
                if let Ok(head) = event_store::head(&pool).await {
                    let (position, at) = head.map_or((0, 0.0), |head| {
                        (head.position, head.recorded_at.timestamp_millis() as f64 / 1_000.0)
                    });
                    metrics::gauge!("event_store_head_position").set(position as f64);
                    metrics::gauge!("event_store_head_timestamp_seconds").set(at);
                }
            }
        }
    }
}
