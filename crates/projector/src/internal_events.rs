//! Every observable occurrence of the projector, each logged and counted in one place.

use std::time::Duration;

use crate::process::Outcome;

pub(crate) fn started(projection: &str, topic: &str, group: &str) {
    tracing::info!(projection, topic, group, "projector started");
}

pub(crate) fn stopped(projection: &str) {
    tracing::info!(projection, "projector stopped; offsets committed");
}

pub(crate) fn batch_applied(projection: &str, outcome: &Outcome, took: Duration) {
    let label = projection.to_owned();
    metrics::counter!("projector_events_applied_total", "projection" => label.clone())
        .increment(outcome.applied);
    metrics::counter!("projector_duplicates_total", "projection" => label.clone())
        .increment(outcome.duplicates);
    metrics::counter!("projector_events_pending_total", "projection" => label.clone())
        .increment(outcome.pending);
    metrics::counter!("projector_events_parked_total", "projection" => label.clone())
        .increment(outcome.parked);
    metrics::histogram!("projector_batch_seconds", "projection" => label.clone())
        .record(took.as_secs_f64());
    for lag in &outcome.lag_seconds {
        metrics::histogram!("projector_lag_seconds", "projection" => label.clone()).record(*lag);
    }
    if outcome.parked > 0 {
        tracing::warn!(projection, parked = outcome.parked, "events parked");
    }
    tracing::debug!(
        projection,
        applied = outcome.applied,
        duplicates = outcome.duplicates,
        pending = outcome.pending,
        parked = outcome.parked,
        took_ms = took.as_millis() as u64,
        "batch applied"
    );
}

pub(crate) fn batch_failed(projection: &str, error: &sqlx::Error) {
    tracing::warn!(projection, %error, "projector batch failed; retrying");
    metrics::counter!("projector_batch_failures_total", "projection" => projection.to_owned())
        .increment(1);
}

pub(crate) fn gap_parked(projection: &str, parked: u64) {
    tracing::warn!(
        projection,
        parked,
        "aggregates parked after waiting too long for a missing sequence"
    );
    metrics::counter!("projector_events_parked_total", "projection" => projection.to_owned())
        .increment(parked);
}

pub(crate) fn parked_now(projection: &str, parked: i64) {
    metrics::gauge!("projector_parked_events", "projection" => projection.to_owned())
        .set(parked as f64);
}

pub(crate) fn lag(projection: &str, events: i64) {
    metrics::gauge!("projector_lag_events", "projection" => projection.to_owned())
        .set(events as f64);
}

pub(crate) fn assigned(projection: &str, partitions: usize) {
    metrics::gauge!("projector_assigned_partitions", "projection" => projection.to_owned())
        .set(partitions as f64);
}

/// Measured every few seconds once an instance has held no partition for a while, and above
/// zero only when its group lags and made no progress since the last measurement; warned each
/// time, so the log says so for as long as an operator has to act.
pub(crate) fn group_lag_while_unassigned(projection: &str, events: u64) {
    metrics::gauge!(
        "projector_unassigned_group_lag_events",
        "projection" => projection.to_owned()
    )
    .set(events as f64);
    if events > 0 {
        tracing::warn!(
            projection,
            group_lag_events = events,
            "this instance holds no partition of its topic while its consumer group lags and \
             makes no progress; another member may be stuck holding the partitions"
        );
    }
}

pub(crate) fn receive_failed(projection: &str, error: &rdkafka::error::KafkaError) {
    tracing::warn!(projection, %error, "kafka receive failed");
    metrics::counter!("projector_receive_failures_total", "projection" => projection.to_owned())
        .increment(1);
}

pub(crate) fn store_offset_failed(projection: &str, error: &rdkafka::error::KafkaError) {
    tracing::debug!(projection, %error, "offset not stored (partition no longer assigned)");
}

pub(crate) fn commit_failed(error: &rdkafka::error::KafkaError) {
    tracing::warn!(%error, "offset commit failed");
}

pub(crate) fn revoked(partitions: usize) {
    tracing::info!(partitions, "partitions revoked; committing offsets");
}

pub(crate) fn failpoint_set(projection: &str, failpoint: &str) {
    tracing::error!(
        projection,
        failpoint,
        "a test-only projector failpoint is set: this projector is broken on purpose (never in production)"
    );
}

pub(crate) fn failpoint_applied_twice(projection: &str, event_id: &str) {
    tracing::error!(
        projection,
        event_id,
        "failpoint apply-twice reached: an event applied a second time"
    );
}

pub(crate) fn failpoint_paused(projection: &str, events: usize) {
    tracing::error!(
        projection,
        events,
        "failpoint pause-after-commit reached: offsets are not stored"
    );
}

pub(crate) fn rebuild_progress(projection: &str, phase: &str, applied: u64, total: u64) {
    tracing::info!(projection, phase, applied, total, "rebuild progress");
    metrics::gauge!("projector_rebuild_applied", "projection" => projection.to_owned())
        .set(applied as f64);
}

pub(crate) fn bulk_refused(projection: &str, error: &crate::ApplyError) {
    tracing::warn!(
        projection,
        %error,
        "a rebuild chunk could not be written in bulk; applying its events one by one"
    );
}

pub(crate) fn gap_sweep_failed(projection: &str, error: &sqlx::Error) {
    tracing::warn!(projection, %error, "sweep of open gaps failed; retrying at the next tick");
}

pub(crate) fn rebuild_refused(projection: &str, reason: &str) {
    tracing::error!(
        projection,
        reason,
        "rebuild not switched in; the live model is unchanged"
    );
}
