//! Logs and traces. Logs are JSON lines on stdout, filtered by `RUST_LOG` (default `info`),
//! each with the `trace_id` and `span_id` of the span it was written in. Spans are OpenTelemetry
//! spans (W3C trace context, see the `trace-context` crate), exported over OTLP/HTTP (JSON) to
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) when one is set; with
//! neither, traces still flow through events, Kafka and HTTP calls but are not exported.
//! `OTEL_BSP_SCHEDULE_DELAY` (ms) and the other standard batch variables apply.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use tracing::Level;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The process's tracer provider; [`Telemetry::shutdown`] exports what is still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still queued (at most a few seconds) and stops the exporter.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The exporter's client blocks; keep it off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Whether an OTLP endpoint is configured by the standard variables.
fn export_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// Installs the metrics recorder, the trace propagator and provider, and the process-wide
/// subscriber (JSON logs and OpenTelemetry spans). A second call (several services in one test
/// process) installs nothing more.
pub fn init(service: &'static str) -> Telemetry {
    // The metrics recorder first, so nothing recorded while the service is built is lost.
    crate::metrics::handle();
    // Only the first call builds a provider and an exporter (and their threads).
    static CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if CALLED.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Telemetry { provider: None };
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    let mut export_error = None;
    if export_configured() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(error) => export_error = Some(error.to_string()),
        }
    }
    let provider = builder.build();
    let (levels, unreadable) = Levels::from_env();
    let installed = subscriber(provider.tracer(service), levels, std::io::stdout)
        .try_init()
        .is_ok();
    if !installed {
        return Telemetry { provider: None };
    }
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing::info!(
        service,
        version = env!("CARGO_PKG_VERSION"),
        traces_exported = export_configured() && export_error.is_none(),
        "telemetry initialised"
    );
    if let Some(error) = export_error {
        tracing::error!(%error, "trace export is off: the OTLP exporter could not be built");
    }
    if let Some(value) = unreadable {
        tracing::warn!(
            rust_log = value,
            "RUST_LOG is not a list of target=level directives (span filters are not read); \
             logging at info"
        );
    }
    Telemetry {
        provider: Some(provider),
    }
}

/// What is recorded: spans at info and above whatever `RUST_LOG` says (so traces stay whole),
/// and the events `RUST_LOG` enables (`info`, `warn,sqlx=error`, …), both as log lines and as
/// span events.
///
/// One filter for the whole subscriber, decided per callsite from its metadata alone. Per-layer
/// filters (`Layer::with_filter`) lose events: an `enabled` check that no event follows — `sqlx`
/// and `rdkafka` make them through `log_enabled!` and `tracing::enabled!` — leaves the thread's
/// filter state saying "disabled", and the next event on that thread whose callsite is always
/// enabled is then dropped by every layer, a projector's failpoint line among them.
#[derive(Debug, Clone)]
struct Levels {
    events: Targets,
}

impl Levels {
    /// The events `RUST_LOG` enables (`info` when unset), and its value when it cannot be read.
    fn from_env() -> (Self, Option<String>) {
        match std::env::var("RUST_LOG") {
            Ok(value) if !value.trim().is_empty() => match Self::parse(&value) {
                Some(levels) => (levels, None),
                None => (Self::parse("info").expect("a level"), Some(value)),
            },
            _ => (Self::parse("info").expect("a level"), None),
        }
    }

    /// `target=level` or `level` directives, comma-separated (empty ones skipped, as
    /// `env_logger` does); `None` for anything else, span filters (`target[span]=level`)
    /// among them, rather than a silent misreading.
    fn parse(directives: &str) -> Option<Self> {
        let directives: Vec<&str> = directives
            .split(',')
            .map(str::trim)
            .filter(|directive| !directive.is_empty())
            .collect();
        if directives.is_empty()
            || directives
                .iter()
                .any(|directive| directive.contains(['[', ']', '{', '}']))
        {
            return None;
        }
        directives
            .join(",")
            .parse::<Targets>()
            .ok()
            .map(|events| Self { events })
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        if metadata.is_span() {
            *metadata.level() <= Level::INFO
        } else {
            self.events
                .would_enable(metadata.target(), metadata.level())
        }
    }

    /// The most verbose level anything is recorded at.
    fn max_level(&self) -> LevelFilter {
        let events =
            tracing_subscriber::Layer::<tracing_subscriber::Registry>::max_level_hint(&self.events)
                .unwrap_or(LevelFilter::TRACE);
        events.max(LevelFilter::INFO)
    }
}

/// The process's subscriber: `levels`, then spans through `tracer`, JSON lines to `writer`.
fn subscriber<W>(
    tracer: opentelemetry_sdk::trace::SdkTracer,
    levels: Levels,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let max_level = levels.max_level();
    let filter = tracing_subscriber::filter::filter_fn(move |metadata| levels.enabled(metadata))
        .with_max_level_hint(max_level);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines)
                .with_writer(writer),
        )
}

/// One JSON object per event: time, level, target, the event's fields, and the span it was
/// written in (name and fields) with its trace and span ids.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = Map::new();
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        line.insert("timestamp".into(), time.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        let mut fields = Map::new();
        event.record(&mut Fields(&mut fields));
        line.extend(fields);
        line.insert("target".into(), event.metadata().target().into());
        if let Some(span) = context.parent_span() {
            let extensions = span.extensions();
            let mut described = extensions
                .get::<FormattedFields<N>>()
                .and_then(|fields| serde_json::from_str::<Map<String, Value>>(fields).ok())
                .unwrap_or_default();
            described.insert("name".into(), span.name().into());
            line.insert("span".into(), Value::Object(described));
            if let Some(otel) = extensions.get::<tracing_opentelemetry::OtelData>() {
                if let Some(trace_id) = otel.trace_id() {
                    line.insert("trace_id".into(), trace_id.to_string().into());
                }
                if let Some(span_id) = otel.span_id() {
                    line.insert("span_id".into(), span_id.to_string().into());
                }
            }
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects an event's fields as JSON values.
struct Fields<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// The `message` of every line written.
        fn messages(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|line| {
                    let line: Value = serde_json::from_str(line).expect("a JSON line");
                    line["message"].as_str().unwrap_or_default().to_owned()
                })
                .collect()
        }
    }

    /// Runs `work` under the service's subscriber with `RUST_LOG` = `directives`.
    fn logged(directives: &str, work: impl FnOnce()) -> Vec<String> {
        let captured = Captured::default();
        let writer = captured.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = subscriber(
            provider.tracer("test"),
            Levels::parse(directives).expect("directives"),
            move || writer.clone(),
        );
        tracing::subscriber::with_default(subscriber, work);
        captured.messages()
    }

    #[test]
    fn an_enabled_check_that_no_event_follows_loses_no_later_event() {
        let messages = logged("warn", || {
            // What rdkafka does for every client it creates (through `log_enabled!`) and sqlx
            // after every query: ask whether a level is on, and log nothing.
            let _ = tracing::enabled!(target: "librdkafka", Level::INFO);
            tracing::error!("failpoint reached");
            let _ = tracing::enabled!(target: "sqlx::query", Level::INFO);
            tracing::warn!("still here");
            tracing::info!("below the level");
        });
        assert_eq!(messages, ["failpoint reached", "still here"]);
    }

    #[test]
    fn rust_log_chooses_the_events_by_target_and_spans_stay_at_info() {
        let levels = Levels::parse("warn,sqlx=error,projector=debug").unwrap();
        let messages = logged("warn,sqlx=error,projector=debug", || {
            tracing::warn!(target: "sqlx::query", "slow statement");
            tracing::error!(target: "sqlx::query", "statement failed");
            tracing::debug!(target: "projector::consumer", "batch applied");
            tracing::info!(target: "other", "not shown");
        });
        assert_eq!(messages, ["statement failed", "batch applied"]);
        assert_eq!(levels.max_level(), LevelFilter::DEBUG);
        assert_eq!(
            Levels::parse("error").unwrap().max_level(),
            LevelFilter::INFO,
            "spans are traced at info whatever RUST_LOG says"
        );
        assert!(Levels::parse("users=loud").is_none(), "not a level");
        assert!(
            Levels::parse("users[span]=debug").is_none(),
            "a span filter"
        );
        assert!(Levels::parse(" , ").is_none(), "no directive");
        assert_eq!(
            logged("warn, ,sqlx=error,", || {
                tracing::warn!("kept");
                tracing::info!("below the level");
            }),
            ["kept"],
            "empty directives are skipped, not read as `error`"
        );
    }

    #[test]
    fn log_lines_are_json_with_the_trace_and_span_ids_of_their_span() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            provider.tracer("test"),
            Levels::parse("info").unwrap(),
            move || writer.clone(),
        );
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
        let outgoing = tracing::subscriber::with_default(subscriber, || {
            tracing::info!(outside = true, "no span");
            let span = tracing::info_span!("work", order_id = "o-1");
            trace_context::set_parent(&span, Some(&format!("00-{trace_id}-00f067aa0ba902b7-01")));
            let _entered = span.enter();
            tracing::warn!(attempt = 2_u64, "inside");
            trace_context::current()
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["message"], "no span");
        assert_eq!(lines[0]["outside"], true);
        assert!(lines[0].get("trace_id").is_none());
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["attempt"], 2);
        assert_eq!(lines[1]["span"]["name"], "work");
        assert_eq!(lines[1]["span"]["order_id"], "o-1");
        assert_eq!(lines[1]["trace_id"], trace_id, "the parent's trace");
        let span_id = lines[1]["span_id"].as_str().unwrap();
        assert_eq!(span_id.len(), 16);
        assert_ne!(span_id, "00f067aa0ba902b7", "its own span, not the parent");
        assert_eq!(
            outgoing,
            Some(format!("00-{trace_id}-{span_id}-01")),
            "what goes out is this span"
        );
    }
}
