//! What esctl asks the running services over HTTP: the projections' status, rebuilds and
//! parked events (every query service's `/admin`), and the sagas (`/sagas`). The services do
//! the work; esctl only calls them, with the operator's bearer token.

use std::time::Duration;

use serde_json::{Value, json};

use crate::failure::Failure;
use crate::output;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a running rebuild is asked for its progress.
const POLL: Duration = Duration::from_millis(250);

/// A projection, named after the read model it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Projection {
    /// The Users read model (users-query).
    Users,
    /// The Orders read model (orders-query).
    Orders,
    /// The saga log (saga-orchestrator); it is never rebuilt.
    Sagas,
}

impl Projection {
    pub const ALL: [Self; 3] = [Self::Users, Self::Orders, Self::Sagas];

    pub fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Orders => "orders",
            Self::Sagas => "sagas",
        }
    }

    pub fn service(self) -> &'static str {
        match self {
            Self::Users => "users-query",
            Self::Orders => "orders-query",
            Self::Sagas => "saga-orchestrator",
        }
    }
}

/// Where the services are and how esctl identifies itself to them.
pub struct Services {
    client: reqwest::Client,
    token: Option<String>,
    users_query: String,
    orders_query: String,
    saga: String,
}

impl Services {
    pub fn new(
        token: Option<String>,
        users_query: &str,
        orders_query: &str,
        saga: &str,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        let base = |url: &str| url.trim_end_matches('/').to_owned();
        Ok(Self {
            client,
            token: token.filter(|token| !token.trim().is_empty()),
            users_query: base(users_query),
            orders_query: base(orders_query),
            saga: base(saga),
        })
    }

    fn base(&self, projection: Projection) -> &str {
        match projection {
            Projection::Users => &self.users_query,
            Projection::Orders => &self.orders_query,
            Projection::Sagas => &self.saga,
        }
    }

    /// Sends `method path` (with a JSON `body`) to `service` at `base`; the answer's JSON,
    /// or a one-line failure saying what the service refused and why.
    async fn call(
        &self,
        service: &str,
        base: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{base}{path}");
        let mut request = self.client.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.trim());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            Failure::unreachable(format!(
                "cannot reach {service} at {base}: {}",
                output::causes(&error)
            ))
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|error| {
            Failure::unreachable(format!(
                "{service} at {base} broke off its answer to {path}: {}",
                output::causes(&error)
            ))
        })?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            if answer.is_null() {
                anyhow::bail!(
                    "{service} answered {status} to {path} without JSON: {}",
                    output::cut(text.trim(), 200)
                );
            }
            return Ok(answer);
        }
        let mut why = match (answer["title"].as_str(), answer["detail"].as_str()) {
            (Some(title), Some(detail)) => format!("{title}: {detail}"),
            (Some(title), None) => title.to_owned(),
            _ => output::cut(text.trim(), 200),
        };
        if let Some(errors) = answer["errors"].as_array() {
            let fields: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            why.push_str(&format!(" ({})", fields.join("; ")));
        }
        let message = format!("{service} answered {status} to {path}: {why}");
        Err(match status.as_u16() {
            401 if self.token.is_none() => Failure::unauthorized(format!(
                "{message} (give an admin token with --token or ESCTL_TOKEN; locally: \
                 cargo xtask token --sub ops --role admin)"
            ))
            .into(),
            401 | 403 => {
                Failure::unauthorized(format!("{message} (an admin token is needed)")).into()
            }
            404 => Failure::not_found(message).into(),
            409 => Failure::conflict(message).into(),
            // The service is up but cannot serve (its database or broker is down).
            503 => Failure::unreachable(message).into(),
            _ => anyhow::anyhow!(message),
        })
    }

    async fn admin(
        &self,
        projection: Projection,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.call(
            projection.service(),
            self.base(projection),
            method,
            path,
            body,
        )
        .await
    }

    async fn sagas_get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(
            Projection::Sagas.service(),
            &self.saga,
            reqwest::Method::GET,
            path,
            None,
        )
        .await
    }
}

/// `esctl projections status`: every projection against its event store. A service that
/// cannot be reached is reported and makes the exit code 4, after the others are shown.
pub async fn projections_status(services: &Services, as_json: bool) -> anyhow::Result<()> {
    let answers = futures::future::join_all(Projection::ALL.map(|projection| async move {
        let status = services
            .admin(projection, reqwest::Method::GET, "/admin/projection", None)
            .await;
        (projection, status)
    }))
    .await;
    let mut reports = Vec::new();
    let mut failure = None;
    for (projection, status) in answers {
        match status {
            Ok(mut status) => {
                status["name"] = projection.name().into();
                status["service"] = projection.service().into();
                reports.push(status);
            }
            Err(error) => {
                eprintln!("esctl: {}: {error:#}", projection.name());
                failure.get_or_insert(error);
            }
        }
    }
    if as_json {
        output::json(&Value::Array(reports));
    } else {
        let rows: Vec<Vec<String>> = reports
            .iter()
            .map(|status| {
                let lag_seconds = status["lag_seconds"].as_f64().unwrap_or_default();
                let rebuild = &status["rebuild"];
                let rebuild = match rebuild["state"].as_str() {
                    Some("running") => format!(
                        "running {}/{} ({})",
                        rebuild["applied"],
                        rebuild["total"],
                        rebuild["phase"].as_str().unwrap_or("starting")
                    ),
                    Some(state) => state.to_owned(),
                    None => "-".to_owned(),
                };
                vec![
                    status["name"].as_str().unwrap_or_default().to_owned(),
                    status["service"].as_str().unwrap_or_default().to_owned(),
                    status["applied_events"].to_string(),
                    status["stored_events"].to_string(),
                    status["lag_events"].to_string(),
                    format!("{lag_seconds:.1}"),
                    status["parked"].to_string(),
                    status["pending"].to_string(),
                    rebuild,
                ]
            })
            .collect();
        output::table(
            &[
                "PROJECTION",
                "SERVICE",
                "APPLIED",
                "STORED",
                "LAG",
                "LAG S",
                "PARKED",
                "PENDING",
                "REBUILD",
            ],
            &rows,
        );
        // The instance that answered may hold no partition while its group lags.
        for status in &reports {
            if let Some(warning) = status["consumer"]["warning"].as_str() {
                eprintln!(
                    "esctl: warning: {} ({}): {warning}",
                    status["name"].as_str().unwrap_or_default(),
                    status["service"].as_str().unwrap_or_default()
                );
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// `esctl projections rebuild`: starts the zero-downtime rebuild (or follows the one already
/// running) and shows its progress until it ends.
pub async fn rebuild(
    services: &Services,
    projection: Projection,
    as_json: bool,
) -> anyhow::Result<()> {
    if projection == Projection::Sagas {
        return Err(Failure::usage(
            "the saga log cannot be rebuilt: the saga driver writes it too, so the events alone \
             do not give it back",
        )
        .into());
    }
    let post = reqwest::Method::POST;
    match services
        .admin(projection, post, "/admin/rebuild", None)
        .await
    {
        Ok(_) => {}
        Err(error)
            if error
                .downcast_ref::<Failure>()
                .is_some_and(Failure::is_conflict) =>
        {
            eprintln!(
                "a rebuild of {} is already running; following it",
                projection.name()
            );
        }
        Err(error) => return Err(error),
    }
    let mut progress: Option<output::Progress> = None;
    loop {
        let status = services
            .admin(projection, reqwest::Method::GET, "/admin/rebuild", None)
            .await?;
        let (applied, total) = (
            status["applied"].as_u64().unwrap_or(0),
            status["total"].as_u64().unwrap_or(0),
        );
        if total > 0 {
            progress
                .get_or_insert_with(|| output::Progress::new("rebuilt", total))
                .update(applied);
        }
        match status["state"].as_str() {
            Some("running") => tokio::time::sleep(POLL).await,
            Some("succeeded") => {
                if let Some(progress) = &mut progress {
                    progress.finish(applied);
                }
                if as_json {
                    output::json(&status);
                } else {
                    println!(
                        "rebuilt {}: {applied} events replayed, switched to the new read model",
                        projection.name()
                    );
                }
                return Ok(());
            }
            _ => {
                if let Some(progress) = &mut progress {
                    progress.finish(applied);
                }
                let why = status["error"].as_str().unwrap_or("no reason given");
                anyhow::bail!(
                    "the rebuild of {} failed: {why}; the live read model is unchanged",
                    projection.name()
                );
            }
        }
    }
}

/// Which parked events to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ParkedStatus {
    /// Waiting for an operator.
    Parked,
    /// Given up by an operator.
    Skipped,
}

/// `esctl parked list`.
pub async fn parked_list(
    services: &Services,
    projection: Option<Projection>,
    status: Option<ParkedStatus>,
    limit: usize,
    as_json: bool,
) -> anyhow::Result<()> {
    let status = status.map(|status| match status {
        ParkedStatus::Parked => "&status=parked",
        ParkedStatus::Skipped => "&status=skipped",
    });
    let mut listed = Vec::new();
    let projections = projection.map_or(Projection::ALL.to_vec(), |one| vec![one]);
    for projection in projections {
        let mut after = 0;
        let mut taken = 0;
        while taken < limit {
            let page = (limit - taken).min(1000);
            let path = format!(
                "/admin/parked?after={after}&limit={page}{}",
                status.unwrap_or_default()
            );
            let answer = services
                .admin(projection, reqwest::Method::GET, &path, None)
                .await?;
            let items = answer["items"].as_array().cloned().unwrap_or_default();
            let full = items.len() == page;
            for mut item in items {
                after = item["id"].as_i64().unwrap_or(after);
                item["projection"] = projection.name().into();
                listed.push(item);
                taken += 1;
            }
            if !full {
                break;
            }
        }
    }
    if as_json {
        for item in &listed {
            println!("{item}");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|item| {
            let why = match item["status"].as_str() {
                Some("skipped") => format!(
                    "{} (skipped by {}: {})",
                    item["reason"].as_str().unwrap_or_default(),
                    item["resolved_by"].as_str().unwrap_or("?"),
                    item["resolution"].as_str().unwrap_or("?")
                ),
                _ => item["reason"].as_str().unwrap_or_default().to_owned(),
            };
            vec![
                item["projection"].as_str().unwrap_or_default().to_owned(),
                item["id"].to_string(),
                item["aggregate_id"].as_str().unwrap_or_default().to_owned(),
                item["sequence"]
                    .as_i64()
                    .map_or_else(|| "?".to_owned(), |s| s.to_string()),
                item["status"].as_str().unwrap_or_default().to_owned(),
                item["parked_at"].as_str().unwrap_or_default().to_owned(),
                output::cut(&why, 120),
            ]
        })
        .collect();
    output::table(
        &[
            "PROJECTION",
            "ID",
            "AGGREGATE",
            "SEQ",
            "STATUS",
            "PARKED AT",
            "REASON",
        ],
        &rows,
    );
    eprintln!("{} parked event(s)", listed.len());
    Ok(())
}

/// `esctl parked show`: the event with the message it arrived as (always JSON).
pub async fn parked_show(
    services: &Services,
    projection: Projection,
    id: i64,
) -> anyhow::Result<()> {
    let path = format!("/admin/parked/{id}");
    let event = services
        .admin(projection, reqwest::Method::GET, &path, None)
        .await?;
    output::json(&event);
    Ok(())
}

/// `esctl parked retry` and `esctl parked skip` (with a reason): what the service did.
pub async fn parked_resolve(
    services: &Services,
    projection: Projection,
    id: i64,
    skip_reason: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let (path, body) = match skip_reason {
        Some(reason) => (
            format!("/admin/parked/{id}/skip"),
            Some(json!({ "reason": reason })),
        ),
        None => (format!("/admin/parked/{id}/retry"), None),
    };
    let outcome = services
        .admin(projection, reqwest::Method::POST, &path, body.as_ref())
        .await?;
    if as_json {
        output::json(&outcome);
        return Ok(());
    }
    if skip_reason.is_some() {
        println!("skipped parked event {id} of {}", projection.name());
    }
    let still = outcome["still_parked"].as_u64().unwrap_or(0);
    println!(
        "applied {}, already applied {}, filled from the event store {}, still parked {still}{}",
        outcome["applied"],
        outcome["duplicates"],
        outcome["filled_from_store"],
        outcome["reason"]
            .as_str()
            .map(|why| format!(" ({why})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// Filters of `esctl sagas list`.
#[derive(Debug, clap::Args)]
pub struct SagaFilter {
    /// Only sagas in this state, e.g. FAILED, TIMED_OUT, RESERVING_CREDIT, APPROVED.
    #[arg(long, value_name = "S")]
    state: Option<String>,
    /// Only place-order or cancel-order sagas.
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Only the sagas of this order.
    #[arg(long = "order", value_name = "ID")]
    order_id: Option<String>,
    /// At most this many, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: usize,
}

/// `esctl sagas list`.
pub async fn sagas_list(
    services: &Services,
    filter: &SagaFilter,
    as_json: bool,
) -> anyhow::Result<()> {
    let mut query = String::new();
    let mut add = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            query.push_str(&format!("&{name}={}", encode(value)));
        }
    };
    add(
        "state",
        filter.state.as_deref().map(str::to_uppercase).as_deref(),
    );
    add("kind", filter.kind.as_deref());
    add("order_id", filter.order_id.as_deref());
    let mut sagas: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    while sagas.len() < filter.limit {
        let page = (filter.limit - sagas.len()).min(200);
        let after = cursor
            .as_deref()
            .map(|cursor| format!("&cursor={}", encode(cursor)))
            .unwrap_or_default();
        let answer = services
            .sagas_get(&format!("/sagas?limit={page}{query}{after}"))
            .await?;
        sagas.extend(answer["items"].as_array().cloned().unwrap_or_default());
        match answer["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if as_json {
        for saga in &sagas {
            println!("{saga}");
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = sagas
        .iter()
        .map(|saga| {
            let note = saga["last_error"]
                .as_str()
                .or(saga["reason"].as_str())
                .unwrap_or_default();
            vec![
                saga["id"].as_str().unwrap_or_default().to_owned(),
                saga["kind"].as_str().unwrap_or_default().to_owned(),
                saga["order_id"].as_str().unwrap_or_default().to_owned(),
                saga["state"].as_str().unwrap_or_default().to_owned(),
                saga["attempts"].to_string(),
                saga["started_at"].as_str().unwrap_or_default().to_owned(),
                output::cut(note, 80),
            ]
        })
        .collect();
    output::table(
        &[
            "ID", "KIND", "ORDER", "STATE", "ATTEMPTS", "STARTED", "NOTE",
        ],
        &rows,
    );
    eprintln!("{} saga(s)", sagas.len());
    Ok(())
}

fn saga_id(id: &str) -> anyhow::Result<()> {
    match uuid::Uuid::parse_str(id) {
        Ok(_) => Ok(()),
        Err(_) => Err(Failure::usage(format!("{id:?} is not a saga id (a UUID)")).into()),
    }
}

/// `esctl sagas show`: the saga, its step history and its interventions.
pub async fn sagas_show(services: &Services, id: &str, as_json: bool) -> anyhow::Result<()> {
    saga_id(id)?;
    let saga = services.sagas_get(&format!("/sagas/{id}")).await?;
    print_saga(&saga, as_json);
    Ok(())
}

/// `esctl sagas retry` and `esctl sagas resolve` (`action`): the saga as it is afterwards.
pub async fn sagas_intervene(
    services: &Services,
    id: &str,
    action: &str,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    saga_id(id)?;
    let saga = services
        .call(
            Projection::Sagas.service(),
            &services.saga,
            reqwest::Method::POST,
            &format!("/sagas/{id}/{action}"),
            Some(&json!({ "reason": reason })),
        )
        .await?;
    print_saga(&saga, as_json);
    Ok(())
}

fn print_saga(saga: &Value, as_json: bool) {
    if as_json {
        output::json(saga);
        return;
    }
    let field = |name: &str| match &saga[name] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    for name in [
        "id",
        "kind",
        "order_id",
        "user_id",
        "amount_cents",
        "state",
        "reason",
        "attempts",
        "last_error",
        "deadline_at",
        "next_attempt_at",
        "started_at",
        "finished_at",
    ] {
        println!("{:<16} {}", format!("{name}:"), field(name));
    }
    println!();
    let steps = saga["steps"].as_array().cloned().unwrap_or_default();
    let text = |value: &Value| value.as_str().unwrap_or("-").to_owned();
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            vec![
                text(&step["step"]),
                text(&step["started_at"]),
                text(&step["finished_at"]),
                step["attempts"].to_string(),
                text(&step["outcome"]),
                output::cut(step["detail"].as_str().unwrap_or("-"), 80),
            ]
        })
        .collect();
    output::table(
        &[
            "STEP", "STARTED", "FINISHED", "ATTEMPTS", "OUTCOME", "DETAIL",
        ],
        &rows,
    );
    let interventions = saga["interventions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !interventions.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = interventions
            .iter()
            .map(|done| {
                vec![
                    text(&done["at"]),
                    text(&done["actor"]),
                    text(&done["action"]),
                    format!(
                        "{} -> {}",
                        text(&done["from_state"]),
                        text(&done["to_state"])
                    ),
                    output::cut(done["reason"].as_str().unwrap_or("-"), 80),
                ]
            })
            .collect();
        output::table(&["AT", "BY", "ACTION", "STATES", "REASON"], &rows);
    }
}

/// `text` for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
