//! The checklist for adding a bounded context (docs/CONTRIBUTING.md), checked: every context
//! of the workspace (a `<context>-domain` crate) has each piece the checklist names, and the
//! pieces agree with the defaults its services declare. A step left out fails here with the
//! file to edit.

mod common;

use common::{read, root};

/// The contexts: one per `<context>-domain` member of the workspace.
fn contexts() -> Vec<String> {
    let manifest = read("Cargo.toml");
    let mut contexts: Vec<String> = manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix("\","))
        .filter_map(|member| member.strip_suffix("-domain").map(str::to_owned))
        .collect();
    contexts.sort();
    contexts
}

/// The value of `const NAME: … = value;` in a service's `src/lib.rs`, unquoted.
fn constant(service: &str, name: &str) -> String {
    let source = read(&format!("{service}/src/lib.rs"));
    let line = source
        .lines()
        .find(|line| line.trim_start().starts_with(&format!("const {name}:")))
        .unwrap_or_else(|| panic!("{service}/src/lib.rs declares const {name}"));
    let value = line.split_once('=').expect("a constant has a value").1;
    value
        .trim()
        .trim_end_matches(';')
        .trim_matches('"')
        .to_owned()
}

#[test]
fn the_workspace_has_the_two_contexts_the_system_is_built_from() {
    assert_eq!(contexts(), vec!["orders", "users"]);
}

#[test]
fn every_context_has_its_domain_command_and_query_crates_and_its_contract() {
    let manifest = read("Cargo.toml");
    for context in contexts() {
        for member in ["domain", "command", "query"] {
            let crate_name = format!("{context}-{member}");
            assert!(
                manifest.contains(&format!("\"{crate_name}\"")),
                "Cargo.toml lists the member {crate_name}"
            );
        }
        let proto = format!("proto/proto/cqrs/{context}/v1/{context}.proto");
        assert!(root().join(&proto).is_file(), "{proto} exists");
        assert!(
            read("proto/proto/cqrs/events/v1/envelope.proto")
                .contains(&format!("cqrs/{context}/v1/{context}.proto")),
            "the envelope imports {proto}"
        );
        assert!(
            read(&format!("{context}-domain/src/lib.rs")).contains("Contract"),
            "{context}-domain exports its EventContract"
        );
        assert!(
            read(&format!("{context}-command/src/lib.rs")).contains("impl CommandContext for"),
            "{context}-command names its context for command-kit"
        );
        assert!(
            read(&format!("{context}-query/src/lib.rs")).contains("impl QueryContext for"),
            "{context}-query names its context for query-kit"
        );
    }
}

#[test]
fn every_command_service_runs_the_shared_invariant_tests() {
    for context in contexts() {
        let tests = root().join(format!("{context}-command/tests"));
        let runs_them = std::fs::read_dir(&tests)
            .unwrap_or_else(|error| panic!("reading {}: {error}", tests.display()))
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("mod.rs")).ok())
            .any(|common| {
                common.contains("test_support::invariants")
                    && common.contains("impl CommandContext for")
            });
        assert!(
            runs_them,
            "{context}-command/tests/common implements test_support::invariants::CommandContext"
        );
    }
}

#[test]
fn the_local_stack_deployments_and_tools_know_every_context_at_its_declared_defaults() {
    let stack = read("xtask/src/stack.rs");
    let services = read("xtask/src/services.rs");
    let compose = read("compose.yaml");
    let kustomization = read("deploy/k8s/base/kustomization.yaml");
    let jobs = read("deploy/k8s/base/jobs.yaml");
    let prometheus = read("deploy/prometheus/prometheus.yml");
    let esctl = read("esctl/src/context.rs");
    let readme = read("README.md");
    for context in contexts() {
        let command = format!("{context}-command");
        let query = format!("{context}-query");
        let topic = constant(&command, "TOPIC");
        assert_eq!(topic, constant(&query, "TOPIC"), "{context}: one topic");
        assert!(
            stack.contains(&format!("(\"{topic}\"")),
            "xtask TOPICS has {topic}"
        );
        assert!(
            jobs.contains(&topic),
            "deploy/k8s/base/jobs.yaml creates {topic}"
        );
        assert!(
            compose.contains(&format!("--topic {topic}")),
            "compose creates {topic}"
        );
        for (service, databases) in [
            (&command, vec![constant(&command, "DATABASE")]),
            (
                &query,
                vec![
                    constant(&query, "DATABASE"),
                    constant(&query, "EVENT_STORE"),
                ],
            ),
        ] {
            let port = constant(service, "PORT");
            assert!(
                services.contains(&format!("name: \"{service}\"")),
                "xtask/src/services.rs runs {service}"
            );
            assert!(
                services.contains(&format!("port: {port},")),
                "xtask runs {service} on its port {port}"
            );
            for database in databases {
                assert!(
                    stack.contains(&format!("\"{database}\"")),
                    "xtask DATABASES has {database}"
                );
            }
            assert!(
                compose.contains(&format!("\n  {service}:\n")),
                "compose.yaml runs {service}"
            );
            assert!(
                kustomization.contains(&format!("- {service}.yaml")),
                "deploy/k8s/base/kustomization.yaml includes {service}.yaml"
            );
            assert!(
                prometheus.contains(&format!("\"{service}:{port}\"")),
                "deploy/prometheus/prometheus.yml scrapes {service} on {port}"
            );
            assert!(
                readme.contains(&format!("`{service}/`")),
                "README's map lists {service}/"
            );
        }
        let variant = format!("{}{},", context[..1].to_uppercase(), &context[1..]);
        assert!(
            esctl.contains(&variant),
            "esctl/src/context.rs has the context {variant}"
        );
    }
}

/// The `[dependencies]` of a member's manifest.
fn dependencies(member: &str) -> Vec<String> {
    let manifest = read(&format!("{member}/Cargo.toml"));
    let Some((_, rest)) = manifest.split_once("[dependencies]") else {
        return Vec::new();
    };
    rest.lines()
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split(['.', '=', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn domain_crates_and_what_they_stand_on_depend_on_no_web_database_or_broker_crate() {
    // Workspace crates a domain may stand on, and where they live.
    let workspace = [("domain-kit", "crates/domain-kit"), ("contracts", "proto")];
    // Everything else a domain (or those) may use: no I/O among them.
    let allowed = [
        "chrono",
        "cqrs-es",
        "prost",
        "prost-types",
        "serde",
        "serde_json",
        "thiserror",
        "uuid",
    ];
    for context in contexts() {
        let mut pending = vec![format!("{context}-domain")];
        let mut checked = Vec::new();
        while let Some(member) = pending.pop() {
            for dependency in dependencies(&member) {
                match workspace.iter().find(|(name, _)| *name == dependency) {
                    Some((_, path)) if !checked.contains(&path.to_string()) => {
                        pending.push(path.to_string());
                    }
                    Some(_) => {}
                    None => assert!(
                        allowed.contains(&dependency.as_str()),
                        "{member} depends on {dependency}: a domain stays free of adapters"
                    ),
                }
            }
            checked.push(member);
        }
    }
}

/// A default of the gateway's settings: the value after `field:` in a `Default` of
/// `gateway/src/settings.rs`, unquoted.
fn gateway_default(field: &str) -> String {
    let source = read("gateway/src/settings.rs");
    let line = source
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("gateway/src/settings.rs gives {field} a default"));
    line[field.len() + 1..]
        .trim()
        .trim_end_matches(',')
        .trim_end_matches(".into()")
        .trim_matches('"')
        .to_owned()
}

#[test]
fn the_gateway_calls_every_context_and_follows_its_pipeline_at_their_declared_defaults() {
    // `cargo xtask up` runs the gateway without overrides: its defaults must be the services'.
    for context in contexts() {
        let command = format!("{context}-command");
        let query = format!("{context}-query");
        for service in [&command, &query] {
            let field = service.replace('-', "_");
            assert_eq!(
                gateway_default(&field),
                format!("http://127.0.0.1:{}", constant(service, "PORT")),
                "the gateway's default {field} should be {service} on its port"
            );
        }
        assert_eq!(
            gateway_default(&format!("{context}_topic")),
            constant(&command, "TOPIC"),
            "the gateway follows {context}'s topic"
        );
        assert_eq!(
            gateway_default(&format!("{context}_query_group")),
            constant(&query, "GROUP"),
            "the gateway follows {query}'s consumer group"
        );
    }
    let saga = read("saga-orchestrator/src/settings.rs");
    let saga_port = saga
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("port: "))
        .map(|port| port.trim_end_matches(','))
        .expect("saga-orchestrator/src/settings.rs gives port a default");
    assert_eq!(
        gateway_default("saga_orchestrator"),
        format!("http://127.0.0.1:{saga_port}")
    );
    assert!(
        saga.contains(&format!("for_group(\"{}\")", gateway_default("saga_group"))),
        "the gateway follows saga-orchestrator's consumer group"
    );
}

#[test]
fn the_local_stack_and_the_deployments_run_the_gateway_on_its_declared_port() {
    let port = gateway_default("port");
    let services = read("xtask/src/services.rs");
    assert!(
        services.contains("name: \"gateway\"")
            && services.contains(&format!("port: {port},"))
            && read("gateway/src/settings.rs").contains("ENV_PREFIX: &str = \"GATEWAY\"")
            && services.contains("env_prefix: \"GATEWAY\""),
        "xtask/src/services.rs runs the gateway on {port} with the prefix GATEWAY"
    );
    assert!(
        read("compose.yaml").contains("\n  gateway:\n"),
        "compose.yaml runs the gateway"
    );
    assert!(
        root().join("deploy/k8s/base/gateway.yaml").is_file()
            && read("deploy/k8s/base/kustomization.yaml").contains("- gateway.yaml"),
        "deploy/k8s/base/kustomization.yaml includes gateway.yaml"
    );
    assert!(
        read("deploy/prometheus/prometheus.yml").contains(&format!("\"gateway:{port}\"")),
        "deploy/prometheus/prometheus.yml scrapes the gateway on {port}"
    );
}
