//! Every observable occurrence of the relay, each logged and counted in one place.

use std::time::Duration;

pub(crate) fn started() {
    tracing::info!("outbox relay started");
    metrics::counter!("outbox_relay_published_total").increment(0);
    metrics::counter!("outbox_relay_set_aside_total").increment(0);
}

pub(crate) fn stopped() {
    tracing::info!("outbox relay stopped");
}

pub(crate) fn published(partition: i16, rows: usize, oldest_age_seconds: f64, took: Duration) {
    tracing::debug!(
        partition,
        rows,
        took_ms = took.as_millis() as u64,
        "outbox rows published"
    );
    metrics::counter!("outbox_relay_published_total").increment(rows as u64);
    metrics::histogram!("outbox_relay_batch_seconds").record(took.as_secs_f64());
    metrics::histogram!("outbox_relay_lag_seconds").record(oldest_age_seconds.max(0.0));
}

pub(crate) fn backlog(rows: i64, oldest_age_seconds: f64, set_aside: i64) {
    metrics::gauge!("outbox_backlog_rows").set(rows as f64);
    metrics::gauge!("outbox_oldest_row_age_seconds").set(oldest_age_seconds.max(0.0));
    metrics::gauge!("outbox_set_aside_rows").set(set_aside as f64);
}

pub(crate) fn set_aside(partition: i16, row: &crate::status::SetAside) {
    tracing::error!(
        partition,
        outbox_id = row.id,
        topic = %row.topic,
        aggregate_id = %row.message_key,
        event_id = %row.event_id,
        attempts = row.attempts,
        error = row.last_error.as_deref().unwrap_or_default(),
        "the broker keeps refusing an outbox row: set aside with the later rows of its aggregate \
         (esctl outbox set-aside; retry or skip)"
    );
    metrics::counter!("outbox_relay_set_aside_total").increment(1);
}

pub(crate) fn pass_failed(partition: i16, error: &crate::RelayError) {
    tracing::warn!(partition, error = %error, cause = ?error, "outbox relay pass failed; retrying");
    metrics::counter!("outbox_relay_failures_total").increment(1);
}

pub(crate) fn listener_failed(error: &sqlx::Error) {
    tracing::warn!(error = %error, "outbox notification listener failed; sweeping all partitions");
    metrics::counter!("outbox_relay_listener_failures_total").increment(1);
}

pub(crate) fn flush_failed(error: &rdkafka::error::KafkaError) {
    tracing::warn!(error = %error, "producer flush at shutdown did not complete");
}

pub(crate) fn failpoint_set(failpoint: &str) {
    tracing::error!(
        failpoint,
        "a test-only relay failpoint is set: this relay is broken on purpose (never in production)"
    );
}

pub(crate) fn failpoint_dropped(id: i64) {
    tracing::error!(
        id,
        "failpoint drop-every reached: outbox row deleted without being published"
    );
}

pub(crate) fn failpoint_paused(acked: usize) {
    tracing::error!(
        acked,
        "failpoint pause-after-ack reached: acknowledged rows are not deleted"
    );
}

pub(crate) fn producer_fatal(reason: &str) {
    tracing::warn!(
        reason,
        "kafka producer hit a fatal error; creating a new one"
    );
    metrics::counter!("outbox_relay_producer_renewals_total").increment(1);
}

pub(crate) fn producer_renewal_failed(error: &rdkafka::error::KafkaError) {
    tracing::error!(%error, "could not create a new kafka producer; keeping the old one");
    metrics::counter!("outbox_relay_producer_renewal_failures_total").increment(1);
}
