//! Reading a cluster without joining it: topics with their partitions' watermarks, and each
//! consumer group's committed offsets and lag. esctl prints it; the gateway serves it.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;

use crate::KafkaSettings;

/// Consumer groups of the system, asked about when the broker cannot list its groups.
pub const KNOWN_GROUPS: [&str; 3] = ["users-query", "orders-query", "saga-orchestrator"];

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// No answer, or a failed request.
    #[error("cannot reach the broker at {brokers}: {source}")]
    Unreachable {
        brokers: String,
        #[source]
        source: KafkaError,
    },
    /// The topic asked about does not exist.
    #[error("no topic {0}")]
    NoTopic(String),
}

/// One partition's low and high watermarks: the first offset still kept and the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PartitionMarks {
    pub partition: i32,
    pub low: i64,
    pub high: i64,
}

/// A topic and its partitions' watermarks.
#[derive(Debug, Clone, Serialize)]
pub struct TopicMarks {
    pub topic: String,
    pub partitions: Vec<PartitionMarks>,
}

impl TopicMarks {
    /// Records still kept on the topic.
    pub fn messages(&self) -> i64 {
        self.partitions.iter().map(|p| p.high - p.low).sum()
    }

    /// Sum of the partitions' high watermarks: the offsets ever written.
    pub fn end(&self) -> i64 {
        self.partitions.iter().map(|p| p.high).sum()
    }
}

/// A group's committed offset on one partition, and how far behind the end it is.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PartitionLag {
    pub partition: i32,
    pub committed: i64,
    pub high: i64,
    pub lag: i64,
}

/// A consumer group's position on one topic.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    /// Records between the committed offsets and the ends, over every partition.
    pub lag: i64,
    pub partitions: Vec<PartitionLag>,
}

/// Topics and the consumer groups with committed offsets on them.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub topics: Vec<TopicMarks>,
    pub groups: Vec<GroupLag>,
}

/// A reader of the cluster: a consumer that never subscribes and commits nothing.
pub struct Inspector {
    settings: KafkaSettings,
    consumer: BaseConsumer,
    timeout: Duration,
}

impl Inspector {
    /// A reader whose requests each wait at most `timeout`; `name` goes into its group id
    /// (e.g. `esctl-<pid>`), which it never joins.
    pub fn new(
        settings: &KafkaSettings,
        name: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let consumer = reader_config(settings, name, timeout).create()?;
        Ok(Self {
            settings: settings.clone(),
            consumer,
            timeout,
        })
    }

    fn unreachable(&self, source: KafkaError) -> InspectError {
        InspectError::Unreachable {
            brokers: self.settings.brokers.clone(),
            source,
        }
    }

    /// The brokers the cluster's metadata names, as `(id, host:port)`.
    pub fn brokers(&self) -> Result<Vec<(i32, String)>, InspectError> {
        let metadata = self
            .consumer
            .fetch_metadata(None, self.timeout)
            .map_err(|error| self.unreachable(error))?;
        Ok(metadata
            .brokers()
            .iter()
            .map(|broker| (broker.id(), format!("{}:{}", broker.host(), broker.port())))
            .collect())
    }

    /// Every topic but the internal ones (or only `topic`) with its watermarks, by name.
    pub fn watermarks(&self, topic: Option<&str>) -> Result<Vec<TopicMarks>, InspectError> {
        let metadata = self
            .consumer
            .fetch_metadata(topic, self.timeout)
            .map_err(|error| self.unreachable(error))?;
        let mut topics = BTreeMap::new();
        for entry in metadata.topics() {
            if entry.name().starts_with("__") {
                continue;
            }
            if entry.error().is_some() || entry.partitions().is_empty() {
                if topic.is_some() {
                    return Err(InspectError::NoTopic(entry.name().to_owned()));
                }
                continue;
            }
            let mut partitions = Vec::new();
            for partition in entry.partitions() {
                let (low, high) = self
                    .consumer
                    .fetch_watermarks(entry.name(), partition.id(), self.timeout)
                    .map_err(|error| self.unreachable(error))?;
                partitions.push(PartitionMarks {
                    partition: partition.id(),
                    low,
                    high,
                });
            }
            partitions.sort_unstable_by_key(|marks| marks.partition);
            topics.insert(
                entry.name().to_owned(),
                TopicMarks {
                    topic: entry.name().to_owned(),
                    partitions,
                },
            );
        }
        if let Some(topic) = topic
            && !topics.contains_key(topic)
        {
            return Err(InspectError::NoTopic(topic.to_owned()));
        }
        Ok(topics.into_values().collect())
    }

    /// The groups the broker lists (or [`KNOWN_GROUPS`] when it will not list them), minus
    /// those `skip` says are readers like this one.
    pub fn groups(&self, skip: impl Fn(&str) -> bool) -> Vec<String> {
        match self.consumer.fetch_group_list(None, self.timeout) {
            Ok(list) => list
                .groups()
                .iter()
                .map(|group| group.name().to_owned())
                .filter(|group| !skip(group))
                .collect(),
            Err(_) => KNOWN_GROUPS
                .iter()
                .map(|group| (*group).to_owned())
                .collect(),
        }
    }

    /// `group`'s committed offsets on each of `topics`, where it has any.
    pub fn group_lags(
        &self,
        group: &str,
        topics: &[TopicMarks],
    ) -> Result<Vec<GroupLag>, InspectError> {
        let member: BaseConsumer = reader_config(&self.settings, group, self.timeout)
            .set("group.id", group)
            .create()
            .map_err(|error| self.unreachable(error))?;
        let mut lags = Vec::new();
        for topic in topics {
            let mut list = TopicPartitionList::new();
            for marks in &topic.partitions {
                list.add_partition(&topic.topic, marks.partition);
            }
            let Ok(committed) = member.committed_offsets(list, self.timeout) else {
                continue;
            };
            let partitions: Vec<PartitionLag> = topic
                .partitions
                .iter()
                .filter_map(|marks| {
                    let entry = committed.find_partition(&topic.topic, marks.partition)?;
                    let Offset::Offset(at) = entry.offset() else {
                        return None;
                    };
                    Some(PartitionLag {
                        partition: marks.partition,
                        committed: at,
                        high: marks.high,
                        lag: (marks.high - at).max(0),
                    })
                })
                .collect();
            if !partitions.is_empty() {
                lags.push(GroupLag {
                    group: group.to_owned(),
                    topic: topic.topic.clone(),
                    lag: partitions.iter().map(|p| p.lag).sum(),
                    partitions,
                });
            }
        }
        Ok(lags)
    }

    /// Every topic with its watermarks and every group's lag on them (groups whose name
    /// `skip` accepts left out).
    pub fn report(&self, skip: impl Fn(&str) -> bool) -> Result<Report, InspectError> {
        let topics = self.watermarks(None)?;
        let mut groups = Vec::new();
        for group in self.groups(skip) {
            groups.extend(self.group_lags(&group, &topics)?);
        }
        Ok(Report { topics, groups })
    }

    /// The underlying consumer, for requests this module does not wrap (offsets by time).
    pub fn consumer(&self) -> &BaseConsumer {
        &self.consumer
    }
}

/// A consumer that reads without committing: what the inspector and tails are made of.
pub fn reader_config(settings: &KafkaSettings, name: &str, timeout: Duration) -> ClientConfig {
    let mut config = settings.client_config();
    config
        .set("group.id", name)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("socket.timeout.ms", timeout.as_millis().to_string());
    config
}
