//! Read-your-writes: wait until a projection has applied an aggregate's version N.
//!
//! Every batch notifies `projection_applied` on commit; one listener per process fans the
//! notifications out to waiting requests, whichever replica's projector applied the event.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::process::APPLIED_CHANNEL;

/// How a wait ended.
#[derive(Debug)]
pub enum WaitOutcome<T> {
    /// The read model is at the asked version or later.
    Reached(T),
    /// The deadline passed first; what the read model holds now, if anything.
    TimedOut(Option<T>),
}

/// Notifications of applied versions of one projection.
#[derive(Clone)]
pub struct AppliedWatch {
    sender: broadcast::Sender<(String, i64)>,
}

impl AppliedWatch {
    /// Listens for `schema`'s notifications until `cancel` fires.
    pub fn start(pool: PgPool, schema: String, cancel: CancellationToken) -> Self {
        let (sender, _) = broadcast::channel(1024);
        let watch = Self {
            sender: sender.clone(),
        };
        tokio::spawn(async move {
            while !cancel.is_cancelled() {
                let mut listener = match PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "applied-version listener cannot connect; retrying");
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                };
                if let Err(error) = listener.listen(APPLIED_CHANNEL).await {
                    tracing::warn!(%error, "applied-version listener cannot listen; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
                loop {
                    let notification = tokio::select! {
                        () = cancel.cancelled() => return,
                        notification = listener.recv() => notification,
                    };
                    let Ok(notification) = notification else {
                        break;
                    };
                    let mut parts = notification.payload().rsplitn(2, '|');
                    let (Some(version), Some(rest)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let Some((notified_schema, aggregate)) = rest.split_once('|') else {
                        continue;
                    };
                    if notified_schema == schema
                        && let Ok(version) = version.parse()
                    {
                        let _ = sender.send((aggregate.to_owned(), version));
                    }
                }
            }
        });
        watch
    }

    /// Reads with `read` until it reports `min_version` or later, or `timeout` passes. `read`
    /// returns the current row and its version, or `None` if there is no row yet.
    pub async fn wait_for<T, E, F, Fut>(
        &self,
        aggregate_id: &str,
        min_version: i64,
        timeout: Duration,
        mut read: F,
    ) -> Result<WaitOutcome<T>, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<(T, i64)>, E>>,
    {
        // Subscribed before the first read, so no notification falls between the two.
        let mut notifications = self.sender.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = read().await?;
            if let Some((row, version)) = current {
                if version >= min_version {
                    return Ok(WaitOutcome::Reached(row));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(WaitOutcome::TimedOut(Some(row)));
                }
            } else if tokio::time::Instant::now() >= deadline {
                return Ok(WaitOutcome::TimedOut(None));
            }
            // Wake on a matching notification, and re-read at least every 200 ms in case one
            // was missed (a listener reconnect, a lagging receiver).
            let recheck = (tokio::time::Instant::now() + Duration::from_millis(200)).min(deadline);
            loop {
                match tokio::time::timeout_at(recheck, notifications.recv()).await {
                    Ok(Ok((aggregate, version)))
                        if aggregate == aggregate_id && version >= min_version =>
                    {
                        break;
                    }
                    Ok(Ok(_)) => continue,
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                }
            }
        }
    }
}
