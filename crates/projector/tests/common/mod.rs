//! A projector of the test counters' view (test_support::fixture) running in the test, on a
//! fresh read database, and the runtime's admin functions bound to it.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use projector::{
    ParkedEvent, Projection, Projector, ProjectorConfig, ProjectorStats, RetryOutcome,
};
use service_kit::settings::DatabaseSettings;
use sqlx::PgPool;
use test_support::fixture::{COUNTER_TYPE, CounterStore, CounterView, view_pool, view_rows};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Attempts of an operator's retry or skip.
pub const ATTEMPTS: u32 = 3;

/// A running projector of the counters' view.
pub struct Live {
    pub read: DatabaseSettings,
    /// The view's pool (its search path is the view's schema).
    pub view: PgPool,
    pub stats: Arc<ProjectorStats>,
    cancel: CancellationToken,
    task: Option<JoinHandle<Result<(), rdkafka::error::KafkaError>>>,
}

impl Live {
    /// On a fresh read database, in a group of its own.
    pub async fn start(store: &CounterStore) -> Self {
        Self::start_with(store, |_| {}).await
    }

    /// On a fresh read database, in a group of its own, with `adjust`ed configuration.
    pub async fn start_with(
        store: &CounterStore,
        adjust: impl FnOnce(&mut ProjectorConfig),
    ) -> Self {
        let read = test_support::fresh_database().await;
        Self::start_on(store, &read, &new_group(), adjust).await
    }

    /// On `read`, in consumer group `group`.
    pub async fn start_on(
        store: &CounterStore,
        read: &DatabaseSettings,
        group: &str,
        adjust: impl FnOnce(&mut ProjectorConfig),
    ) -> Self {
        Self::start_projecting(store, read, group, adjust, CounterView).await
    }

    /// On `read`, in consumer group `group`, applying with `projection` (the counters' view
    /// with something of its own: its schema must be the view's).
    pub async fn start_projecting<P: Projection>(
        store: &CounterStore,
        read: &DatabaseSettings,
        group: &str,
        adjust: impl FnOnce(&mut ProjectorConfig),
        projection: P,
    ) -> Self {
        let view = view_pool(read);
        projector::ensure_schema(&view, &projection)
            .await
            .expect("the view's schema");
        let mut config = ProjectorConfig::new(store.kafka.clone(), &store.topic, group);
        adjust(&mut config);
        let projector = Projector::new(view.clone(), Arc::new(projection), config);
        let stats = projector.stats();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(projector.run(cancel.clone()));
        Self {
            read: read.clone(),
            view,
            stats,
            cancel,
            task: Some(task),
        }
    }

    /// Stops the projector and waits for it to commit and leave its group.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            test_support::stop_task(&self.cancel, task).await;
        }
    }

    /// (events applied, version) of `counter` once its version is `version` or later.
    pub async fn at_version(&self, counter: Uuid, version: i64) -> (i64, i64) {
        let id = counter.to_string();
        test_support::eventually(
            Duration::from_secs(30),
            &format!("counter {counter} to reach version {version}"),
            || async {
                let rows = view_rows(&self.view).await?;
                let (_, events, at) = rows.into_iter().find(|(row, _, _)| *row == id)?;
                (at >= version).then_some((events, at))
            },
        )
        .await
    }

    /// (events applied, version) of `counter` now.
    pub async fn row(&self, counter: Uuid) -> Option<(i64, i64)> {
        let id = counter.to_string();
        view_rows(&self.view)
            .await?
            .into_iter()
            .find(|(row, _, _)| *row == id)
            .map(|(_, events, version)| (events, version))
    }

    /// Every parked or skipped event, oldest first.
    pub async fn parked(&self) -> Vec<ParkedEvent> {
        projector::list_parked(&self.view, &CounterView, None, 0, 1_000)
            .await
            .expect("parked events")
    }

    /// Waits until exactly `count` events are parked; them.
    pub async fn parked_until(&self, count: usize) -> Vec<ParkedEvent> {
        test_support::eventually(
            Duration::from_secs(60),
            &format!("{count} events to be parked"),
            || async {
                let parked = self.parked().await;
                (parked.len() == count).then_some(parked)
            },
        )
        .await
    }

    /// An operator's retry of parked event `id`, filling gaps from `store`.
    pub async fn retry(&self, store: &CounterStore, id: i64) -> Option<RetryOutcome> {
        projector::retry_parked(
            &self.view,
            &CounterView,
            id,
            Some((&store.pool, COUNTER_TYPE)),
            ATTEMPTS,
        )
        .await
        .expect("retried")
    }

    /// Replaces the bytes parked event `id` arrived with, as an operator repairing it would.
    pub async fn repair(&self, id: i64, payload: Vec<u8>) {
        sqlx::query("UPDATE parked_events SET payload = $1 WHERE id = $2")
            .bind(payload)
            .bind(id)
            .execute(&self.view)
            .await
            .expect("repaired");
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A consumer group of its own.
pub fn new_group() -> String {
    format!("counters-view-{}", Uuid::new_v4().simple())
}
