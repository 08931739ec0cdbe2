//! What a campaign reports: the plan and what happened (operations, faults, how long each
//! took to heal), the checker's findings, as text, JSON and an SVG timeline of the faults
//! against throughput, latency and the outbox backlog.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::Config;
use crate::checker::Checked;
use crate::faults::{Fault, FaultKind};
use crate::topology::{Quiet, Stores};
use crate::workload::{Clock, Op, Outcome, Stop};

/// The outbox backlog at one moment.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub at_ms: u64,
    /// Rows waiting in both outboxes; -1 when a store did not answer.
    pub outbox_backlog: i64,
}

/// Samples the outbox backlog every second until `stop`.
pub async fn monitor(stores: Stores, clock: Clock, stop: Stop) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !stop.is_set() {
        let mut backlog = 0;
        for pool in [&stores.users_es, &stores.orders_es] {
            let rows = tokio::time::timeout(
                Duration::from_millis(900),
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox").fetch_one(pool),
            )
            .await;
            backlog = match (backlog, rows) {
                (-1, _) | (_, Err(_) | Ok(Err(_))) => -1,
                (sum, Ok(Ok(rows))) => sum + rows,
            };
        }
        samples.push(Sample {
            at_ms: clock.now_ms(),
            outbox_backlog: backlog,
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    samples
}

/// A fault with how long the system took to heal from it.
#[derive(Debug, Clone, Serialize)]
pub struct Healed {
    #[serde(flatten)]
    pub fault: Fault,
    /// From lifting the fault to the first command acknowledged that was sent after it.
    pub first_success_after_ms: Option<u64>,
    /// From lifting the fault to the first moment the outbox was empty.
    pub backlog_drained_after_ms: Option<u64>,
}

/// One second of the timeline.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Second {
    pub second: u64,
    pub acknowledged: usize,
    pub p99_ms: u64,
    pub outbox_backlog: i64,
}

/// Latency of acknowledged commands, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Everything a campaign found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub seed: u64,
    pub duration_seconds: u64,
    pub clients: usize,
    pub brokers: usize,
    pub fault_kinds: Vec<FaultKind>,
    pub operations: usize,
    pub operations_by_kind: BTreeMap<String, usize>,
    pub faults_by_kind: BTreeMap<String, usize>,
    pub faults: Vec<Healed>,
    pub command_latency_ms: Latency,
    pub acknowledged_per_second: f64,
    /// When healing ended, from the campaign's start.
    pub healed_ms: u64,
    /// Processes that exited by themselves and the supervisor started again: (when, which).
    pub supervisor_restarts: Vec<(u64, String)>,
    pub quiet: Quiet,
    pub checked: Checked,
    pub timeline: Vec<Second>,
}

impl Report {
    pub fn new(
        config: &Config,
        history: &[Op],
        faults: &[Fault],
        samples: &[Sample],
        checked: Checked,
        quiet: Quiet,
        healed_ms: u64,
    ) -> Self {
        let acknowledged: Vec<&Op> = history
            .iter()
            .filter(|op| op.kind.is_command() && matches!(op.outcome, Outcome::Ok { .. }))
            .collect();
        let mut latencies: Vec<u64> = acknowledged
            .iter()
            .map(|op| op.ended_ms - op.started_ms)
            .collect();
        latencies.sort_unstable();
        let mut operations_by_kind = BTreeMap::new();
        for op in history {
            *operations_by_kind
                .entry(format!("{:?}", op.kind))
                .or_insert(0) += 1;
        }
        let mut faults_by_kind = BTreeMap::new();
        for fault in faults {
            *faults_by_kind.entry(kebab(fault.kind)).or_insert(0) += 1;
        }
        let healed = faults
            .iter()
            .map(|fault| Healed {
                fault: fault.clone(),
                first_success_after_ms: acknowledged
                    .iter()
                    .filter(|op| op.started_ms >= fault.lifted_ms)
                    .map(|op| op.ended_ms - fault.lifted_ms)
                    .min(),
                backlog_drained_after_ms: samples
                    .iter()
                    .find(|sample| sample.at_ms >= fault.lifted_ms && sample.outbox_backlog == 0)
                    .map(|sample| sample.at_ms - fault.lifted_ms),
            })
            .collect();
        let seconds = history.iter().map(|op| op.ended_ms).max().unwrap_or(0) / 1_000 + 1;
        let timeline = (0..seconds.max(samples.last().map_or(0, |s| s.at_ms / 1_000 + 1)))
            .map(|second| {
                let mut within: Vec<u64> = acknowledged
                    .iter()
                    .filter(|op| op.ended_ms / 1_000 == second)
                    .map(|op| op.ended_ms - op.started_ms)
                    .collect();
                within.sort_unstable();
                Second {
                    second,
                    acknowledged: within.len(),
                    p99_ms: percentile(&within, 0.99),
                    outbox_backlog: samples
                        .iter()
                        .find(|sample| sample.at_ms / 1_000 == second)
                        .map_or(-1, |sample| sample.outbox_backlog),
                }
            })
            .collect();
        Self {
            seed: config.seed,
            duration_seconds: config.duration.as_secs(),
            clients: config.clients,
            brokers: config.brokers,
            fault_kinds: config.faults.clone(),
            operations: history.len(),
            operations_by_kind,
            faults_by_kind,
            faults: healed,
            command_latency_ms: Latency {
                p50: percentile(&latencies, 0.50),
                p99: percentile(&latencies, 0.99),
                max: latencies.last().copied().unwrap_or_default(),
            },
            acknowledged_per_second: acknowledged.len() as f64
                / config.duration.as_secs_f64().max(1.0),
            healed_ms,
            supervisor_restarts: Vec::new(),
            quiet,
            checked,
            timeline,
        }
    }

    /// Whether the campaign found nothing wrong.
    pub fn passed(&self) -> bool {
        self.checked.violations.is_empty() && self.quiet.settled
    }

    /// The summary a person reads.
    pub fn text(&self) -> String {
        let mut text = String::new();
        let checked = &self.checked;
        let _ = writeln!(
            text,
            "chaos campaign: seed {}, {} s, {} clients, {} Kafka node(s)",
            self.seed, self.duration_seconds, self.clients, self.brokers
        );
        let _ = writeln!(
            text,
            "operations: {} ({}); commands acknowledged {}, refused {}, indeterminate {} (applied {})",
            self.operations,
            join(&self.operations_by_kind),
            checked.acknowledged,
            checked.refused,
            checked.indeterminate,
            checked.indeterminate_applied
        );
        let _ = writeln!(
            text,
            "reads: {} answered, {} not reached in time; command latency p50 {} ms, p99 {} ms, max {} ms; {:.1} acknowledged/s",
            checked.reads,
            checked.reads_not_reached,
            self.command_latency_ms.p50,
            self.command_latency_ms.p99,
            self.command_latency_ms.max,
            self.acknowledged_per_second
        );
        let _ = writeln!(
            text,
            "faults: {} ({})",
            self.faults.len(),
            join(&self.faults_by_kind)
        );
        for healed in &self.faults {
            let fault = &healed.fault;
            let _ = writeln!(
                text,
                "  {:>7} ms {:<16} {:<28} held {:>5} ms; ready {}; first success {}; backlog drained {}",
                fault.started_ms,
                kebab(fault.kind),
                fault.target,
                fault.lifted_ms - fault.started_ms,
                after(
                    fault
                        .recovered_ms
                        .map(|at| at.saturating_sub(fault.lifted_ms))
                ),
                after(healed.first_success_after_ms),
                after(healed.backlog_drained_after_ms),
            );
        }
        if !self.supervisor_restarts.is_empty() {
            let restarts: Vec<String> = self
                .supervisor_restarts
                .iter()
                .map(|(at, name)| format!("{name} at {at} ms"))
                .collect();
            let _ = writeln!(
                text,
                "exited by themselves and restarted: {}",
                restarts.join(", ")
            );
        }
        let _ = writeln!(
            text,
            "stored: {} users events, {} orders events; {} records read again on the topics; sagas {}",
            checked.users_events,
            checked.orders_events,
            checked.topic_duplicates,
            join(&checked.sagas_by_state)
        );
        let _ = writeln!(
            text,
            "quiet: {} {} ms after healing{}",
            if self.quiet.settled {
                "settled"
            } else {
                "NOT settled"
            },
            self.quiet.after_ms,
            if self.quiet.unsettled.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.quiet.unsettled.join("; "))
            }
        );
        if checked.violations.is_empty() {
            let _ = writeln!(text, "violations: none");
        } else {
            let _ = writeln!(text, "violations: {}", checked.violations.len());
            for violation in &checked.violations {
                let _ = writeln!(text, "  [{}] {}", violation.check, violation.detail);
            }
        }
        text
    }

    /// Writes `chaos-report.txt`, `.json` and `.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join("chaos-report.txt"), self.text())?;
        std::fs::write(
            dir.join("chaos-report.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(dir.join("chaos-report.svg"), self.svg())?;
        Ok(())
    }

    /// The timeline: faults as bands over three charts (acknowledged commands per second,
    /// their p99 latency, the outbox backlog).
    pub fn svg(&self) -> String {
        const WIDTH: f64 = 1000.0;
        const LEFT: f64 = 70.0;
        const PANEL: f64 = 110.0;
        const TOP: f64 = 40.0;
        let span = self.timeline.len().max(1) as f64;
        let x = |second: f64| LEFT + (WIDTH - LEFT - 20.0) * second / span;
        let height = TOP + 3.0 * (PANEL + 30.0) + 60.0;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{LEFT}\" y=\"20\" font-size=\"14\">Chaos campaign, seed {}: {} faults, {} violation(s)</text>\n",
            self.seed,
            self.faults.len(),
            self.checked.violations.len()
        );
        let bottom = TOP + 3.0 * (PANEL + 30.0);
        for healed in &self.faults {
            let fault = &healed.fault;
            let (from, to) = (
                fault.started_ms as f64 / 1_000.0,
                fault.lifted_ms as f64 / 1_000.0,
            );
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" fill-opacity=\"0.25\">\
                 <title>{} {}</title></rect>",
                x(from),
                (x(to) - x(from)).max(1.0),
                bottom - TOP,
                colour(fault.kind),
                kebab(fault.kind),
                fault.target
            );
        }
        let panels: [(&str, Vec<f64>); 3] = [
            (
                "acknowledged commands/s",
                self.timeline
                    .iter()
                    .map(|s| s.acknowledged as f64)
                    .collect(),
            ),
            (
                "command p99 latency (ms)",
                self.timeline.iter().map(|s| s.p99_ms as f64).collect(),
            ),
            (
                "outbox backlog (rows)",
                self.timeline
                    .iter()
                    .map(|s| s.outbox_backlog.max(0) as f64)
                    .collect(),
            ),
        ];
        for (index, (title, values)) in panels.iter().enumerate() {
            let top = TOP + index as f64 * (PANEL + 30.0) + 15.0;
            let peak = values.iter().copied().fold(1.0, f64::max);
            let y = |value: f64| top + PANEL - PANEL * value / peak;
            let points: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(second, value)| format!("{:.1},{:.1}", x(second as f64 + 0.5), y(*value)))
                .collect();
            let _ = writeln!(
                svg,
                "<text x=\"{LEFT}\" y=\"{:.1}\">{title} (peak {peak:.0})</text>\n\
                 <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#999\"/>\n\
                 <polyline fill=\"none\" stroke=\"#1f4e9c\" stroke-width=\"1.5\" points=\"{}\"/>",
                top - 4.0,
                top + PANEL,
                WIDTH - 20.0,
                top + PANEL,
                points.join(" ")
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{LEFT}\" y=\"{:.1}\">seconds 0 to {} (healing ends at {} s)</text>",
            bottom + 10.0,
            self.timeline.len(),
            self.healed_ms / 1_000
        );
        for (index, kind) in FaultKind::ALL.iter().enumerate() {
            let left = LEFT + index as f64 * 130.0;
            let _ = writeln!(
                svg,
                "<rect x=\"{left}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\" fill-opacity=\"0.5\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                bottom + 25.0,
                colour(*kind),
                left + 16.0,
                bottom + 35.0,
                kebab(*kind)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

fn percentile(sorted: &[u64], quantile: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * quantile).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn kebab(kind: FaultKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn colour(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Kill => "#d62728",
        FaultKind::Pause => "#ff7f0e",
        FaultKind::PostgresRestart => "#9467bd",
        FaultKind::BrokerKill => "#2ca02c",
        FaultKind::LeaderKill => "#17becf",
        FaultKind::Rebalance => "#8c564b",
        FaultKind::SlowDownstream => "#e377c2",
    }
}

fn join<V: std::fmt::Display>(counts: &BTreeMap<String, V>) -> String {
    counts
        .iter()
        .map(|(key, value)| format!("{key} {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn after(ms: Option<u64>) -> String {
    ms.map_or_else(|| "never".to_owned(), |ms| format!("{ms} ms"))
}

/// Writes `history` into `dir` as `chaos-history.jsonl`: one operation a line, in the order
/// they started, each with what its client was finally told.
pub fn write_history(dir: &Path, history: &[Op]) -> anyhow::Result<()> {
    let mut lines = String::new();
    for op in history {
        lines.push_str(&serde_json::to_string(op)?);
        lines.push('\n');
    }
    let path = dir.join("chaos-history.jsonl");
    std::fs::write(&path, lines).with_context(|| format!("writing {}", path.display()))
}
