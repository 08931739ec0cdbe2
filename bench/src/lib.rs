//! The benchmark harness: `cargo xtask bench` runs it against the local stack and writes
//! `docs/benchmarks.md`; a quick variant runs in the test suite (bench/tests/quick.rs) so the
//! harness cannot rot. Benchmarks measure; nothing here asserts a time.
//!
//! - B0 the limit: pgbench with the SQL a registration commits;
//! - B1 commands over HTTP at 1, 8 and 32 clients, divided by B0;
//! - B2 the relay: commit → on the broker at half load, and draining a backlog;
//! - B3 projections: commit → visible at half load, and rebuild rates;
//! - B4 the saga: placed → approved, and sagas per second;
//! - B5 growth: command latency as the store grows, and loading a long stream.

pub mod cpu;
pub mod data;
pub mod load;
pub mod scenarios;

use std::time::Instant;

use service_kit::settings::DatabaseSettings;

/// Where the system under test is.
#[derive(Clone)]
pub struct Target {
    pub users_command: String,
    pub users_query: String,
    pub orders_command: String,
    pub orders_query: String,
    /// Sends an admin bearer token with every request.
    pub client: reqwest::Client,
    /// The Postgres server: scratch databases and pgbench go there.
    pub server: DatabaseSettings,
    pub brokers: String,
    /// The topic users-command publishes to.
    pub users_topic: String,
}

/// How much each benchmark does.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Runs of each measurement; the table holds their medians.
    pub runs: usize,
    /// Seconds of each timed load.
    pub seconds: u64,
    /// Concurrent clients of B0 and B1.
    pub clients: Vec<usize>,
    /// Upper bound of operations in one timed load.
    pub max_operations: u64,
    pub drain_rows: u64,
    pub rebuild_events: Vec<u64>,
    /// Events stored before each B5 measurement (ascending).
    pub growth_events: Vec<u64>,
    pub growth_commands: u64,
    pub snapshot_events: u64,
    pub burst_orders: u64,
}

impl Sizes {
    /// What docs/benchmarks.md reports.
    pub fn full() -> Self {
        Self {
            runs: 3,
            seconds: 10,
            clients: vec![1, 8, 32],
            max_operations: 200_000,
            drain_rows: 100_000,
            rebuild_events: vec![100_000, 1_000_000],
            growth_events: vec![0, 1_000_000, 5_000_000],
            growth_commands: 2_000,
            snapshot_events: 10_000,
            burst_orders: 500,
        }
    }

    /// Seconds in all, tiny sizes: proves the harness runs end to end.
    pub fn quick() -> Self {
        Self {
            runs: 1,
            seconds: 1,
            clients: vec![1, 4],
            max_operations: 200,
            drain_rows: 500,
            rebuild_events: vec![500],
            growth_events: vec![0, 2_000],
            growth_commands: 20,
            snapshot_events: 60,
            burst_orders: 10,
        }
    }
}

/// One table of the report.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: &'static str,
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(id: &'static str, title: &str, header: &[&str]) -> Self {
        Self {
            id,
            title: title.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn note(&mut self, note: &str) {
        self.notes.push(note.to_owned());
    }

    /// A Markdown table with its notes.
    pub fn markdown(&self) -> String {
        let mut text = format!("### {}\n\n", self.title);
        text.push_str(&format!("| {} |\n", self.header.join(" | ")));
        text.push_str(&format!("|{}\n", "---|".repeat(self.header.len())));
        for row in &self.rows {
            text.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        for note in &self.notes {
            text.push_str(&format!("\n{note}\n"));
        }
        text
    }

    /// The table as aligned plain text, for the terminal.
    pub fn plain(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let mut text = format!("{}\n{}\n", self.title, line(&self.header));
        for row in &self.rows {
            text.push_str(&line(row));
            text.push('\n');
        }
        // Failures matter on the terminal; the explanations are for the report.
        for note in self
            .notes
            .iter()
            .filter(|note| note.contains("failed; the first said"))
        {
            text.push_str(&format!("! {note}\n"));
        }
        text
    }
}

/// The benchmarks by name, in the order they run.
pub const NAMES: &[&str] = &["b0", "b1", "b2", "b3", "b4", "b5"];

/// Runs the benchmarks named in `only` (all when empty), printing each table as it is done
/// and progress lines on stderr; returns every section.
pub async fn run(target: &Target, sizes: &Sizes, only: &[String]) -> anyhow::Result<Vec<Section>> {
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let progress = |line: String| eprintln!("[bench] {line}");
    let mut findings = scenarios::Findings::default();
    let mut sections = Vec::new();
    let started = Instant::now();
    let done = |new: Vec<Section>, sections: &mut Vec<Section>| {
        for section in new {
            println!("{}", section.plain());
            sections.push(section);
        }
    };
    // B1 needs B0's limit; B2-B4 need B1's rates: run the earlier ones when a later one is
    // asked for alone.
    let needs_b1 = wanted("b1") || wanted("b2") || wanted("b3") || wanted("b4");
    if wanted("b0") || needs_b1 {
        progress(format!("B0: pgbench at {:?} clients", sizes.clients));
        done(
            vec![scenarios::b0(target, sizes, &mut findings).await?],
            &mut sections,
        );
    }
    if needs_b1 {
        progress(format!("B1: commands at {:?} clients", sizes.clients));
        done(
            vec![scenarios::b1(target, sizes, &mut findings).await?],
            &mut sections,
        );
    }
    if wanted("b2") || wanted("b3") {
        progress("B2/B3: half load, commit → broker and → read model".to_owned());
        done(
            scenarios::b2_b3_latency(target, sizes, &findings).await?,
            &mut sections,
        );
    }
    if wanted("b2") {
        progress(format!("B2: draining {} outbox rows", sizes.drain_rows));
        done(
            vec![scenarios::b2_drain(target, sizes).await?],
            &mut sections,
        );
    }
    if wanted("b3") {
        progress(format!("B3: rebuilds of {:?} events", sizes.rebuild_events));
        done(
            vec![scenarios::b3_rebuild(target, sizes).await?],
            &mut sections,
        );
    }
    if wanted("b4") {
        progress("B4: sagas".to_owned());
        done(
            vec![scenarios::b4(target, sizes, &findings).await?],
            &mut sections,
        );
    }
    if wanted("b5") {
        progress(format!(
            "B5: growth at {:?} stored events",
            sizes.growth_events
        ));
        done(
            scenarios::b5(target, sizes, &progress).await?,
            &mut sections,
        );
    }
    progress(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(sections)
}

/// Replaces the generated part of `document` (between the results markers) with `sections`
/// and a header naming the machine and the date; the rest of the file (analysis, profiles,
/// before/after) is kept.
pub fn write_report(document: &str, machine: &str, sections: &[Section]) -> String {
    const START: &str = "<!-- results:start (written by cargo xtask bench) -->";
    const END: &str = "<!-- results:end -->";
    let mut generated = format!("{START}\n\n{machine}\n");
    for section in sections {
        generated.push('\n');
        generated.push_str(&section.markdown());
    }
    generated.push('\n');
    generated.push_str(END);
    match (document.find(START), document.find(END)) {
        (Some(start), Some(end)) if end > start => format!(
            "{}{generated}{}",
            &document[..start],
            &document[end + END.len()..]
        ),
        _ => format!("# Benchmarks\n\n{generated}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_replaces_only_the_generated_part() {
        let mut section = Section::new("b0", "B0 limit", &["clients", "tx/s"]);
        section.row(vec!["1".to_owned(), "900".to_owned()]);
        let first = write_report("", "Machine: test", std::slice::from_ref(&section));
        assert!(
            first.contains("| clients | tx/s |\n|---|---|\n| 1 | 900 |"),
            "{first}"
        );
        let edited = first.replace("# Benchmarks", "# Benchmarks\n\nOur analysis.")
            + "\n## Profiles\n\nKept.\n";
        section.rows[0][1] = "1000".to_owned();
        let second = write_report(&edited, "Machine: test", &[section]);
        assert!(second.contains("Our analysis.") && second.contains("## Profiles\n\nKept."));
        assert!(second.contains("| 1 | 1000 |") && !second.contains("| 1 | 900 |"));
    }
}
