//! The deployment files parse and agree with the code: `compose.yaml`, the Dockerfile it
//! builds from and `deploy/k8s/<service>.yaml`, for the five services and the gateway. Docker
//! and Kubernetes cannot run in CI, so these checks stand in for them; nothing here starts a
//! process or touches the network.

mod common;

use common::{read, root};
use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;
use test_support::kafka::KAFKA_VERSION;

const COMPOSE: &str = "compose.yaml";
const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const INIT_DATABASES: &str = "deploy/compose/init-databases.sql";
/// Every manifest and kustomization, base and overlays.
const KUBERNETES: &str = "deploy/k8s";
/// Apache Kafka's image: Compose runs the broker and kafka-init from it, Kubernetes the Job
/// cqrs-topics.
const KAFKA_IMAGE: &str = "apache/kafka";
/// The web console's backend: no database, no topic of its own; it calls the other deployed
/// services and serves the console the image builds.
const GATEWAY: &str = "gateway";
/// A service with deployment files, and where its settings are declared: each
/// `__`-separated part of one of its variables is a field of one of these structs.
struct Deployed {
    name: &'static str,
    port: u64,
    k8s: &'static str,
    settings: &'static [&'static str],
    prefix: &'static str,
    /// The topics it publishes, consumes or inspects, which the Compose stack must create.
    topics: &'static [&'static str],
    /// The databases it connects to, which the Compose stack must create.
    databases: &'static [&'static str],
    /// Its settings, besides HTTP, auth, Kafka and databases, whose defaults are wrong in a
    /// container (a topic, 127.0.0.1 addresses, local files): Compose must set each.
    required: &'static [&'static str],
}

const DEPLOYED: &[Deployed] = &[
    Deployed {
        name: "users-command",
        port: 5001,
        k8s: "deploy/k8s/base/users-command.yaml",
        settings: &[
            "crates/command-kit/src/app.rs",
            "crates/command-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "USERS_COMMAND__",
        topics: &["users.events"],
        databases: &["users_es"],
        required: &["TOPIC"],
    },
    Deployed {
        name: "users-query",
        port: 5011,
        k8s: "deploy/k8s/base/users-query.yaml",
        settings: &[
            "crates/query-kit/src/app.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "USERS_QUERY__",
        topics: &["users.events"],
        databases: &["users_read", "users_es"],
        required: &["TOPIC"],
    },
    Deployed {
        name: "orders-command",
        port: 5002,
        k8s: "deploy/k8s/base/orders-command.yaml",
        settings: &[
            "crates/command-kit/src/app.rs",
            "crates/command-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "ORDERS_COMMAND__",
        topics: &["orders.events"],
        databases: &["orders_es"],
        required: &["TOPIC"],
    },
    Deployed {
        name: "orders-query",
        port: 5012,
        k8s: "deploy/k8s/base/orders-query.yaml",
        settings: &[
            "crates/query-kit/src/app.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "ORDERS_QUERY__",
        topics: &["orders.events"],
        databases: &["orders_read", "orders_es"],
        required: &["TOPIC"],
    },
    Deployed {
        name: "saga-orchestrator",
        port: 5020,
        k8s: "deploy/k8s/base/saga-orchestrator.yaml",
        settings: &[
            "saga-orchestrator/src/settings.rs",
            // The `saga` section, and the `users` and `orders` sections.
            "saga-orchestrator/src/driver.rs",
            "saga-orchestrator/src/resilience.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "SAGA_ORCHESTRATOR__",
        topics: &["orders.events"],
        databases: &["saga", "orders_es"],
        required: &["TOPIC", "USERS__URL", "ORDERS__URL", "SAGA__TOKEN_FILE"],
    },
    Deployed {
        name: GATEWAY,
        port: 5173,
        k8s: "deploy/k8s/base/gateway.yaml",
        settings: &[
            "gateway/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            "crates/kafka-client/src/lib.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "GATEWAY__",
        // It inspects both pipelines' topics.
        topics: &["users.events", "orders.events"],
        databases: &[],
        required: &[
            "SERVICES__USERS_COMMAND",
            "SERVICES__ORDERS_COMMAND",
            "SERVICES__USERS_QUERY",
            "SERVICES__ORDERS_QUERY",
            "SERVICES__SAGA_ORCHESTRATOR",
            "CONSOLE__DIR",
        ],
    },
];

fn parse(text: &str, what: &str) -> Value {
    serde_yaml_ng::from_str(text)
        .unwrap_or_else(|error| panic!("{what} is not valid YAML: {error}"))
}

/// A scalar as the text Compose or Kubernetes would see.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => String::new(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn compose() -> Value {
    parse(&read(COMPOSE), COMPOSE)
}

/// The services of `compose.yaml`, by name.
fn compose_services(compose: &Value) -> Vec<(String, &Value)> {
    compose["services"]
        .as_mapping()
        .expect("compose.yaml has a `services` mapping")
        .iter()
        .map(|(name, service)| (scalar(name), service))
        .collect()
}

fn compose_service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("compose.yaml has no service {name}"))
}

/// A service's `environment`, written as a mapping or as a list of `NAME=value`.
fn environment(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Null => Vec::new(),
        Value::Mapping(variables) => variables
            .iter()
            .map(|(name, value)| (scalar(name), scalar(value)))
            .collect(),
        Value::Sequence(entries) => entries
            .iter()
            .map(|entry| {
                let entry = scalar(entry);
                match entry.split_once('=') {
                    Some((name, value)) => (name.to_owned(), value.to_owned()),
                    None => (entry, String::new()),
                }
            })
            .collect(),
        other => panic!("`environment` is neither a mapping nor a list: {other:?}"),
    }
}

/// A service's `depends_on`: each target with its condition, if one is given.
fn dependencies(service: &Value) -> Vec<(String, Option<String>)> {
    match &service["depends_on"] {
        Value::Null => Vec::new(),
        Value::Sequence(targets) => targets
            .iter()
            .map(|target| (scalar(target), None))
            .collect(),
        Value::Mapping(targets) => targets
            .iter()
            .map(|(target, spec)| (scalar(target), spec.get("condition").map(scalar)))
            .collect(),
        other => panic!("`depends_on` is neither a list nor a mapping: {other:?}"),
    }
}

/// A service's `ports` as `published:target` text (short or long syntax).
fn ports(service: &Value) -> Vec<String> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .map(|port| match port {
                    Value::Mapping(_) => {
                        format!("{}:{}", scalar(&port["published"]), scalar(&port["target"]))
                    }
                    short => scalar(short),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Splits a multi-document YAML file on its `---` lines, leaving out documents that hold
/// nothing but comments.
fn yaml_documents(text: &str) -> Vec<String> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else if let Some(current) = documents.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    documents
        .into_iter()
        .filter(|document| {
            document.lines().any(|line| {
                let line = line.trim();
                !line.is_empty() && !line.starts_with('#')
            })
        })
        .collect()
}

fn kubernetes_documents(file: &str) -> Vec<Value> {
    yaml_documents(&read(file))
        .iter()
        .enumerate()
        .map(|(index, document)| parse(document, &format!("{file} document {}", index + 1)))
        .collect()
}

fn kind(document: &Value) -> &str {
    document["kind"].as_str().unwrap_or_default()
}

fn find_kind<'a>(documents: &'a [Value], wanted: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| kind(document) == wanted)
        .unwrap_or_else(|| panic!("the manifests have no {wanted}"))
}

/// The container named `name` of the Deployment.
fn deployment_container<'a>(documents: &'a [Value], name: &str) -> &'a Value {
    let containers = find_kind(documents, "Deployment")["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("the Deployment has containers");
    containers
        .iter()
        .find(|container| container["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("the Deployment has a container named {name}"))
}

/// Path and port number of an HTTP probe, resolving a named port through the container's
/// ports.
fn http_probe(container: &Value, probe: &str) -> (String, u64) {
    let http_get = &container[probe]["httpGet"];
    let path = http_get["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe} has no httpGet.path"))
        .to_owned();
    let port = match &http_get["port"] {
        Value::Number(number) => number
            .as_u64()
            .unwrap_or_else(|| panic!("{probe}'s port is not a port number")),
        Value::String(name) => container["ports"]
            .as_sequence()
            .and_then(|ports| {
                ports
                    .iter()
                    .find(|port| port["name"].as_str() == Some(name.as_str()))
            })
            .and_then(|port| port["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("{probe} names port {name:?}, which the container lacks")),
        other => panic!("{probe} has no httpGet.port: {other:?}"),
    };
    (path, port)
}

/// Every YAML file under `directory`, by its path from the repository root, sorted.
fn yaml_files(directory: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![directory.to_owned()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(root().join(&current))
            .unwrap_or_else(|error| panic!("listing {current}: {error}"));
        for entry in entries {
            let entry = entry.unwrap_or_else(|error| panic!("listing {current}: {error}"));
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{current}/{name}");
            if entry.path().is_dir() {
                pending.push(path);
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The tag of every Apache Kafka image named anywhere in `value`: an `image:
/// apache/kafka:<tag>` (a Compose service, a container), or a kustomize `images` entry `name:
/// apache/kafka` with a `newTag` (which replaces the tag of those containers). An image
/// without a tag gives "".
fn kafka_image_tags(value: &Value) -> Vec<String> {
    let mut tags = Vec::new();
    match value {
        Value::Mapping(mapping) => {
            if let Some(image) = value["image"].as_str() {
                let (name, tag) = match image.rsplit_once(':') {
                    Some((name, tag)) if !tag.contains('/') => (name, tag),
                    _ => (image, ""),
                };
                if name == KAFKA_IMAGE || name.ends_with(&format!("/{KAFKA_IMAGE}")) {
                    tags.push(tag.to_owned());
                }
            }
            if value["name"].as_str() == Some(KAFKA_IMAGE) && !value["newTag"].is_null() {
                tags.push(scalar(&value["newTag"]));
            }
            for child in mapping.values() {
                tags.extend(kafka_image_tags(child));
            }
        }
        Value::Sequence(items) => {
            for item in items {
                tags.extend(kafka_image_tags(item));
            }
        }
        _ => {}
    }
    tags
}

#[test]
fn compose_file_parses_and_declares_the_stack_services() {
    let compose = compose();
    let names: BTreeSet<String> = compose_services(&compose)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let infrastructure = ["postgres", "kafka", "kafka-init"];
    let deployed = DEPLOYED.iter().map(|service| service.name);
    for expected in infrastructure.into_iter().chain(deployed) {
        assert!(
            names.contains(expected),
            "compose.yaml lacks service {expected}; it has {names:?}"
        );
    }
}

#[test]
fn compose_creates_every_topic_and_database_a_service_uses() {
    let compose = compose();
    let kafka_init = compose_service(&compose, "kafka-init");
    // The job's entrypoint and command, as one text (a list of words or a shell script).
    let words = |value: &Value| match value {
        Value::Null => String::new(),
        Value::Sequence(parts) => parts.iter().map(scalar).collect::<Vec<_>>().join(" "),
        other => scalar(other),
    };
    let job = format!(
        "{} {}",
        words(&kafka_init["entrypoint"]),
        words(&kafka_init["command"])
    );
    let job = job.split_whitespace().collect::<Vec<_>>().join(" ");
    let sql = read(INIT_DATABASES);
    for service in DEPLOYED {
        for topic in service.topics {
            assert!(
                job.contains(&format!("--topic {topic}")),
                "kafka-init does not create {topic}, which {} uses: {job}",
                service.name
            );
        }
        for database in service.databases {
            assert!(
                sql.contains(&format!("CREATE DATABASE {database} ")),
                "{INIT_DATABASES} does not create {database}, which {} uses",
                service.name
            );
        }
    }
}

#[test]
fn every_compose_dependency_names_a_service_that_can_satisfy_it() {
    let compose = compose();
    let services = compose_services(&compose);
    let names: BTreeSet<&str> = services.iter().map(|(name, _)| name.as_str()).collect();
    for (name, service) in &services {
        for (target, condition) in dependencies(service) {
            assert!(
                names.contains(target.as_str()),
                "{name} depends on {target}, which compose.yaml does not define"
            );
            match condition.as_deref() {
                None | Some("service_started" | "service_completed_successfully") => {}
                Some("service_healthy") => assert!(
                    !compose_service(&compose, &target)["healthcheck"].is_null(),
                    "{name} waits for {target} to be healthy, but {target} has no healthcheck"
                ),
                Some(other) => panic!("{name} depends on {target} with unknown condition {other}"),
            }
        }
    }
}

#[test]
fn every_service_publishes_its_port_and_reaches_kafka_from_inside_the_network() {
    let compose = compose();
    for deployed in DEPLOYED {
        let name = deployed.name;
        let port = deployed.port;
        let service = compose_service(&compose, name);
        let ports = ports(service);
        let published = format!("{port}:{port}");
        assert!(
            ports.contains(&published),
            "{name} should publish {published}, has {ports:?}"
        );
        let environment = environment(service);
        let value = |key: &str| {
            let wanted = format!("{}{key}", deployed.prefix);
            environment
                .iter()
                .find(|(variable, _)| *variable == wanted)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(
            value("HTTP__HOST"),
            Some("0.0.0.0"),
            "in a container {name} must listen on every interface"
        );
        assert_eq!(value("KAFKA__BROKERS"), Some("kafka:9092"), "{name}");
        let healthcheck = format!("{:?}", service["healthcheck"]["test"]);
        assert!(
            healthcheck.contains(&format!(":{port}/health/ready")),
            "{name}'s healthcheck should ask /health/ready on {port}, has {healthcheck}"
        );
        assert_eq!(
            scalar(&service["build"]["args"]["SERVICE"]),
            name,
            "the image should be built with SERVICE={name}"
        );
    }
}

#[test]
fn every_dockerfile_compose_builds_from_exists() {
    let compose = compose();
    let mut built = 0;
    for (name, service) in compose_services(&compose) {
        let (context, dockerfile) = match &service["build"] {
            Value::Null => continue,
            Value::String(context) => (context.clone(), "Dockerfile".to_owned()),
            build => (
                build["context"].as_str().unwrap_or(".").to_owned(),
                build["dockerfile"]
                    .as_str()
                    .unwrap_or("Dockerfile")
                    .to_owned(),
            ),
        };
        let path = root().join(context).join(dockerfile);
        assert!(
            path.is_file(),
            "{name} builds from {}, which does not exist",
            path.display()
        );
        built += 1;
    }
    assert!(
        built > 0,
        "no compose service is built from this repository"
    );
}

#[test]
fn the_dockerfile_copies_every_workspace_member() {
    let manifest = read("Cargo.toml");
    let members = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("Cargo.toml lists the workspace members");
    let members: Vec<&str> = members
        .split(',')
        .map(|member| member.trim().trim_matches('"'))
        .filter(|member| !member.is_empty())
        .collect();
    assert!(
        !members.is_empty(),
        "no workspace members found in Cargo.toml"
    );

    let copied: BTreeSet<String> = read(DOCKERFILE)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("COPY "))
        .flat_map(|arguments| {
            let words: Vec<&str> = arguments
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            // Every word but the last (the destination) is a source.
            let sources = words.len().saturating_sub(1);
            words
                .into_iter()
                .take(sources)
                .map(|word| word.trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    for member in members {
        let top = member.split('/').next().unwrap_or(member);
        assert!(
            copied.contains(top),
            "the Dockerfile does not COPY {top}/ (workspace member {member}); cargo cannot load the workspace without it"
        );
    }
}

#[test]
fn every_kubernetes_document_parses_and_is_named() {
    for service in DEPLOYED {
        let file = service.k8s;
        let documents = kubernetes_documents(file);
        assert!(!documents.is_empty(), "{file} has no documents");
        for (index, document) in documents.iter().enumerate() {
            let number = index + 1;
            for (field, value) in [
                ("apiVersion", &document["apiVersion"]),
                ("kind", &document["kind"]),
                ("metadata.name", &document["metadata"]["name"]),
            ] {
                assert!(
                    value.as_str().is_some_and(|text| !text.is_empty()),
                    "document {number} of {file} has no {field}"
                );
            }
        }
    }
}

#[test]
fn kubernetes_manifests_include_the_workload_its_service_and_its_scaling_rules() {
    for service in DEPLOYED {
        let documents = kubernetes_documents(service.k8s);
        let kinds: BTreeSet<&str> = documents.iter().map(kind).collect();
        for expected in [
            "ConfigMap",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
        ] {
            assert!(
                kinds.contains(expected),
                "{} lacks a {expected}; it has {kinds:?}",
                service.k8s
            );
        }
    }
}

#[test]
fn deployment_probes_ask_the_health_endpoints_on_the_service_port() {
    for service in DEPLOYED {
        let documents = kubernetes_documents(service.k8s);
        let container = deployment_container(&documents, service.name);
        let container_ports: Vec<u64> = container["ports"]
            .as_sequence()
            .map(|ports| {
                ports
                    .iter()
                    .filter_map(|port| port["containerPort"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        let port = service.port;
        assert!(
            container_ports.contains(&port),
            "{} should expose {port}, has {container_ports:?}",
            service.name
        );
        assert_eq!(
            http_probe(container, "livenessProbe"),
            ("/health/live".to_owned(), port)
        );
        assert_eq!(
            http_probe(container, "readinessProbe"),
            ("/health/ready".to_owned(), port)
        );
        if !container["startupProbe"].is_null() {
            let (path, probe_port) = http_probe(container, "startupProbe");
            assert!(
                path == "/health/live" || path == "/health/ready",
                "the startup probe asks {path}"
            );
            assert_eq!(probe_port, port, "the startup probe should ask port {port}");
        }
    }
}

#[test]
fn every_variable_in_compose_and_kubernetes_is_a_setting_its_service_knows() {
    for service in DEPLOYED {
        // (where it is set, variable name)
        let mut variables: Vec<(String, String)> = Vec::new();
        let compose = compose();
        for (service_name, definition) in compose_services(&compose) {
            for (name, _) in environment(definition) {
                variables.push((format!("{COMPOSE} service {service_name}"), name));
            }
        }
        let documents = kubernetes_documents(service.k8s);
        if let Some(data) = find_kind(&documents, "ConfigMap")["data"].as_mapping() {
            for (name, _) in data {
                variables.push((format!("{} ConfigMap", service.k8s), scalar(name)));
            }
        }
        if let Some(env) = deployment_container(&documents, service.name)["env"].as_sequence() {
            for entry in env {
                variables.push((
                    format!("{} Deployment", service.k8s),
                    scalar(&entry["name"]),
                ));
            }
        }
        variables.retain(|(_, name)| name.starts_with(service.prefix));
        for file in [COMPOSE, service.k8s] {
            assert!(
                variables.iter().any(|(source, _)| source.starts_with(file)),
                "expected {}* variables in {file}",
                service.prefix
            );
        }
        // Each part of PREFIX__SECTION__KEY must be a field the settings declare
        // (`pub section:` … `pub key:`); the service refuses unknown ones at start-up.
        let settings = service
            .settings
            .iter()
            .copied()
            .map(read)
            .collect::<Vec<_>>()
            .join("\n");
        let unknown: Vec<String> = variables
            .iter()
            .filter(|(_, name)| {
                let path = name.strip_prefix(service.prefix).unwrap_or_default();
                path.is_empty()
                    || path.split("__").any(|part| {
                        part.is_empty()
                            || !settings.contains(&format!("pub {}:", part.to_lowercase()))
                    })
            })
            .map(|(source, name)| format!("{name} ({source})"))
            .collect();
        assert!(
            unknown.is_empty(),
            "these variables name no setting of {} (see {:?}): {unknown:?}",
            service.name,
            service.settings
        );
    }
}

/// The observability and tool containers, and the port each publishes for a browser or an
/// exporter on the host.
const SUPPORTING: &[(&str, &str)] = &[
    ("otel-collector", "4318:4318"),
    ("jaeger", "16686:16686"),
    ("prometheus", "9090:9090"),
    ("grafana", "3000:3000"),
    ("loki", "3100:3100"),
    ("alloy", "12345:12345"),
    ("pgweb", "8081:8081"),
    ("kafka-ui", "8080:8080"),
];

/// Containers whose images hold no shell or HTTP client, so Compose cannot check them; the
/// reason is in compose.yaml beside each, and nothing waits for them to be healthy.
const UNCHECKABLE: &[&str] = &["otel-collector", "alloy"];

#[test]
fn compose_runs_the_observability_stack_and_the_tools_on_their_ports() {
    let compose = compose();
    for (name, published) in SUPPORTING {
        let service = compose_service(&compose, name);
        let ports = ports(service);
        assert!(
            ports.iter().any(|port| port == published),
            "{name} should publish {published}, has {ports:?}"
        );
    }
}

#[test]
fn every_long_running_container_has_a_healthcheck_and_a_pinned_image() {
    let compose = compose();
    for (name, service) in compose_services(&compose) {
        if let Some(image) = service["image"]
            .as_str()
            .filter(|_| service["build"].is_null())
        {
            let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
            assert!(
                !tag.is_empty() && tag != "latest" && !tag.contains('/'),
                "{name}'s image {image} is not pinned to a version"
            );
        }
        let one_shot = service["restart"].as_str() == Some("no");
        if one_shot || UNCHECKABLE.contains(&name.as_str()) {
            continue;
        }
        let test = &service["healthcheck"]["test"];
        assert!(
            test.as_sequence().is_some_and(|words| words.len() > 1),
            "{name} has no healthcheck"
        );
    }
}

#[test]
fn compose_and_kubernetes_run_the_kafka_version_of_the_local_stack() {
    // (file, tag) for every Apache Kafka image.
    let mut images: Vec<(String, String)> = kafka_image_tags(&compose())
        .into_iter()
        .map(|tag| (COMPOSE.to_owned(), tag))
        .collect();
    assert!(!images.is_empty(), "{COMPOSE} runs no {KAFKA_IMAGE} image");
    let in_compose = images.len();
    for file in yaml_files(KUBERNETES) {
        for document in kubernetes_documents(&file) {
            for tag in kafka_image_tags(&document) {
                images.push((file.clone(), tag));
            }
        }
    }
    assert!(
        images.len() > in_compose,
        "no file under {KUBERNETES} runs an {KAFKA_IMAGE} image"
    );
    for (file, tag) in &images {
        assert_eq!(
            tag.as_str(),
            KAFKA_VERSION,
            "{file} names {KAFKA_IMAGE}:{tag}, but `cargo xtask up` runs Apache Kafka \
             {KAFKA_VERSION} (test_support::kafka::KAFKA_VERSION): keep them the same"
        );
    }
}

#[test]
fn every_file_compose_mounts_from_the_repository_exists() {
    let compose = compose();
    for (name, service) in compose_services(&compose) {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let source = match volume {
                Value::Mapping(_) => scalar(&volume["source"]),
                short => scalar(short)
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            };
            // .stack/auth is made by `cargo xtask token` on the host (see compose.yaml).
            let Some(relative) = source.strip_prefix("./") else {
                continue;
            };
            if relative.starts_with(".stack/") {
                continue;
            }
            assert!(
                root().join(relative).exists(),
                "{name} mounts ./{relative}, which does not exist"
            );
        }
    }
}

#[test]
fn every_service_is_configured_for_its_containers_and_exports_traces_and_is_scraped() {
    let compose = compose();
    let prometheus = read("deploy/prometheus/prometheus.yml");
    let collector = read("deploy/otel-collector/config.yaml");
    assert!(
        collector.contains("endpoint: 0.0.0.0:4318"),
        "the collector does not receive OTLP/HTTP on 4318"
    );
    for deployed in DEPLOYED {
        let name = deployed.name;
        let environment = environment(compose_service(&compose, name));
        let set = |variable: &str| {
            environment
                .iter()
                .find(|(key, _)| key == variable)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(
            set("OTEL_EXPORTER_OTLP_ENDPOINT").as_deref(),
            Some("http://otel-collector:4318"),
            "{name} should export its spans to the collector"
        );
        assert!(set("RUST_LOG").is_some(), "{name} sets no RUST_LOG");
        // The settings whose defaults (127.0.0.1, the local key files) are wrong in a
        // container: each must be set.
        let mut required = vec![
            "HTTP__HOST",
            "HTTP__PORT",
            "AUTH__JWKS_FILE",
            "KAFKA__BROKERS",
        ];
        if !deployed.databases.is_empty() {
            required.extend([
                "DATABASE__HOST",
                "DATABASE__PORT",
                "DATABASE__USERNAME",
                "DATABASE__PASSWORD",
                "DATABASE__DATABASE_NAME",
            ]);
        }
        if deployed.databases.len() > 1 {
            required.extend([
                "EVENT_STORE__HOST",
                "EVENT_STORE__PORT",
                "EVENT_STORE__USERNAME",
                "EVENT_STORE__PASSWORD",
                "EVENT_STORE__DATABASE_NAME",
            ]);
        }
        required.extend_from_slice(deployed.required);
        for key in required {
            let variable = format!("{}{key}", deployed.prefix);
            assert!(set(&variable).is_some(), "{name} does not set {variable}");
        }
        assert!(
            prometheus.contains(&format!("job_name: {name}"))
                && prometheus.contains(&format!("\"{name}:{}\"", deployed.port)),
            "deploy/prometheus/prometheus.yml does not scrape {name} on {}",
            deployed.port
        );
    }
}

/// The deployed service called `name`.
fn deployed(name: &str) -> &'static Deployed {
    DEPLOYED
        .iter()
        .find(|service| service.name == name)
        .unwrap_or_else(|| panic!("{name} is not in DEPLOYED"))
}

/// Every variable compose.yaml sets, whichever container it is set in (each service's
/// variables carry its own prefix).
fn compose_variables() -> BTreeMap<String, String> {
    compose_services(&compose())
        .into_iter()
        .flat_map(|(_, service)| environment(service))
        .collect()
}

/// Every variable the deployed services' ConfigMaps set (the Kubernetes base).
fn kubernetes_variables() -> BTreeMap<String, String> {
    DEPLOYED
        .iter()
        .flat_map(|service| {
            let documents = kubernetes_documents(service.k8s);
            find_kind(&documents, "ConfigMap")["data"]
                .as_mapping()
                .into_iter()
                .flatten()
                .map(|(name, value)| (scalar(name), scalar(value)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The gateway's variable for where `service` answers: GATEWAY__SERVICES__USERS_COMMAND for
/// users-command.
fn service_address_variable(service: &str) -> String {
    format!(
        "{}SERVICES__{}",
        deployed(GATEWAY).prefix,
        service.replace('-', "_").to_uppercase()
    )
}

/// The pipelines the gateway follows: its setting, and each service variable that sets the
/// same topic or consumer group.
const PIPELINES: &[(&str, &[&str])] = &[
    (
        "PIPELINES__USERS_TOPIC",
        &["USERS_COMMAND__TOPIC", "USERS_QUERY__TOPIC"],
    ),
    (
        "PIPELINES__ORDERS_TOPIC",
        &[
            "ORDERS_COMMAND__TOPIC",
            "ORDERS_QUERY__TOPIC",
            "SAGA_ORCHESTRATOR__TOPIC",
        ],
    ),
    (
        "PIPELINES__USERS_QUERY_GROUP",
        &["USERS_QUERY__PROJECTOR__GROUP_ID"],
    ),
    (
        "PIPELINES__ORDERS_QUERY_GROUP",
        &["ORDERS_QUERY__PROJECTOR__GROUP_ID"],
    ),
    (
        "PIPELINES__SAGA_GROUP",
        &["SAGA_ORCHESTRATOR__PROJECTOR__GROUP_ID"],
    ),
];

#[test]
fn the_gateway_calls_every_service_where_it_answers_and_follows_their_topics_and_groups() {
    let gateway = deployed(GATEWAY);
    for (file, variables) in [
        (COMPOSE, compose_variables()),
        ("the ConfigMaps of deploy/k8s/base", kubernetes_variables()),
    ] {
        for service in DEPLOYED.iter().filter(|service| service.name != GATEWAY) {
            // A Compose service and a Kubernetes Service are both reached by the service's
            // name, on its port.
            let variable = service_address_variable(service.name);
            assert_eq!(
                variables.get(&variable).map(String::as_str),
                Some(format!("http://{}:{}", service.name, service.port).as_str()),
                "{file}: {variable} should point at {} on {}",
                service.name,
                service.port
            );
        }
        for (setting, sources) in PIPELINES {
            let variable = format!("{}{setting}", gateway.prefix);
            let value = variables
                .get(&variable)
                .unwrap_or_else(|| panic!("{file} does not set {variable}"));
            for source in *sources {
                assert_eq!(
                    variables.get(*source),
                    Some(value),
                    "{file}: {variable} is {value:?}, but {source} says otherwise"
                );
            }
        }
    }
    // Each service's Kubernetes Service carries its name and port, so the addresses resolve.
    for service in DEPLOYED {
        let documents = kubernetes_documents(service.k8s);
        let definition = find_kind(&documents, "Service");
        assert_eq!(
            definition["metadata"]["name"].as_str(),
            Some(service.name),
            "{}'s Service is named otherwise",
            service.k8s
        );
        let ports: Vec<u64> = definition["spec"]["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|port| port["port"].as_u64())
            .collect();
        assert!(
            ports.contains(&service.port),
            "{}'s Service should listen on {}, has {ports:?}",
            service.k8s,
            service.port
        );
    }
}

/// The Dockerfile's instructions as (keyword, arguments): comments left out, continued lines
/// joined.
fn dockerfile_instructions() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read(DOCKERFILE).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (keyword, arguments) = current
                    .split_once(char::is_whitespace)
                    .unwrap_or((current.as_str(), ""));
                instructions.push((keyword.to_uppercase(), arguments.trim().to_owned()));
                current.clear();
            }
        }
    }
    instructions
}

/// One `FROM` of the Dockerfile and what follows it.
struct Stage {
    /// The base image, with the ARGs declared before the first FROM substituted.
    image: String,
    name: Option<String>,
    instructions: Vec<(String, String)>,
}

fn dockerfile_stages() -> Vec<Stage> {
    let mut arguments: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (keyword, rest) in dockerfile_instructions() {
        if keyword == "FROM" {
            let words: Vec<&str> = rest
                .split_whitespace()
                .filter(|word| !word.starts_with("--"))
                .collect();
            let mut image = words.first().copied().unwrap_or_default().to_owned();
            for (name, value) in &arguments {
                image = image.replace(&format!("${{{name}}}"), value);
            }
            let name = match words.as_slice() {
                [_, alias, name] if alias.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                image,
                name,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push((keyword, rest));
        } else if keyword == "ARG"
            && let Some((name, value)) = rest.split_once('=')
        {
            // Declared before the first FROM: usable in FROM lines.
            arguments.insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }
    stages
}

/// A COPY's flags (`--from=…`) and its sources and destination.
fn copy_parts(arguments: &str) -> (Vec<&str>, Vec<&str>, &str) {
    let (flags, paths): (Vec<&str>, Vec<&str>) = arguments
        .split_whitespace()
        .partition(|word| word.starts_with("--"));
    let (destination, sources) = paths.split_last().expect("a COPY has a destination");
    (flags, sources.to_vec(), *destination)
}

#[test]
fn every_file_the_dockerfile_copies_from_the_repository_exists() {
    let mut copied = 0;
    for stage in dockerfile_stages() {
        for (keyword, arguments) in &stage.instructions {
            if keyword != "COPY" {
                continue;
            }
            let (flags, sources, _) = copy_parts(arguments);
            if flags.iter().any(|flag| flag.starts_with("--from=")) {
                continue;
            }
            for source in sources {
                assert!(
                    root().join(source).exists(),
                    "{DOCKERFILE} copies {source}, which does not exist"
                );
                copied += 1;
            }
        }
    }
    assert!(
        copied > 0,
        "{DOCKERFILE} copies nothing from the repository"
    );
}

#[test]
fn the_image_builds_the_console_where_the_gateway_serves_it() {
    let stages = dockerfile_stages();
    let console = stages
        .iter()
        .find(|stage| stage.image.starts_with("node:"))
        .unwrap_or_else(|| panic!("{DOCKERFILE} has no stage on a node image to build console/"));
    let console_name = console
        .name
        .as_deref()
        .expect("the console's stage is named, for the runtime to copy from");

    // The Node it builds with is one console/package.json accepts (`"node": ">=20.19"`).
    let package: serde_json::Value =
        serde_json::from_str(&read("console/package.json")).expect("console/package.json parses");
    let engines = package["engines"]["node"]
        .as_str()
        .expect("console/package.json names the Node it needs");
    let major = |version: &str| -> u64 {
        version
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|digits| digits.parse().ok())
            .unwrap_or_else(|| panic!("no major version in {version:?}"))
    };
    let tag = console.image.trim_start_matches("node:");
    assert!(
        major(tag) >= major(engines),
        "{DOCKERFILE} builds the console on {}, but console/package.json wants Node {engines}",
        console.image
    );

    let runs: Vec<&str> = console
        .instructions
        .iter()
        .filter(|(keyword, _)| keyword == "RUN")
        .map(|(_, arguments)| arguments.as_str())
        .collect();
    for command in ["npm ci", "npm run build"] {
        assert!(
            runs.iter().any(|run| run.contains(command)),
            "the console's stage does not run `{command}`: {runs:?}"
        );
    }
    let workdir = console
        .instructions
        .iter()
        .rev()
        .find(|(keyword, _)| keyword == "WORKDIR")
        .map(|(_, directory)| directory.trim_end_matches('/').to_owned())
        .expect("the console's stage sets a WORKDIR");
    let copies: Vec<(Vec<&str>, &str)> = console
        .instructions
        .iter()
        .filter(|(keyword, _)| keyword == "COPY")
        .map(|(_, arguments)| {
            let (_, sources, destination) = copy_parts(arguments);
            (sources, destination)
        })
        .collect();
    // npm ci installs exactly the lock file's versions.
    assert!(
        copies
            .iter()
            .any(|(sources, _)| sources.contains(&"console/package-lock.json")),
        "the console's stage does not copy console/package-lock.json for npm ci"
    );
    // codegen (part of npm run build) reads the gateway's schema next to console/.
    assert!(
        read("console/codegen.ts").contains("'../gateway/schema.graphql'"),
        "console/codegen.ts no longer reads ../gateway/schema.graphql: update this test and the Dockerfile"
    );
    let parent = workdir
        .rsplit_once('/')
        .map(|(parent, _)| parent)
        .unwrap_or_default();
    let schema = format!("{parent}/gateway/schema.graphql");
    assert!(
        copies.iter().any(|(sources, destination)| {
            sources.contains(&"gateway/schema.graphql")
                && (*destination == schema
                    || destination.trim_end_matches('/') == format!("{parent}/gateway"))
        }),
        "the console's stage should copy gateway/schema.graphql to {schema} (codegen reads it \
         from ../gateway beside {workdir})"
    );

    // The runtime (the last stage) copies what vite wrote (outDir dist) to one place...
    let runtime = stages.last().expect("the Dockerfile has stages");
    let from = format!("--from={console_name}");
    let served: Vec<&str> = runtime
        .instructions
        .iter()
        .filter(|(keyword, _)| keyword == "COPY")
        .filter_map(|(_, arguments)| {
            let (flags, sources, destination) = copy_parts(arguments);
            (flags.contains(&from.as_str())
                && sources.contains(&format!("{workdir}/dist").as_str()))
            .then_some(destination.trim_end_matches('/'))
        })
        .collect();
    let [directory] = served.as_slice() else {
        panic!(
            "the runtime stage should copy {workdir}/dist from the stage {console_name} once, \
             copies it to {served:?}"
        );
    };
    // ...which is where the gateway looks, in Compose and on Kubernetes.
    let variable = format!("{}CONSOLE__DIR", deployed(GATEWAY).prefix);
    for (file, variables) in [
        (COMPOSE, compose_variables()),
        (deployed(GATEWAY).k8s, kubernetes_variables()),
    ] {
        assert_eq!(
            variables.get(&variable).map(String::as_str),
            Some(*directory),
            "{file}'s {variable} should be where the image holds the console"
        );
    }
}
