//! Every service's `--help`: what it is, how to run it, and each setting as the environment
//! variable that sets it, with its default and the doc comment of its field. The settings part
//! is derived from the settings' own defaults (serialized) and their `#[derive(SettingsDoc)]`
//! texts, so it cannot drift from the code.

use serde::Serialize;
use serde_json::Value;

/// What a service's `--help` says besides its settings.
pub struct Help<'a> {
    /// The binary, e.g. `users-command`.
    pub name: &'a str,
    /// What the service is, after its name: `the write side of …`.
    pub summary: &'a str,
    /// Prefix of its environment variables, e.g. `USERS_COMMAND`.
    pub env_prefix: &'a str,
    /// What `migrate` brings up to date, e.g. `the event store's tables`; `None` for a
    /// service without a database.
    pub migrates: Option<&'a str>,
    /// Its own endpoints, as a person would look for them (health, metrics and the API
    /// documents, which every service has, are added).
    pub endpoints: &'a str,
    /// What a stop waits for besides in-flight requests, e.g. `the relay's current batch`.
    pub stops_after: &'a str,
}

/// Column where a setting's text starts when its variable leaves room.
const TEXT_COLUMN: usize = 50;
/// Lines are wrapped before this column.
const WIDTH: usize = 100;

impl Help<'_> {
    /// The whole text: `defaults` are the service's settings as it starts without any
    /// configuration, `docs` their paths and texts (`Settings::setting_docs()`).
    pub fn render(&self, defaults: &impl Serialize, docs: &[(String, &str)]) -> String {
        let Help {
            name,
            summary,
            env_prefix: prefix,
            migrates,
            endpoints,
            stops_after,
        } = self;
        let mut text = wrap(&format!("{name}: {summary}"), WIDTH, 0);
        let migrate = match migrates {
            Some(what) => format!(
                "bring {what} up to date, then exit (0 when done; what a Kubernetes migration \
                 Job runs); without it, the service runs"
            ),
            None => "do nothing and exit 0 (there is no database), so a deployment may run it \
                     as for any service; without it, the service runs"
                .to_owned(),
        };
        text += &format!(
            "\n\n\
             Usage: {name} [--help] [--version] [migrate]\n  \
             migrate   {}\n\n\
             Settings come from the defaults below, then the TOML file named by {prefix}_CONFIG,\n\
             then environment variables {prefix}__<SECTION>__<KEY> (the variable of each setting\n\
             is shown with its default; a TOML file uses the same sections and keys in lower case):\n",
            wrap(&migrate, WIDTH, 12).trim_start()
        );
        for setting in settings(prefix, defaults, docs) {
            let assignment = format!("  {}={}", setting.variable, setting.default);
            let Some(doc) = setting.doc else {
                text += &format!("{assignment}\n");
                continue;
            };
            let doc = wrap(&doc, WIDTH, TEXT_COLUMN);
            if assignment.len() < TEXT_COLUMN - 1 {
                text += &format!("{assignment:<TEXT_COLUMN$}{}\n", doc.trim_start());
            } else {
                text += &format!("{assignment}\n{doc}\n");
            }
        }
        text += "With Kafka security on, refused credentials or a failed TLS handshake stop the start.\n\
             Every endpoint but health, metrics and the API documents wants Authorization: Bearer <JWT>.\n\
             Logs are JSON lines on stdout, filtered by RUST_LOG (default info), with trace_id and span_id.\n\
             Traces: OpenTelemetry spans go over OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_ENDPOINT when it\n\
             is set (also OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_BSP_SCHEDULE_DELAY, OTEL_TRACES_SAMPLER).\n";
        let endpoints = format!(
            "Endpoints: {endpoints}, /health/live, /health/ready, /metrics, \
             /api-docs/openapi.json, /swagger-ui/"
        );
        text += &wrap(&endpoints, WIDTH, 0);
        text += "\n";
        let stop = format!(
            "SIGTERM or SIGINT stops it after in-flight requests and {stops_after} finish."
        );
        text += &wrap(&stop, WIDTH, 0);
        text
    }
}

/// One setting as `--help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// e.g. `USERS_COMMAND__HTTP__PORT`.
    pub variable: String,
    /// The default as a variable would spell it; `(unset)` for none.
    pub default: String,
    /// Its field's doc comment; `None` when it has none.
    pub doc: Option<String>,
}

/// Every setting in `defaults`: those with a doc first, in declaration order, then any without.
pub fn settings(prefix: &str, defaults: &impl Serialize, docs: &[(String, &str)]) -> Vec<Setting> {
    let mut leaves = Vec::new();
    let value = serde_json::to_value(defaults).expect("settings serialize to JSON");
    flatten(&value, "", &mut leaves);
    let variable = |path: &str| format!("{prefix}__{}", path.replace('.', "__").to_uppercase());
    let mut listed: Vec<Setting> = docs
        .iter()
        .filter_map(|(path, doc)| {
            let index = leaves.iter().position(|(leaf, _)| leaf == path)?;
            let (path, default) = leaves.remove(index);
            Some(Setting {
                variable: variable(&path),
                default,
                doc: Some((*doc).to_owned()),
            })
        })
        .collect();
    listed.extend(leaves.into_iter().map(|(path, default)| Setting {
        variable: variable(&path),
        default,
        doc: None,
    }));
    listed
}

/// The paths in `defaults` that no doc describes: what a kit's test keeps empty.
pub fn undocumented(defaults: &impl Serialize, docs: &[(String, &str)]) -> Vec<String> {
    settings("", defaults, docs)
        .into_iter()
        .filter(|setting| setting.doc.is_none())
        .map(|setting| setting.variable)
        .collect()
}

/// `text` in lines shorter than `width`, each indented by `indent` spaces.
fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = " ".repeat(indent);
    for word in text.split_whitespace() {
        if line.len() > indent && line.len() + 1 + word.len() >= width {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
        }
        if line.len() > indent {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

fn flatten(value: &Value, path: &str, leaves: &mut Vec<(String, String)>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                flatten(field, &join(key), leaves);
            }
        }
        Value::Null => leaves.push((path.to_owned(), "(unset)".to_owned())),
        Value::String(text) if text.is_empty() => leaves.push((path.to_owned(), "\"\"".into())),
        Value::String(text) => leaves.push((path.to_owned(), text.clone())),
        other => leaves.push((path.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Section {
        port: u16,
        file: Option<String>,
        name: String,
    }

    #[derive(Serialize)]
    struct Top {
        http: Section,
        topic: String,
    }

    fn defaults() -> Top {
        Top {
            http: Section {
                port: 5001,
                file: None,
                name: String::new(),
            },
            topic: "users.events".into(),
        }
    }

    #[test]
    fn settings_follow_the_docs_order_and_name_their_variable_and_default() {
        let docs = vec![
            ("topic".to_owned(), "where events go"),
            ("http.port".to_owned(), "port to listen on"),
            ("http.file".to_owned(), "a file"),
        ];
        let listed = settings("USERS_COMMAND", &defaults(), &docs);
        let lines: Vec<(String, String, Option<String>)> = listed
            .into_iter()
            .map(|s| (s.variable, s.default, s.doc))
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    "USERS_COMMAND__TOPIC".into(),
                    "users.events".into(),
                    Some("where events go".into())
                ),
                (
                    "USERS_COMMAND__HTTP__PORT".into(),
                    "5001".into(),
                    Some("port to listen on".into())
                ),
                (
                    "USERS_COMMAND__HTTP__FILE".into(),
                    "(unset)".into(),
                    Some("a file".into())
                ),
                ("USERS_COMMAND__HTTP__NAME".into(), "\"\"".into(), None),
            ]
        );
        assert_eq!(undocumented(&defaults(), &docs), vec!["__HTTP__NAME"]);
    }

    #[test]
    fn the_text_lists_every_setting_and_what_the_service_is() {
        let help = Help {
            name: "users-command",
            summary: "the write side",
            env_prefix: "USERS_COMMAND",
            migrates: Some("the event store's tables"),
            endpoints: "/users",
            stops_after: "the relay's current batch",
        };
        let text = help.render(
            &defaults(),
            &[("http.port".to_owned(), "port to listen on")],
        );
        assert!(text.starts_with("users-command: the write side\n"));
        assert!(text.contains("USERS_COMMAND_CONFIG"));
        assert!(text.contains("  USERS_COMMAND__HTTP__PORT=5001"));
        assert!(text.contains("port to listen on\n"));
        assert!(text.contains("USERS_COMMAND__TOPIC=users.events\n"));
        assert!(text.ends_with("the relay's current batch finish."));
    }

    #[test]
    fn long_texts_wrap_below_the_width_at_their_indent() {
        let text = "word ".repeat(60);
        let wrapped = wrap(&text, 40, 8);
        assert!(wrapped.lines().count() > 1);
        for line in wrapped.lines() {
            assert!(line.len() < 40, "{line:?}");
            assert!(line.starts_with("        word"), "{line:?}");
        }
        assert_eq!(wrapped.split_whitespace().count(), 60);
    }
}
