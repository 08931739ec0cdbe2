//! `esctl outbox status`: each command service's unpublished backlog and the relay leases
//! held right now, read through outbox-relay's own status queries.

use anyhow::Context as _;
use outbox_relay::status::{Backlog, LeaseHolder};
use serde::Serialize;

use crate::context::Context;
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
    output::table(&["CONTEXT", "UNPUBLISHED", "OLDEST", "RELAY LEASES"], &rows);
}
