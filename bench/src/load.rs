//! Load generators and what they measure: closed loops (N clients, each sending its next
//! request when the previous one is answered) for throughput, and an open loop (requests
//! started at a fixed arrival rate, on schedule whatever the answers do) for latency, so a slow
//! answer delays nothing and is measured from when its request was due.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Latency samples in seconds, and how many operations failed.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub seconds: Vec<f64>,
    pub failures: u64,
    /// What the first failure said.
    pub first_error: Option<String>,
}

impl Samples {
    pub fn count(&self) -> usize {
        self.seconds.len()
    }

    /// The `q` quantile (0 ≤ q ≤ 1) in milliseconds, nearest rank; NaN without samples.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.seconds.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] * 1_000.0
    }

    pub fn merge(&mut self, other: Samples) {
        self.seconds.extend(other.seconds);
        self.failures += other.failures;
        self.first_error = self.first_error.take().or(other.first_error);
    }

    pub fn failed(&mut self, error: impl std::fmt::Display) {
        self.failures += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }
}

/// What a closed loop did.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub samples: Samples,
    pub elapsed: Duration,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.samples.count() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `clients` loops for `duration` (and at most `max_operations` in all); each calls
/// `operation(client, n)` and times it. An operation that returns an error counts as a failure.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    duration: Duration,
    max_operations: u64,
    operation: F,
) -> Throughput
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let deadline = started + duration;
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (operation, issued) = (operation.clone(), issued.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            while Instant::now() < deadline {
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= max_operations {
                    break;
                }
                let began = Instant::now();
                match operation(client, n).await {
                    Ok(()) => samples.seconds.push(began.elapsed().as_secs_f64()),
                    Err(error) => samples.failed(format!("{error:#}")),
                }
            }
            samples
        }));
    }
    let mut samples = Samples::default();
    for task in tasks {
        samples.merge(task.await.unwrap_or_default());
    }
    Throughput {
        samples,
        elapsed: started.elapsed(),
    }
}

/// Starts `operation(n, due)` at `rate` per second for `duration` (at most `max_operations`),
/// each on its own task, and waits for all of them (each bounded by `timeout`). The operation
/// returns the latency it measured (from `due`, or from a point of its own); an error or a
/// timeout counts as a failure.
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_operations: u64,
    timeout: Duration,
    operation: F,
) -> Samples
where
    F: Fn(u64, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Duration>> + Send + 'static,
{
    let operation = Arc::new(operation);
    let collected = Arc::new(Mutex::new(Samples::default()));
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..max_operations {
        let due = started + interval.mul_f64(n as f64);
        if due > started + duration {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let (operation, collected) = (operation.clone(), collected.clone());
        tasks.push(tokio::spawn(async move {
            let outcome = tokio::time::timeout(timeout, operation(n, due)).await;
            let mut collected = collected.lock().await;
            match outcome {
                Ok(Ok(latency)) => collected.seconds.push(latency.as_secs_f64()),
                Ok(Err(error)) => collected.failed(format!("{error:#}")),
                Err(_) => collected.failed(format!("no answer within {timeout:?}")),
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    collected.lock().await.clone()
}

/// The median of `values` (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let samples = Samples {
            seconds: (1..=100).map(|ms| f64::from(ms) / 1_000.0).collect(),
            ..Samples::default()
        };
        assert_eq!(samples.quantile_ms(0.5), 50.0);
        assert_eq!(samples.quantile_ms(0.99), 99.0);
        assert_eq!(samples.quantile_ms(0.999), 100.0);
        assert!(Samples::default().quantile_ms(0.5).is_nan());
    }

    #[test]
    fn the_median_ignores_missing_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, f64::NAN, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[tokio::test]
    async fn an_open_loop_starts_every_request_and_measures_from_its_due_time() {
        // 20 requests at 100/s, each answering after 200 ms: every one is started (none
        // waits for another's answer) and its latency counts from when it was due.
        let samples = open_loop(
            100.0,
            Duration::from_secs(1),
            20,
            Duration::from_secs(5),
            |_, due| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(due.elapsed())
            },
        )
        .await;
        assert_eq!(samples.count(), 20);
        assert_eq!(samples.failures, 0);
        assert!(samples.seconds.iter().all(|latency| *latency >= 0.2));
    }
}
