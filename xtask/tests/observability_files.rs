//! The monitoring files under deploy/ work and agree with the code: Prometheus's configuration
//! and alert rules pass `promtool check` and their unit tests (`promtool test rules`), every
//! alert is tested and has a runbook, and every metric name an alert or a Grafana dashboard
//! asks for is one the services export. `cargo xtask test` installs promtool (Debian's
//! `prometheus` package) when it is missing.

mod common;

use common::{read, root};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml_ng::Value;

const PROMETHEUS: &str = "deploy/prometheus/prometheus.yml";
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
const DASHBOARDS: &str = "deploy/grafana/dashboards";
const DATASOURCES: &str = "deploy/grafana/provisioning/datasources/datasources.yaml";
const RUNBOOKS: &str = "docs/observability.md";
/// Where the services' metrics are recorded (`counter!("name"`, …).
const SOURCES: &[&str] = &[
    "crates",
    "users-command/src",
    "users-query/src",
    "orders-command/src",
    "orders-query/src",
    "saga-orchestrator/src",
    "gateway/src",
];

fn yaml(relative: &str) -> Value {
    serde_yaml_ng::from_str(&read(relative))
        .unwrap_or_else(|error| panic!("{relative} is not YAML: {error}"))
}

fn promtool(args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "running promtool: {error}. `cargo xtask test` installs it (apt-get install \
                 prometheus); or install it yourself"
            )
        });
    assert!(
        output.status.success(),
        "promtool {}:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_accepts_the_configuration_and_the_rules() {
    promtool(&["check", "config", PROMETHEUS]);
    promtool(&["check", "rules", ALERTS]);
}

#[test]
fn the_alert_rules_pass_their_unit_tests() {
    promtool(&["test", "rules", ALERT_TESTS]);
}

/// Every alerting rule of alerts.yml: name → (expression, annotations).
fn alerts() -> BTreeMap<String, (String, Value)> {
    let mut alerts = BTreeMap::new();
    let rules = yaml(ALERTS);
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            if let Some(name) = rule["alert"].as_str() {
                let expr = rule["expr"].as_str().expect("expr").to_owned();
                let previous = alerts.insert(name.to_owned(), (expr, rule["annotations"].clone()));
                assert!(previous.is_none(), "alert {name} is defined twice");
            }
        }
    }
    alerts
}

#[test]
fn every_alert_is_tested_firing_and_has_a_runbook_and_a_severity() {
    let alerts = alerts();
    for required in [
        "OutboxRowsNotPublished",
        "ProjectionLagging",
        "ParkedEvents",
        "SagasTimingOut",
        "HighErrorRate",
        "CircuitBreakerOpen",
    ] {
        assert!(alerts.contains_key(required), "no alert {required}");
    }
    let tests = yaml(ALERT_TESTS);
    let mut fired = BTreeSet::new();
    for case in tests["tests"].as_sequence().expect("tests") {
        for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
            let firing = check["exp_alerts"]
                .as_sequence()
                .is_some_and(|alerts| !alerts.is_empty());
            if firing {
                fired.insert(check["alertname"].as_str().expect("alertname").to_owned());
            }
        }
    }
    let runbooks = read(RUNBOOKS).to_lowercase();
    for (name, (_, annotations)) in &alerts {
        assert!(
            fired.contains(name),
            "{ALERT_TESTS} never expects {name} to fire"
        );
        let runbook = annotations["runbook_url"].as_str().unwrap_or_default();
        let anchor = format!("{RUNBOOKS}#{}", name.to_lowercase());
        assert_eq!(runbook, anchor, "{name}'s runbook_url");
        assert!(
            runbooks.contains(&format!("\n### {}\n", name.to_lowercase())),
            "{RUNBOOKS} has no section '### {name}' for the runbook link"
        );
        for field in ["summary", "description"] {
            assert!(
                annotations[field]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "{name} has no {field}"
            );
        }
    }
}

/// Metric families the services record, from the `counter!`/`gauge!`/`histogram!` calls in
/// their sources; a histogram also answers to its `_bucket`, `_sum` and `_count` series.
fn exported_families() -> BTreeSet<String> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for source in SOURCES {
        walk(&root().join(source), &mut files);
    }
    let mut families = BTreeSet::from(["up".to_owned()]);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for kind in ["counter!(", "gauge!(", "histogram!("] {
            for (at, _) in text.match_indices(kind) {
                let rest = text[at + kind.len()..].trim_start();
                let Some(name) = rest
                    .strip_prefix('"')
                    .and_then(|rest| rest.split('"').next())
                else {
                    continue;
                };
                families.insert(name.to_owned());
                if kind == "histogram!(" {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        families.insert(format!("{name}{suffix}"));
                    }
                }
            }
        }
    }
    assert!(
        families.len() > 30,
        "found only {families:?}: has the metrics macro changed?"
    );
    families
}

/// The metric names a PromQL expression selects: label matchers, strings, ranges and
/// grouping clauses removed, what remains are functions (followed by `(`), keywords and
/// metric names.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut cleaned = String::new();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    let mut in_string: Option<char> = None;
    for character in expr.chars() {
        if let Some(quote) = in_string {
            if character == quote {
                in_string = None;
            }
            continue;
        }
        match character {
            '"' | '\'' | '`' => in_string = Some(character),
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => depth_brackets += 1,
            ']' => depth_brackets -= 1,
            _ if depth_braces > 0 || depth_brackets > 0 => {}
            _ => cleaned.push(character),
        }
        if matches!(character, '{' | '}' | '[' | ']') {
            cleaned.push(' ');
        }
    }
    // `by (job, le)`, `on (job)`, `without (…)`, `ignoring (…)`, `group_left (…)`.
    let mut names = BTreeSet::new();
    let tokens: Vec<(String, char)> = {
        let mut tokens = Vec::new();
        let mut current = String::new();
        let characters: Vec<char> = cleaned.chars().collect();
        for (index, &character) in characters.iter().enumerate() {
            if character.is_ascii_alphanumeric() || character == '_' || character == '$' {
                current.push(character);
            } else if !current.is_empty() {
                let next = characters[index..]
                    .iter()
                    .copied()
                    .find(|c| !c.is_whitespace())
                    .unwrap_or(' ');
                tokens.push((std::mem::take(&mut current), next));
            }
        }
        if !current.is_empty() {
            tokens.push((current, ' '));
        }
        tokens
    };
    let mut skip_group = false;
    let mut in_group = false;
    for (token, next) in &tokens {
        if in_group {
            if *next == ')' {
                in_group = false;
            }
            continue;
        }
        if skip_group {
            skip_group = false;
            in_group = *next != ')';
            // The token itself is the first label of the group.
            continue;
        }
        let keyword = matches!(
            token.as_str(),
            "by" | "on" | "without" | "ignoring" | "group_left" | "group_right"
        );
        if keyword {
            // The labels that follow, up to the closing parenthesis.
            skip_group = *next == '(';
            continue;
        }
        let is_function = *next == '(';
        let is_number = token.chars().next().is_some_and(|c| c.is_ascii_digit());
        let is_variable = token.starts_with('$');
        // Aggregations may put `by (…)` before their parenthesis: `sum by (job) (…)`.
        let other_keyword = matches!(
            token.as_str(),
            "and"
                | "or"
                | "unless"
                | "bool"
                | "offset"
                | "Inf"
                | "NaN"
                | "inf"
                | "sum"
                | "min"
                | "max"
                | "avg"
                | "count"
                | "group"
                | "stddev"
                | "stdvar"
                | "topk"
                | "bottomk"
                | "quantile"
                | "count_values"
        );
        if !(is_function || is_number || is_variable || other_keyword) {
            names.insert(token.clone());
        }
    }
    names
}

#[test]
fn the_metric_name_parser_finds_names_and_nothing_else() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{route=~"/a|b"}[$__rate_interval]))) > 5
           and on (job) max(db_pool_connections{state="in_use"}) / max by (job) (db_pool_max_connections) >= 0.9"#,
    );
    let expected: BTreeSet<String> = [
        "http_request_duration_seconds_bucket",
        "db_pool_connections",
        "db_pool_max_connections",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(names, expected);
}

/// Every PromQL expression of every dashboard: (dashboard file, panel title, expression).
fn dashboard_queries() -> Vec<(String, String, String)> {
    let mut queries = Vec::new();
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    queries.push((file.clone(), title.clone(), expr.to_owned()));
                }
            }
        }
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let query = match &variable["query"] {
                Json::String(query) => Some(query.clone()),
                Json::Object(query) => query["query"].as_str().map(str::to_owned),
                _ => None,
            };
            // label_values(<selector>, <label>): the selector names metrics, the label does not.
            let selector = query.as_deref().and_then(|query| {
                let inner = query
                    .trim()
                    .strip_prefix("label_values(")?
                    .strip_suffix(')')?;
                Some(
                    inner
                        .rsplit_once(',')
                        .map_or(inner, |(selector, _)| selector)
                        .to_owned(),
                )
            });
            if let Some(selector) = selector {
                queries.push((file.clone(), "(variable)".to_owned(), selector));
            }
        }
    }
    queries
}

fn dashboards() -> Vec<(String, Json)> {
    let dir = root().join(DASHBOARDS);
    let mut dashboards = Vec::new();
    for entry in std::fs::read_dir(&dir)
        .expect("the dashboards directory")
        .flatten()
    {
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let json: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|error| panic!("{name} is not JSON: {error}"));
            dashboards.push((name, json));
        }
    }
    dashboards.sort_by(|a, b| a.0.cmp(&b.0));
    dashboards
}

/// Panels, rows' nested panels included.
fn panels(dashboard: &Json) -> Vec<&Json> {
    let mut found = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        found.push(panel);
        for inner in panel["panels"].as_array().into_iter().flatten() {
            found.push(inner);
        }
    }
    found
}

#[test]
fn alerts_and_dashboards_ask_only_for_metrics_the_services_export() {
    let exported = exported_families();
    let mut unknown = Vec::new();
    for (name, (expr, _)) in alerts() {
        for metric in metric_names(&expr) {
            if !exported.contains(&metric) {
                unknown.push(format!("{metric} (alert {name})"));
            }
        }
    }
    let queries = dashboard_queries();
    assert!(
        queries.len() > 30,
        "the dashboards hold only {} queries",
        queries.len()
    );
    for (file, title, expr) in queries {
        for metric in metric_names(&expr) {
            if !exported.contains(&metric) {
                unknown.push(format!("{metric} ({file}: {title})"));
            }
        }
    }
    assert!(unknown.is_empty(), "no service exports these: {unknown:#?}");
}

#[test]
fn the_dashboards_are_provisioned_with_unique_ids_and_known_data_sources() {
    let datasources = yaml(DATASOURCES);
    let known: BTreeSet<String> = datasources["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .filter_map(|source| source["uid"].as_str().map(str::to_owned))
        .collect();
    for wanted in ["prometheus", "loki", "jaeger"] {
        assert!(
            known.contains(wanted),
            "no {wanted} data source in {DATASOURCES}"
        );
    }
    let dashboards = dashboards();
    let titles: Vec<String> = dashboards
        .iter()
        .map(|(_, dashboard)| {
            dashboard["title"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    for topic in ["red", "outbox", "projection", "saga", "business"] {
        assert!(
            titles.iter().any(|title| title.contains(topic)),
            "no dashboard about {topic}: {titles:?}"
        );
    }
    let mut uids = BTreeSet::new();
    for (file, dashboard) in &dashboards {
        let uid = dashboard["uid"].as_str().expect("a uid");
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} used twice");
        let mut ids = BTreeSet::new();
        let mut areas: Vec<(String, [i64; 4])> = Vec::new();
        for panel in panels(dashboard) {
            let title = panel["title"].as_str().unwrap_or("?");
            if panel["type"] != "row" {
                assert!(
                    panel["description"]
                        .as_str()
                        .is_some_and(|text| !text.is_empty()),
                    "{file}: panel {title} has no description"
                );
            }
            if let Some(id) = panel["id"].as_i64() {
                assert!(ids.insert(id), "{file}: panel id {id} used twice");
            }
            let grid = &panel["gridPos"];
            let area = ["x", "y", "w", "h"].map(|key| grid[key].as_i64().unwrap_or(-1));
            assert!(
                area.iter().all(|value| *value >= 0) && area[0] + area[2] <= 24,
                "{file}: panel {title} has a bad gridPos {grid}"
            );
            for (other, placed) in &areas {
                let apart = area[0] + area[2] <= placed[0]
                    || placed[0] + placed[2] <= area[0]
                    || area[1] + area[3] <= placed[1]
                    || placed[1] + placed[3] <= area[1];
                assert!(apart, "{file}: panels {title} and {other} overlap");
            }
            areas.push((title.to_owned(), area));
            for target in panel["targets"].as_array().into_iter().flatten() {
                let source = target["datasource"]["uid"]
                    .as_str()
                    .or_else(|| panel["datasource"]["uid"].as_str())
                    .unwrap_or_default();
                assert!(
                    known.contains(source) || source.starts_with("${"),
                    "{file}: panel {title} asks data source {source:?}"
                );
            }
        }
        assert!(!areas.is_empty(), "{file} has no panels");
    }
}
