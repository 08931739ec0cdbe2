//! `cargo xtask bench --compare <git-ref>`: the working tree against a reference, each built
//! and measured by its own `cargo xtask` (its own harness, services and stack), in turns, and
//! every cell of every table printed as reference → working tree with their ratio.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::services;
use crate::stack::{self, step};

/// Where one side lives: its source tree and its own target directory (a shared one would
/// let one side's release binaries overwrite the other's).
struct Side {
    name: String,
    root: PathBuf,
    target: PathBuf,
}

impl Side {
    fn xtask(&self, args: &[&str]) -> Result<()> {
        stack::run(
            Command::new("cargo")
                .arg("xtask")
                .args(args)
                .current_dir(&self.root)
                .env("CARGO_TARGET_DIR", &self.target)
                // Each side's xtask finds its own tree from the variable cargo sets for it.
                .env_remove("CARGO_MANIFEST_DIR"),
        )
    }

    /// Starts this side's stack from nothing, runs its harness with `args`, writing the
    /// tables to `report`, and stops the stack whatever happened.
    fn measure(&self, args: &[String], report: &Path) -> Result<()> {
        let report = report.to_string_lossy();
        let mut bench = vec!["bench", "--"];
        bench.extend(args.iter().map(String::as_str));
        bench.extend(["--report", &report]);
        let measured = self
            .xtask(&["up", "--release", "--fresh", "--detach"])
            .and_then(|()| self.xtask(&bench));
        let stopped = self.xtask(&["down"]);
        measured.and(stopped)
    }
}

/// Runs the comparison: `rounds` rounds, each measuring both sides, the reference first in
/// the first round, second in the next, and so on (A B, B A, …), so a machine that warms up
/// or slows down over the run favours neither.
pub fn compare(reference: &str, rounds: usize, args: &[String]) -> Result<()> {
    anyhow::ensure!(
        (1..=20).contains(&rounds),
        "--rounds must be between 1 and 20"
    );
    anyhow::ensure!(
        !args
            .iter()
            .any(|arg| arg == "--report" || arg.starts_with("--report=")),
        "--compare writes each run's tables itself; leave out --report"
    );
    let open_loop = ["b2", "b3", "b4"];
    if !args.iter().any(|arg| arg.starts_with("--rate"))
        && (args.iter().all(|arg| arg.starts_with('-'))
            || args
                .iter()
                .any(|arg| open_loop.iter().any(|name| arg.starts_with(name))))
    {
        step(
            "note: without --rate each side loads B2-B4 at half of its own B1 peak, so their \
             latencies are measured at different rates",
        );
    }
    let running = services::running();
    anyhow::ensure!(
        running.is_empty(),
        "--compare starts each side's stack from nothing (`up --fresh` drops the stack's \
         databases and the broker's data), but {} still run: stop the stack with `cargo xtask \
         down` first (in the comparison's worktree too if an earlier one was interrupted)",
        running.join(", ")
    );
    let root = stack::root();
    let commit = git(
        &root,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{reference}^{{commit}}"),
        ],
    )
    .with_context(|| format!("{reference:?} is not a commit of this repository"))?;
    let short = &commit[..12.min(commit.len())];
    let dir = services::target_dir().join("compare").join(short);
    let tree = dir.join("tree");
    checkout(&root, &tree, &commit)?;
    if !dir.join("target").exists() {
        // Built first, so the reference can start from a copy of its dependencies.
        step("building the working tree's services and harness (release)");
        let mut build = Command::new("cargo");
        build
            .args(["build", "--release", "--quiet", "--bin", "cqrs-bench"])
            .current_dir(&root);
        for binary in services::binaries() {
            build.args(["--bin", binary]);
        }
        stack::run(&mut build)?;
        seed(&services::target_dir(), &dir.join("target"))?;
        // The copy is newer than the reference's sources, and cargo names a workspace crate by
        // its path inside the workspace, the same in both trees: without this, the reference
        // would reuse the working tree's build of every crate whose dependencies match.
        stack::run(
            Command::new("sh")
                .args(["-c", "git ls-files -z | xargs -0 touch --no-create"])
                .current_dir(&tree),
        )?;
    }
    let sides = [
        Side {
            name: format!("{reference} ({short})"),
            root: tree,
            target: dir.join("target"),
        },
        Side {
            name: "working tree".into(),
            root,
            target: services::target_dir(),
        },
    ];
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).context("creating the reports folder")?;
    step(&format!(
        "if interrupted, stop what runs with `cargo xtask down` here and in {}",
        sides[0].root.display()
    ));
    let mut measured: [Vec<Vec<Table>>; 2] = Default::default();
    for round in 0..rounds {
        let order = if round.is_multiple_of(2) {
            [0, 1]
        } else {
            [1, 0]
        };
        for index in order {
            let side = &sides[index];
            step(&format!("round {} of {rounds}: {}", round + 1, side.name));
            let report = reports.join(format!("round{round}-side{index}.md"));
            let _ = std::fs::remove_file(&report);
            side.measure(args, &report)?;
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("reading {}", report.display()))?;
            measured[index].push(parse(&text));
        }
    }
    print!(
        "{}",
        ratios(&measured[0], &measured[1], &sides[0].name, rounds)
    );
    step(&format!("each run's tables: {}", reports.display()));
    Ok(())
}

/// A git worktree of `commit` at `tree`, made or moved there if needed.
fn checkout(root: &Path, tree: &Path, commit: &str) -> Result<()> {
    if tree.join(".git").exists() {
        if git(tree, &["rev-parse", "HEAD"]).ok().as_deref() == Some(commit) {
            return Ok(());
        }
        git(tree, &["checkout", "--quiet", "--detach", commit])?;
        return Ok(());
    }
    // A folder left by a worktree that git has forgotten would make `worktree add` fail.
    let _ = git(root, &["worktree", "prune"]);
    step(&format!("checking out {commit} in {}", tree.display()));
    git(
        root,
        &[
            "worktree",
            "add",
            "--detach",
            "--force",
            &tree.to_string_lossy(),
            commit,
        ],
    )?;
    Ok(())
}

/// Gives the reference's new target directory a copy of the working tree's release build, so
/// the dependencies both sides share are not compiled again (the caller then marks the
/// reference's own sources as changed).
fn seed(working: &Path, reference: &Path) -> Result<()> {
    let release = working.join("release");
    if !release.is_dir() {
        return Ok(());
    }
    step(&format!(
        "seeding {} with the working tree's release build",
        reference.display()
    ));
    std::fs::create_dir_all(reference).context("creating the reference's target directory")?;
    stack::run(Command::new("cp").args([
        "-a",
        "--reflink=auto",
        &release.to_string_lossy(),
        &reference.join("release").to_string_lossy(),
    ]))
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// One table of a report, as the harness writes it under `<!-- section:<id> -->`.
#[derive(Debug, Clone, PartialEq)]
struct Table {
    id: String,
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// The tables of a report the harness wrote.
fn parse(report: &str) -> Vec<Table> {
    report
        .split("<!-- section:")
        .skip(1)
        .filter_map(|chunk| {
            let (id, body) = chunk.split_once(" -->")?;
            let title = body
                .lines()
                .find_map(|line| line.strip_prefix("### "))
                .unwrap_or(id)
                .trim()
                .to_owned();
            let mut lines = body
                .lines()
                .map(str::trim)
                .skip_while(|line| !line.starts_with('|'))
                .take_while(|line| line.starts_with('|'))
                .map(cells);
            let header = lines.next()?;
            let rows = lines
                .filter(|row| !row.iter().all(|cell| cell.starts_with("--")))
                .collect();
            Some(Table {
                id: id.trim().to_owned(),
                title,
                header,
                rows,
            })
        })
        .collect()
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

/// Each cell of the reference's tables: kept as it is when every run printed the same (a row's
/// name, its number of clients), `a → b ×r` when both sides printed numbers (medians over the
/// rounds, r = working tree ÷ reference), `…` otherwise (the CPU lists).
fn ratios(reference: &[Vec<Table>], working: &[Vec<Table>], name: &str, rounds: usize) -> String {
    let mut text = format!(
        "\nEvery cell: {name} → working tree ×(working ÷ reference), medians of {rounds} \
         round(s) each.\n"
    );
    let Some(first) = reference.first() else {
        return text;
    };
    for table in first {
        let runs = |side: &[Vec<Table>]| -> Vec<Table> {
            side.iter()
                .filter_map(|tables| tables.iter().find(|other| other.id == table.id).cloned())
                .collect()
        };
        let (ours, theirs) = (runs(reference), runs(working));
        text.push_str(&format!("\n### {}\n\n", table.title));
        let comparable = |runs: &[Table]| {
            runs.iter().all(|run| {
                run.header == table.header
                    && run.rows.len() == table.rows.len()
                    && run.rows.iter().all(|row| row.len() == table.header.len())
            })
        };
        if theirs.len() != working.len() || !comparable(&ours) || !comparable(&theirs) {
            text.push_str("(the two sides printed different tables: not compared)\n");
            continue;
        }
        text.push_str(&format!("| {} |\n", table.header.join(" | ")));
        text.push_str(&format!("|{}\n", "---|".repeat(table.header.len())));
        for row in 0..table.rows.len() {
            let cell = |column: usize| {
                let values = |runs: &[Table]| -> Vec<String> {
                    runs.iter()
                        .map(|run| run.rows[row][column].clone())
                        .collect()
                };
                compare_cell(&values(&ours), &values(&theirs))
            };
            let row: Vec<String> = (0..table.header.len()).map(cell).collect();
            text.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    text
}

fn compare_cell(reference: &[String], working: &[String]) -> String {
    let all = || reference.iter().chain(working);
    if all().all(|value| value == &reference[0]) {
        return reference[0].clone();
    }
    // Plain numbers, or numbers that all carry the same unit ("197 sagas/s").
    let unit = reference[0]
        .split_once(' ')
        .filter(|(number, _)| number.parse::<f64>().is_ok())
        .map_or("", |(_, unit)| unit);
    let numbers = |values: &[String]| -> Option<Vec<f64>> {
        values
            .iter()
            .map(|value| {
                let number = match unit {
                    "" => value.as_str(),
                    unit => value.strip_suffix(unit)?.strip_suffix(' ')?,
                };
                number.parse::<f64>().ok()
            })
            .collect()
    };
    let unit = if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    };
    match (numbers(reference), numbers(working)) {
        (Some(before), Some(after)) => {
            let (before, after) = (median(before), median(after));
            if before == 0.0 {
                format!("{} → {}{unit}", shown(before), shown(after))
            } else {
                format!(
                    "{} → {}{unit} ×{:.2}",
                    shown(before),
                    shown(after),
                    after / before
                )
            }
        }
        _ => "…".to_owned(),
    }
}

/// `value` to three significant digits (whole numbers above 100), without trailing zeros.
fn shown(value: f64) -> String {
    let magnitude = if value == 0.0 {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).clamp(0, 3) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ops: &str, p99: &str) -> String {
        format!(
            "# Benchmarks\n\n<!-- results:start (written by cargo xtask bench) -->\n\n\
             <!-- section:b1 -->\n### B1 commands over HTTP, closed loop\n\n\
             | command | clients | ops/s | p99 ms | CPU s |\n|---|---|---|---|---|\n\
             | register-user | 8 | {ops} | {p99} | postgres {ops} |\n\n\
             Each client sends its next command when the previous one is answered.\n\n\
             Machine: 2 cores.\n\n<!-- results:end -->\n"
        )
    }

    #[test]
    fn a_report_parses_into_its_tables() {
        let tables = parse(&report("931", "23.2"));
        assert_eq!(
            tables,
            [Table {
                id: "b1".into(),
                title: "B1 commands over HTTP, closed loop".into(),
                header: ["command", "clients", "ops/s", "p99 ms", "CPU s"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![
                    ["register-user", "8", "931", "23.2", "postgres 931"]
                        .map(String::from)
                        .to_vec()
                ],
            }]
        );
    }

    #[test]
    fn numbers_with_one_unit_are_compared_and_keep_it() {
        let cell = |reference: &[&str], working: &[&str]| {
            let owned = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
            compare_cell(&owned(reference), &owned(working))
        };
        assert_eq!(
            cell(
                &["197 sagas/s", "179 sagas/s"],
                &["220 sagas/s", "224 sagas/s"]
            ),
            "188 → 222 sagas/s ×1.18"
        );
        assert_eq!(cell(&["197 sagas/s"], &["220 events/s"]), "…");
        assert_eq!(cell(&["postgres 1.2"], &["postgres 1.5"]), "…");
    }

    #[test]
    fn each_cell_is_kept_or_compared_by_the_medians_of_the_rounds() {
        let reference = vec![parse(&report("900", "20")), parse(&report("1000", "30"))];
        let working = vec![parse(&report("1900", "10")), parse(&report("1900", "10"))];
        let text = ratios(&reference, &working, "main (abc)", 2);
        assert!(
            text.contains("| register-user | 8 | 950 → 1900 ×2.00 | 25 → 10 ×0.40 | … |"),
            "{text}"
        );
        assert!(text.contains("medians of 2 round(s)"), "{text}");
    }

    #[test]
    fn numbers_are_shown_to_three_significant_digits() {
        let cases = [
            (1314.0, "1314"),
            (0.774_999_9, "0.775"),
            (37.6, "37.6"),
            (34.349_999, "34.3"),
            (3.205, "3.21"),
            (0.08, "0.08"),
            (0.0, "0"),
        ];
        for (value, text) in cases {
            assert_eq!(shown(value), text, "{value}");
        }
    }

    #[test]
    fn tables_that_differ_between_the_sides_are_not_compared() {
        let reference = vec![parse(&report("900", "20"))];
        let mut other = parse(&report("900", "20"));
        other[0].header[2] = "commands/s".into();
        let text = ratios(&reference, &[other], "main", 1);
        assert!(text.contains("not compared"), "{text}");
        let mut short = parse(&report("900", "20"));
        short[0].rows[0].pop();
        let text = ratios(&reference, &[short], "main", 1);
        assert!(
            text.contains("not compared"),
            "a row without every cell: {text}"
        );
    }
}
