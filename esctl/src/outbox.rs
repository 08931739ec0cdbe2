//! `esctl outbox`: each command service's unpublished backlog and the relay leases held right
//! now, and the rows set aside because the broker kept refusing them (list, retry, skip), all
//! through outbox-relay's own status queries.

use anyhow::Context as _;
use outbox_relay::status::{Backlog, LeaseHolder, SetAside};
use serde::Serialize;

use crate::context::Context;
use crate::failure::Failure;
use crate::{output, store};

/// One command service's outbox.
#[derive(Debug, Serialize)]
struct OutboxStatus {
    context: &'static str,
    #[serde(flatten)]
    backlog: Backlog,
    /// Lease partitions a relay holds right now, with the holder.
    leases: Vec<LeaseHolder>,
}

/// Reads every context's outbox from the event store `database` names, and prints it.
pub async fn status<'a>(
    database: impl Fn(Context) -> &'a str,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut statuses = Vec::new();
    for context in Context::ALL {
        let pool = store::connect(context, database(context)).await?;
        statuses.push(OutboxStatus {
            context: context.name(),
            backlog: outbox_relay::status::backlog(&pool)
                .await
                .context("reading the outbox")?,
            leases: outbox_relay::status::leases(&pool)
                .await
                .context("reading the relay leases")?,
        });
    }
    print(&statuses, as_json);
    Ok(())
}

fn print(statuses: &[OutboxStatus], as_json: bool) {
    if as_json {
        output::json(&serde_json::to_value(statuses).expect("statuses serialize"));
        return;
    }
    let rows: Vec<Vec<String>> = statuses
        .iter()
        .map(|status| {
            let leases: Vec<String> = status
                .leases
                .iter()
                .map(|lease| format!("{} by pid {}", lease.partition, lease.pid))
                .collect();
            vec![
                status.context.to_owned(),
                status.backlog.unpublished.to_string(),
                status.backlog.set_aside.to_string(),
                status
                    .backlog
                    .oldest_age_seconds
                    .map_or_else(|| "-".to_owned(), |age| format!("{age:.1} s")),
                if leases.is_empty() {
                    "none held now".to_owned()
                } else {
                    leases.join(", ")
                },
            ]
        })
        .collect();
    output::table(
        &[
            "CONTEXT",
            "UNPUBLISHED",
            "SET ASIDE",
            "OLDEST",
            "RELAY LEASES",
        ],
        &rows,
    );
}

/// One set-aside row, with its context.
#[derive(Debug, Serialize)]
struct ContextRow {
    context: &'static str,
    #[serde(flatten)]
    row: SetAside,
}

/// `esctl outbox set-aside`.
pub async fn set_aside<'a>(
    database: impl Fn(Context) -> &'a str,
    only: Option<Context>,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for context in Context::ALL
        .into_iter()
        .filter(|c| only.is_none_or(|o| o == *c))
    {
        let pool = store::connect(context, database(context)).await?;
        for row in outbox_relay::status::set_aside(&pool)
            .await
            .context("reading the outbox")?
        {
            rows.push(ContextRow {
                context: context.name(),
                row,
            });
        }
    }
    if as_json {
        output::json(&serde_json::to_value(&rows).expect("rows serialize"));
        return Ok(());
    }
    let text = |value: Option<&str>| value.unwrap_or("-").to_owned();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|ContextRow { context, row }| {
            vec![
                (*context).to_owned(),
                row.message_key.clone(),
                row.event_id.to_string(),
                row.attempts.to_string(),
                row.held_back.to_string(),
                row.set_aside_at
                    .map_or_else(|| "-".into(), |at| at.to_rfc3339()),
                output::cut(&text(row.last_error.as_deref()), 80),
            ]
        })
        .collect();
    output::table(
        &[
            "CONTEXT",
            "AGGREGATE",
            "EVENT",
            "ATTEMPTS",
            "HELD BACK",
            "SET ASIDE AT",
            "LAST ERROR",
        ],
        &table,
    );
    Ok(())
}

fn nothing_set_aside(context: Context, aggregate_id: &str) -> anyhow::Error {
    Failure::not_found(format!(
        "no row of {} {aggregate_id} is set aside in the outbox",
        context.aggregate_type()
    ))
    .into()
}

/// `esctl outbox retry`.
pub async fn retry(
    context: Context,
    database: &str,
    aggregate_id: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let pool = store::connect(context, database).await?;
    let row = outbox_relay::status::retry(&pool, aggregate_id)
        .await
        .context("updating the outbox")?
        .ok_or_else(|| nothing_set_aside(context, aggregate_id))?;
    report("put back in line", &row, as_json);
    Ok(())
}

/// `esctl outbox skip`.
pub async fn skip(
    context: Context,
    database: &str,
    aggregate_id: &str,
    actor: Option<&str>,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Failure::usage("--reason must say why the row is given up").into());
    }
    let actor = actor
        .map(str::to_owned)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "esctl".into());
    let pool = store::connect(context, database).await?;
    let row = outbox_relay::status::skip(&pool, aggregate_id, &actor, reason)
        .await
        .context("updating the outbox")?
        .ok_or_else(|| nothing_set_aside(context, aggregate_id))?;
    report("skipped", &row, as_json);
    Ok(())
}

fn report(done: &str, row: &SetAside, as_json: bool) {
    if as_json {
        output::json(&serde_json::to_value(row).expect("a row serializes"));
    } else {
        println!(
            "{done}: event {} of {} ({} later rows follow it)",
            row.event_id, row.message_key, row.held_back
        );
    }
}
