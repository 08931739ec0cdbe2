//! The hostile-input suite: every operation of a service's own OpenAPI document, sent by a
//! caller allowed to use it, with hostile path ids, query values, headers and bodies
//! (malformed JSON, unknown fields, wrong types, huge numbers, huge strings, unicode edge
//! cases, path-traversal- and SQL-looking text). Every answer must be one the document lists
//! for the operation and never a 5xx; a 4xx must be problem+json and leave the service's data
//! exactly as it was.
//!
//! A service's test names, for every operation of its document, a concrete request that works
//! (the fixture the variants are made from) or why the operation is left out; an operation
//! without either fails the suite, so a new endpoint cannot slip past it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;
use sqlx::{PgPool, Row};

/// A valid request of one operation, which the hostile variants are derived from.
pub struct Fixture {
    /// The path with real ids, e.g. `/users/<id>/name`.
    pub path: String,
    /// A valid body, for operations that take one.
    pub body: Option<Value>,
    /// A caller allowed to use the operation.
    pub client: reqwest::Client,
}

/// What a run did, for the test's own assertions.
#[derive(Debug, Default)]
pub struct Report {
    pub operations: usize,
    pub requests: usize,
    /// Hostile requests the service accepted (valid after all, such as a SQL-looking name).
    pub accepted: usize,
    /// Statuses seen, with how often.
    pub statuses: BTreeMap<u16, usize>,
}

/// The suite for one service.
pub struct Suite {
    base: String,
    fixtures: BTreeMap<String, Fixture>,
    skipped: BTreeMap<String, &'static str>,
}

/// One operation of the document.
struct Operation {
    key: String,
    has_body: bool,
    path_params: usize,
    query: Vec<String>,
    headers: Vec<String>,
    documented: BTreeSet<u16>,
}

/// One request to send and what it is.
struct Variant {
    what: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

enum Body {
    None,
    Json(String),
    Typed(&'static str, String),
}

impl Suite {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            fixtures: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// The fixture of operation `key` (`"POST /users/{id}/name"`, as in the document).
    pub fn operation(
        mut self,
        key: &str,
        client: &reqwest::Client,
        path: impl Into<String>,
        body: Option<Value>,
    ) -> Self {
        let fixture = Fixture {
            path: path.into(),
            body,
            client: client.clone(),
        };
        assert!(
            self.fixtures.insert(key.to_owned(), fixture).is_none(),
            "{key} twice"
        );
        self
    }

    /// Fixtures for the operator routes every read service shares (query-kit's `/admin`):
    /// the projection's status, the parked-event list, show, retry and skip of an id that is
    /// not parked, and with `rebuild` the rebuild's progress (starting one writes by design
    /// and is tested on its own).
    pub fn admin_operations(self, client: &reqwest::Client, rebuild: bool) -> Self {
        let suite = self
            .operation("GET /admin/projection", client, "/admin/projection", None)
            .operation("GET /admin/parked", client, "/admin/parked", None)
            .operation("GET /admin/parked/{id}", client, "/admin/parked/1", None)
            .operation(
                "POST /admin/parked/{id}/retry",
                client,
                "/admin/parked/1/retry",
                None,
            )
            .operation(
                "POST /admin/parked/{id}/skip",
                client,
                "/admin/parked/1/skip",
                Some(serde_json::json!({ "reason": "a hostile test" })),
            );
        if rebuild {
            suite
                .operation("GET /admin/rebuild", client, "/admin/rebuild", None)
                .skip(
                    "POST /admin/rebuild",
                    "starts a rebuild, which writes by design (see the rebuild tests)",
                )
        } else {
            suite
        }
    }

    /// Leaves operation `key` out, saying why.
    pub fn skip(mut self, key: &str, why: &'static str) -> Self {
        self.skipped.insert(key.to_owned(), why);
        self
    }

    /// Sends every variant of every operation; `snapshot` digests the service's data (see
    /// [`database_digest`]) and must not change across a refused request.
    pub async fn run<S, F>(self, snapshot: S) -> Report
    where
        S: Fn() -> F,
        F: Future<Output = String>,
    {
        let operations = self.operations().await;
        let mut report = Report::default();
        let mut before = snapshot().await;
        for operation in &operations {
            if self.skipped.contains_key(&operation.key) {
                continue;
            }
            let fixture = self.fixtures.get(&operation.key).unwrap_or_else(|| {
                panic!(
                    "{} is in the document but has no fixture or reason to skip",
                    operation.key
                )
            });
            report.operations += 1;
            for variant in variants(operation, fixture) {
                let status = self.send(operation, fixture, &variant).await;
                report.requests += 1;
                *report.statuses.entry(status).or_default() += 1;
                let after = snapshot().await;
                if (200..300).contains(&status) {
                    report.accepted += 1;
                } else {
                    assert_eq!(
                        before, after,
                        "{} {}: refused with {status} but the data changed",
                        operation.key, variant.what
                    );
                }
                before = after;
            }
        }
        for key in self.fixtures.keys().chain(self.skipped.keys()) {
            assert!(
                operations.iter().any(|operation| &operation.key == key),
                "{key} is not in the document"
            );
        }
        report
    }

    async fn operations(&self) -> Vec<Operation> {
        let document = crate::service::openapi_document(&self.base).await;
        let mut operations = Vec::new();
        for (template, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                let parameters = operation["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let named = |place: &str| -> Vec<String> {
                    parameters
                        .iter()
                        .filter(|p| p["in"] == place)
                        .map(|p| p["name"].as_str().expect("a name").to_owned())
                        .collect()
                };
                operations.push(Operation {
                    key: format!("{} {template}", method.to_uppercase()),
                    has_body: operation.get("requestBody").is_some(),
                    path_params: named("path").len(),
                    query: named("query"),
                    headers: named("header"),
                    documented: operation["responses"]
                        .as_object()
                        .expect("responses")
                        .keys()
                        .map(|status| status.parse().expect("a numeric status"))
                        .collect(),
                });
            }
        }
        operations
    }

    /// Sends one variant and checks the answer; returns its status.
    async fn send(&self, operation: &Operation, fixture: &Fixture, variant: &Variant) -> u16 {
        let method: Method = operation.key.split(' ').next().unwrap().parse().unwrap();
        let mut request = fixture
            .client
            .request(method, format!("{}{}", self.base, variant.path))
            .query(&variant.query);
        for (name, value) in &variant.headers {
            request = request.header(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        request = match &variant.body {
            Body::None => request,
            Body::Json(text) => request
                .header("content-type", "application/json")
                .body(text.clone()),
            Body::Typed(content_type, text) => request
                .header("content-type", *content_type)
                .body(text.clone()),
        };
        let context = format!("{} {}", operation.key, variant.what);
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{context}: no answer: {error}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(300).collect();
        assert!(status < 500, "{context}: {status} {excerpt}");
        assert!(
            operation.documented.contains(&status),
            "{context}: {status} is not among the documented {:?}: {excerpt}",
            operation.documented
        );
        if status >= 400 {
            assert_eq!(
                content_type, "application/problem+json",
                "{context}: {status} {excerpt}"
            );
            let problem: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{context}: a problem document: {excerpt}"));
            assert_eq!(problem["status"], status, "{context}: {excerpt}");
            assert!(
                problem["type"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("/problems/")),
                "{context}: {excerpt}"
            );
        } else if !text.is_empty() {
            assert!(
                serde_json::from_str::<Value>(&text).is_ok(),
                "{context}: {status} with a body that is not JSON: {excerpt}"
            );
        }
        status
    }
}

/// Hostile text, each with a name for the failure message.
fn strings() -> Vec<(&'static str, String)> {
    vec![
        ("empty string", String::new()),
        ("blank string", "   ".into()),
        ("sql", "x' OR '1'='1'; DROP TABLE events; --".into()),
        ("path traversal", "../../../../etc/passwd".into()),
        ("nul", "a\u{0}b".into()),
        ("control characters", "\u{1b}[31m\r\n\t\u{7f}".into()),
        ("right-to-left override", "\u{202e}gnp.exe".into()),
        ("zero-width", "\u{200b}\u{200d}\u{feff}".into()),
        ("combining marks", format!("e{}", "\u{301}".repeat(300))),
        ("emoji", "👩‍👩‍👧‍👦🏳️‍🌈".into()),
        ("astral plane", "𝕏𐐷𠜎".into()),
        ("markup", "<script>alert(1)</script>".into()),
        (
            "format strings",
            "%s%n%x{0}${jndi:ldap://127.0.0.1/a}".into(),
        ),
        ("long", "é".repeat(5_000)),
        ("huge", "x".repeat(60_000)),
    ]
}

/// Placeholder for JSON that `Value` cannot hold (huge numbers, lone surrogates).
const RAW: &str = "\u{1}raw\u{1}";

/// Hostile JSON values for a body field: every wrong type, edge numbers, hostile strings.
fn values() -> Vec<(String, Value, Option<&'static str>)> {
    let mut values: Vec<(String, Value, Option<&'static str>)> = vec![
        ("null".into(), Value::Null, None),
        ("true".into(), Value::Bool(true), None),
        ("zero".into(), 0.into(), None),
        ("minus one".into(), (-1).into(), None),
        ("fraction".into(), 1.5.into(), None),
        ("i64 max".into(), i64::MAX.into(), None),
        ("i64 min".into(), i64::MIN.into(), None),
        ("u64 max".into(), u64::MAX.into(), None),
        ("empty array".into(), Value::Array(vec![]), None),
        ("array".into(), serde_json::json!([1, "a", null]), None),
        ("object".into(), serde_json::json!({"$gt": ""}), None),
        ("1e400".into(), RAW.into(), Some("1e400")),
        ("2^64".into(), RAW.into(), Some("18446744073709551616")),
        ("below i64".into(), RAW.into(), Some("-9223372036854775809")),
        ("tiny".into(), RAW.into(), Some("1e-400")),
        ("negative zero".into(), RAW.into(), Some("-0")),
        ("lone surrogate".into(), RAW.into(), Some("\"\\ud800\"")),
    ];
    values.extend(
        strings()
            .into_iter()
            .map(|(what, text)| (what.to_owned(), Value::String(text), None)),
    );
    values
}

fn to_json(body: &Value, raw: Option<&str>) -> String {
    let text = body.to_string();
    match raw {
        Some(raw) => text.replace(&Value::String(RAW.into()).to_string(), raw),
        None => text,
    }
}

/// JSON pointers to every field of `body`, nested objects and the first item of arrays too.
fn fields(body: &Value, at: &str, into: &mut Vec<String>) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                let pointer = format!("{at}/{key}");
                into.push(pointer.clone());
                fields(value, &pointer, into);
            }
        }
        Value::Array(items) => {
            if let Some(first) = items.first() {
                let pointer = format!("{at}/0");
                into.push(pointer.clone());
                fields(first, &pointer, into);
            }
        }
        _ => {}
    }
}

/// Hostile ids for a path segment (already percent-encoded where needed).
fn path_ids() -> Vec<(&'static str, String)> {
    vec![
        ("traversal id", "..%2F..%2Fetc%2Fpasswd".into()),
        ("sql id", "1%27%20OR%20%271%27%3D%271".into()),
        ("statement id", "1%3B%20DROP%20TABLE%20events".into()),
        ("nul id", "%00".into()),
        ("rtl id", "%E2%80%AE".into()),
        ("emoji id", "%F0%9F%92%A5".into()),
        ("invalid utf-8 id", "%FF%FE".into()),
        ("long id", "a".repeat(4_000)),
        ("negative id", "-1".into()),
        ("huge number id", "99999999999999999999999999".into()),
        ("exponent id", "1e400".into()),
        ("nil uuid", "00000000-0000-0000-0000-000000000000".into()),
        (
            "braced uuid",
            "%7B0190d5a8-0000-7000-8000-000000000000%7D".into(),
        ),
        ("template id", "%7Bid%7D".into()),
    ]
}

/// Hostile values for a query parameter.
fn query_values() -> Vec<(String, String)> {
    let mut values: Vec<(String, String)> = [
        "-1",
        "0",
        "1.5",
        "1e400",
        "99999999999999999999",
        "NaN",
        "Infinity",
        "true",
        "[]",
        "{}",
    ]
    .into_iter()
    .map(|value| (format!("{value:?}"), value.to_owned()))
    .collect();
    values.extend(
        strings()
            .into_iter()
            .filter(|(what, _)| *what != "huge")
            .map(|(what, text)| (what.to_owned(), text)),
    );
    values
}

/// Hostile values for the documented headers.
fn header_values(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut values: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("long".into(), "k".repeat(4_000).into_bytes()),
        ("sql".into(), b"x' OR '1'='1".to_vec()),
        ("traversal".into(), b"../../etc/passwd".to_vec()),
        ("latin-1 bytes".into(), vec![b'k', 0xe9, 0xff]),
        ("negative".into(), b"-1".to_vec()),
        ("huge number".into(), b"99999999999999999999".to_vec()),
        ("list".into(), b"1, 2".to_vec()),
        ("wildcard".into(), b"*".to_vec()),
        ("weak tag".into(), b"W/\"1\"".to_vec()),
    ];
    for (what, _) in &mut values {
        *what = format!("{name} header {what}");
    }
    values
}

fn variants(operation: &Operation, fixture: &Fixture) -> Vec<Variant> {
    let body = || match &fixture.body {
        Some(body) => Body::Json(body.to_string()),
        None => Body::None,
    };
    let base = |what: String| Variant {
        what,
        path: fixture.path.clone(),
        query: Vec::new(),
        headers: Vec::new(),
        body: body(),
    };
    let mut variants = Vec::new();

    // Each path parameter in turn (the fixture's path has the document's shape).
    let template = operation.key.split_once(' ').unwrap().1;
    let segments: Vec<&str> = template.split('/').collect();
    let concrete: Vec<&str> = fixture.path.split('/').collect();
    assert_eq!(
        segments.len(),
        concrete.len(),
        "{}: the fixture path {} does not fit the template",
        operation.key,
        fixture.path
    );
    let parameters: Vec<usize> = (0..segments.len())
        .filter(|&i| segments[i].starts_with('{'))
        .collect();
    assert_eq!(parameters.len(), operation.path_params, "{}", operation.key);
    for &position in &parameters {
        for (what, id) in path_ids() {
            let mut path = concrete.clone();
            path[position] = &id;
            variants.push(Variant {
                path: path.join("/"),
                ..base(format!("{what} as {}", segments[position]))
            });
        }
    }

    for name in &operation.query {
        for (what, value) in query_values() {
            variants.push(Variant {
                query: vec![(name.clone(), value)],
                ..base(format!("query {name}={what}"))
            });
        }
        variants.push(Variant {
            query: vec![(name.clone(), "1".into()), (name.clone(), "2".into())],
            ..base(format!("query {name} twice"))
        });
    }
    if !operation.query.is_empty() {
        variants.push(Variant {
            query: vec![("no_such_parameter".into(), "1".into())],
            ..base("an unknown query parameter".into())
        });
    }

    for name in &operation.headers {
        for (what, value) in header_values(name) {
            variants.push(Variant {
                headers: vec![(name.clone(), value)],
                ..base(what)
            });
        }
    }

    if operation.has_body {
        let valid = fixture
            .body
            .clone()
            .unwrap_or_else(|| panic!("{}: the fixture needs a body", operation.key));
        let raw = |what: &str, text: String| Variant {
            body: Body::Json(text),
            ..base(what.to_owned())
        };
        variants.extend([
            raw("no body", String::new()),
            raw("truncated JSON", "{".into()),
            raw("trailing comma", r#"{"a": 1,}"#.into()),
            raw("single quotes", "{'a': 1}".into()),
            raw("JSON null", "null".into()),
            raw("JSON array", "[]".into()),
            raw("JSON string", "\"text\"".into()),
            raw("byte order mark", format!("\u{feff}{valid}")),
            raw("deep nesting", "[".repeat(10_000)),
            raw(
                "body over the limit",
                format!("\"{}\"", "x".repeat(200_000)),
            ),
        ]);
        if let Value::Object(map) = &valid {
            let mut unknown = map.clone();
            unknown.insert("__proto__".into(), serde_json::json!({"admin": true}));
            variants.push(raw("an unknown field", Value::Object(unknown).to_string()));
            if let Some((key, value)) = map.iter().next() {
                let text = valid.to_string();
                let duplicated =
                    format!("{{{}:{},{}", Value::String(key.clone()), value, &text[1..]);
                variants.push(raw("a duplicated field", duplicated));
            }
        }
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
        ] {
            variants.push(Variant {
                body: Body::Typed(content_type, valid.to_string()),
                ..base(format!("content type {content_type}"))
            });
        }
        let mut pointers = Vec::new();
        fields(&valid, "", &mut pointers);
        for pointer in pointers {
            for (what, value, raw_text) in values() {
                let mut body = valid.clone();
                *body.pointer_mut(&pointer).expect("a field") = value;
                variants.push(Variant {
                    body: Body::Json(to_json(&body, raw_text)),
                    ..base(format!("{pointer} = {what}"))
                });
            }
            let mut without = valid.clone();
            remove(&mut without, &pointer);
            variants.push(Variant {
                body: Body::Json(without.to_string()),
                ..base(format!("{pointer} missing"))
            });
        }
    } else if fixture.body.is_some() {
        panic!("{}: a body for an operation that takes none", operation.key);
    }
    variants
}

fn remove(body: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    match body.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        Some(Value::Array(items)) => {
            items.remove(last.parse::<usize>().expect("an index"));
        }
        _ => {}
    }
}

/// A digest of every row of every table in `pool`'s database but `ignore` (tables a
/// background task changes on its own, such as the outbox under a running relay): equal
/// digests mean nothing was written.
pub async fn database_digest(pool: &PgPool, ignore: &[&str]) -> String {
    let tables = sqlx::query(
        "SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_type = 'BASE TABLE'
            AND table_schema NOT IN ('pg_catalog', 'information_schema')
          ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .expect("tables listed");
    let mut digest = String::new();
    for table in tables {
        let (schema, name): (String, String) = (table.get(0), table.get(1));
        if ignore.contains(&name.as_str()) {
            continue;
        }
        let row = sqlx::query(&format!(
            r#"SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '')
                 FROM "{schema}"."{name}" t"#
        ))
        .fetch_one(pool)
        .await
        .expect("table digested");
        digest.push_str(&format!("{schema}.{name}={}\n", row.get::<String, _>(0)));
    }
    digest
}
