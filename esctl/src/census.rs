//! `esctl census`: how many events of each type and version each event store holds, and
//! when they were recorded, so a team knows when no event of an old version is left and the
//! upcaster reading it can retire.

use anyhow::Context as _;
use event_store::VersionCount;
use serde::Serialize;

use crate::context::Context;
use crate::{output, store};

/// One line of the census.
#[derive(Debug, Serialize)]
struct Line {
    context: &'static str,
    #[serde(flatten)]
    count: VersionCount,
}

/// Counts the events of `only` (or of every context) in the event stores `database` names.
pub async fn census<'a>(
    database: impl Fn(Context) -> &'a str,
    only: Option<Context>,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for context in Context::ALL
        .into_iter()
        .filter(|c| only.is_none_or(|o| o == *c))
    {
        let pool = store::connect(context, database(context)).await?;
        let counts = event_store::version_census(&pool, context.aggregate_type())
            .await
            .with_context(|| format!("counting the {} events", context.name()))?;
        lines.extend(counts.into_iter().map(|count| Line {
            context: context.name(),
            count,
        }));
    }
    if as_json {
        output::json(&serde_json::to_value(&lines).expect("census lines serialize"));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| {
            let count = &line.count;
            vec![
                line.context.to_owned(),
                count.event_type.clone(),
                count.event_version.clone(),
                count.events.to_string(),
                count.first_recorded_at.to_rfc3339(),
                count.last_recorded_at.to_rfc3339(),
            ]
        })
        .collect();
    output::table(
        &["CONTEXT", "TYPE", "VERSION", "EVENTS", "FIRST", "LAST"],
        &rows,
    );
    Ok(())
}
