//! Conventions of every query endpoint: `min_version` reads, page limits and keyset cursors.

use std::future::Future;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use projector::{AppliedWatch, WaitOutcome};
use serde::{Deserialize, Serialize};
use service_kit::Problem;
use sqlx::PgPool;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::ReadSettings;

/// What the query handlers share (mounted as `web::Data<Reads>`).
pub struct Reads {
    /// The read model's pool (its search path is the live schema).
    pub pool: PgPool,
    /// Applied-version notifications, for `min_version`.
    pub watch: AppliedWatch,
    pub limits: ReadSettings,
}

/// Query string of a single-row read.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VersionParams {
    /// Wait until the read model has applied this version (read your own write).
    pub min_version: Option<i64>,
    /// How long to wait for `min_version`, in milliseconds: default 2000, at most 10000.
    pub wait_ms: Option<u64>,
}

/// A row of a read model that carries the version (sequence) of the last event applied to it.
pub trait Versioned {
    fn version(&self) -> i64;
}

impl Reads {
    /// Reads one row of aggregate `id` with `read`. With `min_version`, waits (bounded by
    /// `wait_ms`) until the projection has applied that version, and answers 504
    /// `version-not-reached` with the version it has if it has not by then. `noun` names the
    /// aggregate in messages; `not_found` is the answer when there is no row.
    pub async fn at_version<T, F, Fut>(
        &self,
        id: Uuid,
        params: VersionParams,
        noun: &str,
        not_found: impl FnOnce() -> Problem,
        read: F,
    ) -> Result<T, Problem>
    where
        T: Versioned,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>, sqlx::Error>>,
    {
        let failed = |error: sqlx::Error| Problem::unavailable(&error);
        let Some(min_version) = params.min_version else {
            if params.wait_ms.is_some() {
                return Err(Problem::bad_request("wait_ms needs min_version"));
            }
            return read().await.map_err(failed)?.ok_or_else(not_found);
        };
        if min_version < 1 {
            return Err(Problem::bad_request("min_version must be at least 1"));
        }
        let wait_ms = params.wait_ms.unwrap_or(self.limits.default_wait_ms);
        if wait_ms > self.limits.max_wait_ms {
            return Err(Problem::bad_request(format!(
                "wait_ms must be at most {}",
                self.limits.max_wait_ms
            )));
        }
        let outcome = self
            .watch
            .wait_for(
                &id.to_string(),
                min_version,
                Duration::from_millis(wait_ms),
                || async {
                    let row = read().await?;
                    Ok::<_, sqlx::Error>(row.map(|row| {
                        let version = row.version();
                        (row, version)
                    }))
                },
            )
            .await
            .map_err(failed)?;
        match outcome {
            WaitOutcome::Reached(row) => Ok(row),
            WaitOutcome::TimedOut(current) => {
                let current_version = current.map_or(0, |row| row.version());
                Err(Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "version-not-reached",
                    "The read model has not reached the requested version yet",
                )
                .with_detail(format!(
                    "waited {wait_ms} ms for version {min_version} of {noun} {id}; the read model is at {current_version}"
                ))
                .with("current_version", current_version))
            }
        }
    }

    /// The page size asked for: the default when absent, capped at the maximum, at least 1.
    pub fn page_limit(&self, limit: Option<i64>) -> Result<i64, Problem> {
        match limit {
            None => Ok(self.limits.default_limit),
            Some(limit) if limit >= 1 => Ok(limit.min(self.limits.max_limit)),
            Some(_) => Err(Problem::bad_request("limit must be at least 1")),
        }
    }
}

/// 200 with the row as JSON and its version as a strong ETag.
pub fn found<T: Serialize + Versioned>(row: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::ETag(header::EntityTag::new_strong(
            row.version().to_string(),
        )))
        .json(row)
}

/// The opaque cursor that continues a page after the row with id `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The id a cursor continues after, or 400 for a cursor this service did not issue.
pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, Problem> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| Problem::bad_request("cursor is not one this service issued"))
}

/// Cuts `items`, fetched with `limit + 1` rows, to `limit`, and returns the cursor of the
/// next page if there is one.
pub fn next_page<T>(items: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    if items.len() as i64 <= limit {
        return None;
    }
    items.truncate(limit as usize);
    items.last().map(|row| encode_cursor(id(row)))
}

/// A page of rows and the cursor of the next one.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Longest text a filter parameter may carry.
pub const MAX_FILTER_CHARS: usize = 1_000;

/// A free-text filter parameter as the database can take it: 400 for NUL (Postgres text holds
/// none) or more than [`MAX_FILTER_CHARS`] characters. Anything else is just text that matches
/// nothing.
pub fn text_filter(name: &str, value: Option<String>) -> Result<Option<String>, Problem> {
    match value {
        Some(text) if text.contains('\0') => Err(Problem::bad_request(format!(
            "{name} must not contain NUL characters"
        ))),
        Some(text) if text.chars().count() > MAX_FILTER_CHARS => Err(Problem::bad_request(
            format!("{name} is longer than {MAX_FILTER_CHARS} characters"),
        )),
        value => Ok(value),
    }
}

/// Escapes `prefix` for a `LIKE` pattern matching everything that starts with it.
pub fn like_prefix(prefix: &str) -> String {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(Some(&encode_cursor(id))).unwrap(), Some(id));
        assert_eq!(decode_cursor(None).unwrap(), None);
        for bad in ["", "not base64!", "AAAA"] {
            assert_eq!(decode_cursor(Some(bad)).unwrap_err().status, 400);
        }
    }

    #[test]
    fn a_page_is_cut_to_its_limit_with_a_cursor_only_when_more_follow() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let mut items = ids.clone();
        assert_eq!(
            next_page(&mut items, 2, |id| *id),
            Some(encode_cursor(ids[1]))
        );
        assert_eq!(items, ids[..2]);
        let mut items = ids.clone();
        assert_eq!(next_page(&mut items, 3, |id| *id), None);
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn text_filters_refuse_nul_and_overlong_text_and_keep_the_rest() {
        assert_eq!(text_filter("email", None).unwrap(), None);
        let odd = "x' OR '1'='1 \u{202e} 👩‍👩‍👧".to_owned();
        assert_eq!(text_filter("email", Some(odd.clone())).unwrap(), Some(odd));
        for bad in ["a\0b".to_owned(), "é".repeat(MAX_FILTER_CHARS + 1)] {
            let problem = text_filter("email", Some(bad)).unwrap_err();
            assert_eq!(problem.status, 400);
        }
        assert!(text_filter("email", Some("é".repeat(MAX_FILTER_CHARS))).is_ok());
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_prefix("a%b_c\\"), "a\\%b\\_c\\\\%");
    }
}
