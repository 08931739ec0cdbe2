//! What every service of the system stands on: layered settings, JSON logs, Prometheus
//! metrics, health endpoints, problem+json errors, request context, request limits, optional TLS,
//! retention of the tables that only grow, and graceful shutdown.

pub mod auth;
pub mod health;
pub mod help;
pub mod http;
pub mod kafka;
pub mod limits;
pub mod metrics;
pub mod problem;
pub mod process;
pub mod retention;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

pub use problem::{FieldError, Problem};
