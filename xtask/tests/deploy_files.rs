//! The deployment files parse and agree with the code: `compose.yaml`, the Dockerfile it
//! builds from and `deploy/k8s/<service>.yaml`. Docker and Kubernetes cannot run in CI,
//! so these checks stand in for them; nothing here starts a process or touches the network.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

const COMPOSE: &str = "compose.yaml";
const DOCKERFILE: &str = "deploy/docker/Dockerfile";
const INIT_DATABASES: &str = "deploy/compose/init-databases.sql";
/// A service with deployment files, and where its settings are declared: each
/// `__`-separated part of one of its variables is a field of one of these structs.
struct Deployed {
    name: &'static str,
    port: u64,
    k8s: &'static str,
    settings: &'static [&'static str],
    prefix: &'static str,
    /// The topic it publishes or consumes, which the Compose stack must create.
    topic: &'static str,
    /// The databases it connects to, which the Compose stack must create.
    databases: &'static [&'static str],
}

const DEPLOYED: &[Deployed] = &[
    Deployed {
        name: "users-command",
        port: 5001,
        k8s: "deploy/k8s/users-command.yaml",
        settings: &[
            "users-command/src/settings.rs",
            "crates/command-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "USERS_COMMAND__",
        topic: "users.events",
        databases: &["users_es"],
    },
    Deployed {
        name: "users-query",
        port: 5011,
        k8s: "deploy/k8s/users-query.yaml",
        settings: &[
            "users-query/src/settings.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "USERS_QUERY__",
        topic: "users.events",
        databases: &["users_read", "users_es"],
    },
    Deployed {
        name: "orders-command",
        port: 5002,
        k8s: "deploy/k8s/orders-command.yaml",
        settings: &[
            "orders-command/src/settings.rs",
            "crates/command-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "ORDERS_COMMAND__",
        topic: "orders.events",
        databases: &["orders_es"],
    },
    Deployed {
        name: "orders-query",
        port: 5012,
        k8s: "deploy/k8s/orders-query.yaml",
        settings: &[
            "orders-query/src/settings.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "ORDERS_QUERY__",
        topic: "orders.events",
        databases: &["orders_read", "orders_es"],
    },
    Deployed {
        name: "saga-orchestrator",
        port: 5020,
        k8s: "deploy/k8s/saga-orchestrator.yaml",
        settings: &[
            "saga-orchestrator/src/settings.rs",
            // The `saga` section, and the `users` and `orders` sections.
            "saga-orchestrator/src/driver.rs",
            "saga-orchestrator/src/resilience.rs",
            "crates/query-kit/src/settings.rs",
            "crates/service-kit/src/settings.rs",
            // The `auth` section.
            "crates/service-kit/src/auth.rs",
        ],
        prefix: "SAGA_ORCHESTRATOR__",
        topic: "orders.events",
        databases: &["saga", "orders_es"],
    },
];

/// The repository root: the parent of `xtask/`.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

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
        assert!(
            job.contains(&format!("--topic {}", service.topic)),
            "kafka-init does not create {}, which {} uses: {job}",
            service.topic,
            service.name
        );
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
