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

pub mod chart;
pub mod cpu;
pub mod data;
pub mod load;
pub mod scenarios;

use std::time::Instant;

use service_kit::settings::DatabaseSettings;

use crate::chart::Series;

/// Where the system under test is.
#[derive(Clone)]
pub struct Target {
    pub users_command: String,
    pub users_query: String,
    pub orders_command: String,
    pub orders_query: String,
    /// HTTP clients, each sending the bearer token of another admin subject: the services
    /// limit requests per subject, so load spread over many subjects is what many callers
    /// would send. Client `n % len` serves load client (or request) `n`.
    pub clients: Vec<reqwest::Client>,
    /// The Postgres server: scratch databases and pgbench go there.
    pub server: DatabaseSettings,
    /// The brokers (and the security, from `BENCH__KAFKA__…` variables).
    pub kafka: service_kit::settings::KafkaSettings,
    /// The topic users-command publishes to.
    pub users_topic: String,
}

impl Target {
    /// The HTTP client of load client (or request) `n`.
    pub fn client(&self, n: usize) -> &reqwest::Client {
        &self.clients[n % self.clients.len()]
    }

    /// Waits until both command services report an empty outbox, so a measurement does not
    /// pay for the backlog an earlier one left (up to ten minutes; the relay sweeps every 5 s).
    pub async fn settle(&self, progress: &(dyn Fn(String) + Sync)) -> anyhow::Result<()> {
        let deadline = Instant::now() + std::time::Duration::from_secs(600);
        let mut reported = Instant::now();
        loop {
            let mut backlog = 0.0;
            for service in [&self.users_command, &self.orders_command] {
                let metrics = self
                    .client(0)
                    .get(format!("{service}/metrics"))
                    .send()
                    .await?
                    .text()
                    .await?;
                backlog += metrics
                    .lines()
                    .find_map(|line| line.strip_prefix("outbox_backlog_rows "))
                    .and_then(|value| value.trim().parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
            if backlog == 0.0 {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the outboxes still hold {backlog} rows after ten minutes"
            );
            if reported.elapsed().as_secs() >= 10 {
                progress(format!(
                    "waiting for the relays: {backlog} rows in the outboxes"
                ));
                reported = Instant::now();
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
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
    /// Events stored before each B5 measurement (ascending; B5 first stores 2 000 of its own,
    /// the users it loads, so a size below that measures at 2 000).
    pub growth_events: Vec<u64>,
    pub growth_commands: u64,
    pub snapshot_events: u64,
    pub burst_orders: u64,
    /// Arrival rate of the B2-B4 open loops; half of B1's highest rate when not given.
    pub rate: Option<f64>,
}

impl Sizes {
    /// What docs/benchmarks.md reports.
    pub fn full() -> Self {
        Self {
            runs: 3,
            seconds: 5,
            clients: vec![1, 8, 32],
            max_operations: 200_000,
            drain_rows: 100_000,
            rebuild_events: vec![100_000, 1_000_000],
            growth_events: vec![0, 1_000_000, 10_000_000],
            growth_commands: 2_000,
            snapshot_events: 10_000,
            burst_orders: 500,
            rate: None,
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
            growth_events: vec![0, 5_000],
            growth_commands: 20,
            snapshot_events: 60,
            burst_orders: 10,
            rate: None,
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
    /// Latency curves for the pictures: (ms, p) from [`Series::percentiles`].
    pub latency: Vec<Series>,
    /// Throughputs for the pictures: (clients, operations per second).
    pub throughput: Vec<Series>,
}

impl Section {
    pub fn new(id: &'static str, title: &str, header: &[&str]) -> Self {
        Self {
            id,
            title: title.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
            latency: Vec::new(),
            throughput: Vec::new(),
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

/// The benchmarks by name, in the order they run. `b2` is `b2-latency` and `b2-drain`, `b3`
/// is `b3-latency` and `b3-rebuild`.
pub const NAMES: &[&str] = &[
    "b0",
    "b1",
    "b2",
    "b2-latency",
    "b2-drain",
    "b3",
    "b3-latency",
    "b3-rebuild",
    "b4",
    "b5",
];

/// Runs the benchmarks named in `only` (all when empty), printing each table as it is done
/// and progress lines on stderr; returns every section.
pub async fn run(target: &Target, sizes: &Sizes, only: &[String]) -> anyhow::Result<Vec<Section>> {
    let wanted = |name: &str| {
        only.is_empty()
            || only.iter().any(|o| {
                o == name
                    || name
                        .strip_prefix(o.as_str())
                        .is_some_and(|rest| rest.starts_with('-'))
            })
    };
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
    // B1 needs B0's limit; the half loads of B2-B4 need B1's rates (unless a rate is given):
    // the earlier ones run when a later one is asked for alone.
    let latency = wanted("b2-latency") || wanted("b3-latency");
    let needs_b1 = wanted("b1") || ((latency || wanted("b4")) && sizes.rate.is_none());
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
    if latency {
        target.settle(&progress).await?;
        progress("B2/B3: half load, commit → broker and → read model".to_owned());
        done(
            scenarios::b2_b3_latency(target, sizes, &findings).await?,
            &mut sections,
        );
    }
    if wanted("b2-drain") {
        progress(format!("B2: draining {} outbox rows", sizes.drain_rows));
        done(
            vec![scenarios::b2_drain(target, sizes).await?],
            &mut sections,
        );
    }
    if wanted("b3-rebuild") {
        progress(format!("B3: rebuilds of {:?} events", sizes.rebuild_events));
        done(
            vec![scenarios::b3_rebuild(target, sizes).await?],
            &mut sections,
        );
    }
    if wanted("b4") {
        target.settle(&progress).await?;
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

/// Writes `sections` into the generated part of `document` (between the results markers):
/// each replaces the table of the same benchmark, tables of benchmarks not run this time are
/// kept (with the machine line they were measured under), so one benchmark can be rerun
/// alone. The rest of the file (analysis, profiles, before/after) is kept as it is.
pub fn write_report(document: &str, machine: &str, sections: &[Section]) -> String {
    const START: &str = "<!-- results:start (written by cargo xtask bench) -->";
    const END: &str = "<!-- results:end -->";
    const MARK: &str = "<!-- section:";
    let (before, old, after) = match (document.find(START), document.find(END)) {
        (Some(start), Some(end)) if end > start => (
            &document[..start],
            &document[start + START.len()..end],
            &document[end + END.len()..],
        ),
        _ => ("# Benchmarks\n\n", "", "\n"),
    };
    // The old block: `<!-- section:id -->` then the table, up to the next mark.
    let mut tables: Vec<(String, String)> = Vec::new();
    for chunk in old.split(MARK).skip(1) {
        if let Some((id, body)) = chunk.split_once(" -->") {
            tables.push((id.to_owned(), body.trim().to_owned()));
        }
    }
    for section in sections {
        let body = format!("{}\n\n{machine}", section.markdown().trim());
        match tables.iter_mut().find(|(id, _)| id == section.id) {
            Some(table) => table.1 = body,
            None => tables.push((section.id.to_owned(), body)),
        }
    }
    let order = |id: &str| {
        ORDER
            .iter()
            .position(|known| *known == id)
            .unwrap_or(ORDER.len())
    };
    tables.sort_by_key(|(id, _)| order(id));
    let mut generated = format!("{START}\n");
    for (id, body) in tables {
        generated.push_str(&format!("\n{MARK}{id} -->\n{body}\n"));
    }
    generated.push('\n');
    generated.push_str(END);
    format!("{before}{generated}{after}")
}

/// A picture for the report's folder.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Its file name, the same every run.
    pub file: &'static str,
    pub svg: String,
}

/// The pictures of `sections`, each only when every benchmark it shows ran this time, so a
/// benchmark rerun alone leaves the others' pictures as they were (as its table does):
/// B1's throughput against clients with B0 for reference (`bench-b1-throughput.svg`), B1's
/// latency percentiles (`bench-b1-latency.svg`), and those of the open loops of B2, B3 and
/// B4 (`bench-open-loop-latency.svg`). `machine` goes at the foot of each.
pub fn pictures(sections: &[Section], machine: &str) -> Vec<Picture> {
    let lines = |ids: &[&str], pick: fn(&Section) -> &Vec<Series>| {
        let mut lines = Vec::new();
        for id in ids {
            lines.extend(pick(sections.iter().find(|s| s.id == *id)?).iter().cloned());
        }
        Some(lines)
    };
    let merged = "The samples of all runs merged.";
    let mut pictures = Vec::new();
    if let Some(lines) = lines(&["b1", "b0"], |s| &s.throughput) {
        pictures.extend(
            chart::throughput(
                "B1 commands over HTTP: throughput against clients",
                "Closed loops, the median of the runs at each number of clients; the dotted \
                 line is B0, pgbench's transactions per second with the SQL a registration \
                 commits.",
                machine,
                &lines,
            )
            .map(|svg| Picture {
                file: "bench-b1-throughput.svg",
                svg,
            }),
        );
    }
    if let Some(lines) = lines(&["b1"], |s| &s.latency) {
        pictures.extend(
            chart::latency_percentiles(
                "B1 commands over HTTP: latency, closed loop",
                &format!("Solid register-user, dashed place-order. {merged}"),
                machine,
                &lines,
            )
            .map(|svg| Picture {
                file: "bench-b1-latency.svg",
                svg,
            }),
        );
    }
    if let Some(lines) = lines(&["b2", "b3", "b4"], |s| &s.latency) {
        pictures.extend(
            chart::latency_percentiles(
                "B2-B4 open loops: latency at a fixed arrival rate",
                &format!("At the rates of the B2-B4 tables. {merged}"),
                machine,
                &lines,
            )
            .map(|svg| Picture {
                file: "bench-open-loop-latency.svg",
                svg,
            }),
        );
    }
    pictures
}

/// The order of the tables in the report.
const ORDER: &[&str] = &[
    "b0",
    "b1",
    "b2",
    "b2-drain",
    "b3",
    "b3-rebuild",
    "b4",
    "b5",
    "b5-snapshot",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_replaces_the_tables_it_measured_and_keeps_the_others() {
        let mut limit = Section::new("b0", "B0 limit", &["clients", "tx/s"]);
        limit.row(vec!["1".to_owned(), "900".to_owned()]);
        let mut growth = Section::new("b5", "B5 growth", &["events", "p50 ms"]);
        growth.row(vec!["0".to_owned(), "1.5".to_owned()]);
        let first = write_report("", "Machine: first", &[growth.clone(), limit.clone()]);
        assert!(
            first.contains("| clients | tx/s |\n|---|---|\n| 1 | 900 |"),
            "{first}"
        );
        assert!(
            first.find("B0 limit") < first.find("B5 growth"),
            "in benchmark order"
        );
        let edited = first.replace("# Benchmarks", "# Benchmarks\n\nOur analysis.")
            + "\n## Profiles\n\nKept.\n";
        limit.rows[0][1] = "1000".to_owned();
        let second = write_report(&edited, "Machine: second", &[limit]);
        assert!(second.contains("Our analysis.") && second.contains("## Profiles\n\nKept."));
        assert!(second.contains("| 1 | 1000 |") && !second.contains("| 1 | 900 |"));
        // B5 was not rerun: its table and the machine it was measured on stay.
        assert!(second.contains("| 0 | 1.5 |\n\nMachine: first"), "{second}");
        assert!(
            second.contains("| 1 | 1000 |\n\nMachine: second"),
            "{second}"
        );
        assert_eq!(second.matches("<!-- section:b0 -->").count(), 1);
    }

    fn measured(id: &'static str, latency: &[&str], throughput: &[&str]) -> Section {
        let mut section = Section::new(id, id, &["measure"]);
        for name in latency {
            section
                .latency
                .push(Series::percentiles(name, vec![0.001, 0.002, 0.004]));
        }
        for name in throughput {
            section
                .throughput
                .push(Series::new(name, vec![(1.0, 100.0), (8.0, 400.0)]));
        }
        section
    }

    fn files(pictures: &[Picture]) -> Vec<&str> {
        pictures.iter().map(|picture| picture.file).collect()
    }

    #[test]
    fn pictures_show_only_benchmarks_that_ran_this_time() {
        let b0 = measured("b0", &[], &["B0 pgbench (tx/s)"]);
        let b1 = measured("b1", &["register-user, 1 client"], &["register-user"]);
        let b2 = measured("b2", &["B2 answered", "B2 commit → consumed"], &[]);
        let b3 = measured("b3", &["B3 answered → visible"], &[]);
        let b4 = measured("b4", &["B4 placed → approved"], &[]);
        let rebuild = measured("b3-rebuild", &[], &[]);
        let all = [b0.clone(), b1.clone(), b2.clone(), b3.clone(), b4.clone()];
        let every = pictures(&all, "Machine: test");
        assert_eq!(
            files(&every),
            [
                "bench-b1-throughput.svg",
                "bench-b1-latency.svg",
                "bench-open-loop-latency.svg"
            ]
        );
        let open_loops = &every[2].svg;
        for name in [
            "B2 answered",
            "B2 commit → consumed",
            "B3 answered → visible",
            "B4 placed → approved",
        ] {
            assert!(open_loops.contains(name), "{name} missing");
        }
        assert!(
            every[0].svg.contains("B0 pgbench (tx/s)") && every[0].svg.contains("Machine: test")
        );
        // A rebuild alone draws nothing; B2 and B3 without B4 leave the open loops' picture.
        assert!(pictures(&[rebuild], "m").is_empty());
        assert!(pictures(&[b2, b3], "m").is_empty());
        assert_eq!(
            files(&pictures(&[b4, b0, b1], "m")),
            ["bench-b1-throughput.svg", "bench-b1-latency.svg"]
        );
        // Sections without measured lines draw nothing either.
        let bare = [Section::new("b0", "B0", &[]), Section::new("b1", "B1", &[])];
        assert!(pictures(&bare, "m").is_empty());
    }
}
