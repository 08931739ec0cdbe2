//! Retention: tables that would only grow (idempotency keys, skipped parked events, finished
//! sagas) lose their rows once those are older than a keep time, in a background task of the
//! service that owns the table.
//!
//! A round deletes at most `batch_size × max_batches` rows per table, in statements of
//! `batch_size` rows that commit one by one, so a round never holds many locks or a long
//! transaction. Each statement locks the rows it picks with `FOR UPDATE SKIP LOCKED`: several
//! replicas purging at once take disjoint rows, and a row some transaction works on (a saga an
//! operator repairs) is left for a later round. What is younger than its keep time, or not in
//! a purgeable state, is never selected: the condition is each [`Purge`]'s own.

use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::http::Background;

/// The purge task's settings, and how long each kind of row is kept.
#[derive(Debug, Clone, Deserialize, serde::Serialize, settings_doc::SettingsDoc)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Purge what outlived its keep time (below) in a background task.
    pub enabled: bool,
    /// Seconds between purge rounds.
    pub interval_secs: u64,
    /// Rows deleted per statement.
    pub batch_size: i64,
    /// Statements per table and round at most, so a round deletes at most
    /// batch_size × max_batches rows of each table.
    pub max_batches: u32,
    /// Command services: hours an idempotency key is answered at least; older keys are
    /// purged, and a request repeating one is then executed again.
    pub idempotency_keys_hours: u64,
    /// Query services and the saga orchestrator: hours a skipped parked event is kept after
    /// it was skipped (parked ones wait for an operator and are never purged).
    pub parked_events_hours: u64,
    /// Saga orchestrator: hours a finished saga (with its steps and interventions) is kept
    /// after it finished; FAILED sagas wait for an operator and are never purged.
    pub sagas_hours: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 300,
            batch_size: 1_000,
            max_batches: 10,
            idempotency_keys_hours: 7 * 24,
            parked_events_hours: 30 * 24,
            sagas_hours: 30 * 24,
        }
    }
}

/// Hours as a duration.
pub fn hours(hours: u64) -> Duration {
    Duration::from_secs(hours.saturating_mul(3_600))
}

/// What to purge from one table.
#[derive(Debug, Clone)]
pub struct Purge {
    /// The table, for logs and the `table` label of the metrics.
    pub table: &'static str,
    /// Rows younger than this are kept.
    pub keep: Duration,
    /// One batch: a statement where `$1` is the keep time in seconds (float8) and `$2` the
    /// most rows to delete; it answers the rows it deleted.
    pub statement: String,
}

impl Purge {
    /// Deletes rows of `table` matching `expired`, a condition in which `$1` is the keep time
    /// in seconds: e.g. `recorded_at < now() - make_interval(secs => $1)`.
    pub fn rows(table: &'static str, expired: &str, keep: Duration) -> Self {
        Self {
            table,
            keep,
            statement: format!(
                "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
                 WHERE {expired} LIMIT $2 FOR UPDATE SKIP LOCKED))"
            ),
        }
    }

    /// A purge whose batch is `statement` (see [`Purge::statement`]), for rows spread over
    /// several tables.
    pub fn statement(table: &'static str, statement: String, keep: Duration) -> Self {
        Self {
            table,
            keep,
            statement,
        }
    }
}

/// Rows one round deleted from one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub table: &'static str,
    pub rows: u64,
    /// The round stopped at `max_batches` with rows maybe left for the next one.
    pub more: bool,
}

/// One round over `purges`: per table, batches until one deletes less than `batch_size` or
/// `max_batches` ran.
pub async fn round(
    pool: &PgPool,
    purges: &[Purge],
    settings: &RetentionSettings,
) -> Result<Vec<Purged>, sqlx::Error> {
    let started = Instant::now();
    let batch = settings.batch_size.max(1);
    let mut purged = Vec::with_capacity(purges.len());
    for purge in purges {
        let mut done = Purged {
            table: purge.table,
            rows: 0,
            more: false,
        };
        for ran in 1..=settings.max_batches.max(1) {
            let deleted = sqlx::query(&purge.statement)
                .bind(purge.keep.as_secs_f64())
                .bind(batch)
                .execute(pool)
                .await
                .inspect_err(|error| failed(purge.table, error))?
                .rows_affected();
            done.rows += deleted;
            if deleted < batch as u64 {
                break;
            }
            done.more = ran == settings.max_batches.max(1);
        }
        metrics::counter!("retention_purged_rows_total", "table" => purge.table)
            .increment(done.rows);
        purged.push(done);
    }
    metrics::histogram!("retention_round_seconds").record(started.elapsed().as_secs_f64());
    if purged.iter().any(|p| p.rows > 0) {
        tracing::info!(?purged, "retention round purged rows");
    }
    Ok(purged)
}

fn failed(table: &'static str, error: &sqlx::Error) {
    metrics::counter!("retention_failures_total", "table" => table).increment(1);
    tracing::warn!(table, %error, "retention purge failed; the next round tries again");
}

/// Runs a round every `interval_secs` until `cancel` (the first soon after start), as a named
/// background task; `None` when retention is disabled or there is nothing to purge.
pub fn spawn(
    pool: PgPool,
    purges: Vec<Purge>,
    settings: &RetentionSettings,
    cancel: CancellationToken,
) -> Option<Background> {
    if !settings.enabled || purges.is_empty() {
        return None;
    }
    for purge in &purges {
        metrics::counter!("retention_purged_rows_total", "table" => purge.table).increment(0);
        metrics::counter!("retention_failures_total", "table" => purge.table).increment(0);
    }
    let settings = settings.clone();
    let every = Duration::from_secs(settings.interval_secs.max(1));
    let task = tokio::spawn(async move {
        // Replicas started together spread their first rounds over the first interval.
        let mut wait = every
            .mul_f64(rand::random::<f64>())
            .min(Duration::from_secs(30));
        loop {
            tokio::select! {
                () = cancel.cancelled() => return anyhow::Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
            // A failed round was logged and counted; the next one tries again.
            let _ = round(&pool, &purges, &settings).await;
            wait = every;
        }
    });
    Some(Background {
        name: "retention",
        task,
    })
}
