//! CPU seconds per process during a benchmark, from /proc (user + system time of every process
//! whose name is one of the stack's: the five services, Postgres, the Kafka broker's JVM).

use std::collections::BTreeMap;

/// Process names whose CPU time is reported; Postgres's backends are summed.
const WATCHED: &[&str] = &[
    "users-command",
    "users-query",
    "orders-command",
    "orders-query",
    "saga-orchestrat", // the kernel keeps 15 characters of a process name
    "postgres",
    "java",
    "cqrs-bench",
];

/// Clock ticks per second of /proc's times (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds used so far, by process name.
pub fn snapshot() -> BTreeMap<String, f64> {
    let mut used = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return used;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid … utime(14) stime(15): comm may hold spaces, so split after ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let Some(watched) = WATCHED.iter().find(|watched| comm == **watched) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok());
        // Own user and system time, plus that of ended children (Postgres's backends).
        let own_and_children = [11, 12, 13, 14].map(ticks);
        if let [
            Some(user),
            Some(system),
            Some(child_user),
            Some(child_system),
        ] = own_and_children
        {
            let ticks = user + system + child_user + child_system;
            let name = if *watched == "saga-orchestrat" {
                "saga-orchestrator"
            } else {
                watched
            };
            *used.entry(name.to_owned()).or_insert(0.0) += ticks / TICKS;
        }
    }
    used
}

/// CPU seconds each process used between two snapshots (a process that ended in between is
/// left out, except Postgres's backends, counted in their postmaster's children time).
pub fn between(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    let mut parts = Vec::new();
    for (name, seconds) in after {
        let used = seconds - before.get(name).copied().unwrap_or(0.0);
        if used >= 0.05 {
            parts.push(format!("{name} {used:.1}"));
        }
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(", ")
    }
}

/// CPU seconds by process summed over several measured stretches, leaving out what ran
/// between them (a benchmark's set-up).
#[derive(Debug, Default)]
pub struct Spent(BTreeMap<String, f64>);

impl Spent {
    /// Adds what each process used between two snapshots.
    pub fn add(&mut self, before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) {
        for (name, seconds) in after {
            let used = seconds - before.get(name).copied().unwrap_or(0.0);
            *self.0.entry(name.clone()).or_insert(0.0) += used.max(0.0);
        }
    }
}

impl std::fmt::Display for Spent {
    /// As [`between`] writes it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&between(&BTreeMap::new(), &self.0))
    }
}

/// CPU microseconds the stack (every watched process but the harness) used between two
/// snapshots per operation, of `operations` done in between.
pub fn per_operation(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    operations: usize,
) -> String {
    let used: f64 = after
        .iter()
        .filter(|(name, _)| name.as_str() != "cqrs-bench")
        .map(|(name, seconds)| seconds - before.get(name).copied().unwrap_or(0.0))
        .filter(|used| *used > 0.0)
        .sum();
    if operations == 0 {
        return "-".to_owned();
    }
    format!("{:.0}", used * 1e6 / operations as f64)
}
