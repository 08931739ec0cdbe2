//! One trace across process boundaries. A span's W3C `traceparent` goes out with what the
//! span causes (event metadata, outbox rows, Kafka headers, HTTP calls), and the span that
//! handles it on the other side takes it as its parent.
//!
//! Works on the global propagator and tracing-opentelemetry's span extension, which
//! `service_kit::telemetry::init` installs. Without them (a library used alone, an in-process
//! test) [`of`] answers `None` and [`set_parent`] does nothing, so callers keep whatever
//! traceparent they had.

use std::collections::HashMap;

use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header and metadata key.
pub const TRACEPARENT: &str = "traceparent";

/// Makes `traceparent` the parent of `span`. Call it right after creating the span, before
/// it is entered or asked for its context; an absent or invalid traceparent leaves the span
/// a root of a new trace.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
    if parent.span().span_context().is_valid() {
        // Fails only without the OpenTelemetry layer or for a span already started.
        let _ = span.set_parent(parent);
    }
}

/// The `traceparent` of `span`, if it is part of a trace.
pub fn of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut carrier));
    carrier.remove(TRACEPARENT)
}

/// The `traceparent` of the current span.
pub fn current() -> Option<String> {
    of(&tracing::Span::current())
}
