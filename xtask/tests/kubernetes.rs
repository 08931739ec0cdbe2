//! The Kubernetes deployment renders and is valid: `kubectl kustomize` builds the base and the
//! production overlay, `kubernetes-validate` checks every rendered document against the
//! Kubernetes API schemas, and the rendered overlay has what running it in production needs
//! (probes, resources, graceful termination, autoscaling, disruption budgets, the topic and
//! migration Jobs, pinned images, no placeholder Secret). Nothing here talks to a cluster.
//! `cargo xtask test` installs kubernetes-validate (PyPI, in a virtualenv) when it is missing.

mod common;

use common::root;
use std::collections::BTreeMap;
use std::process::Command;

use serde_yaml_ng::Value;

const BASE: &str = "deploy/k8s/base";
const PRODUCTION: &str = "deploy/k8s/overlays/production";
/// The oldest Kubernetes release the manifests must be valid for (HPA autoscaling/v2, PDB
/// policy/v1 and the other APIs used are all older).
const KUBERNETES_VERSION: &str = "1.30.0";
/// Every Deployment: the five services and the gateway.
const SERVICES: &[&str] = &[
    "users-command",
    "users-query",
    "orders-command",
    "orders-query",
    "saga-orchestrator",
    "gateway",
];
/// The services with a database, each migrated by the Job cqrs-migrate. The gateway has none
/// (`gateway migrate` does nothing), so the Job runs nothing of it.
const MIGRATED: &[&str] = &[
    "users-command",
    "users-query",
    "orders-command",
    "orders-query",
    "saga-orchestrator",
];

fn render(directory: &str) -> String {
    let output = Command::new("kubectl")
        .args(["kustomize", directory])
        .current_dir(root())
        .output()
        .unwrap_or_else(|error| panic!("running kubectl (needed for kustomize): {error}"));
    assert!(
        output.status.success(),
        "kubectl kustomize {directory}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 manifests")
}

fn documents(rendered: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|document| serde::Deserialize::deserialize(document).expect("rendered YAML parses"))
        .filter(|document: &Value| !document.is_null())
        .collect()
}

/// kubernetes-validate: `KUBERNETES_VALIDATE` (set by `cargo xtask test`), else from PATH.
fn validator() -> String {
    std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".to_owned())
}

fn validate(directory: &str) {
    let rendered = render(directory);
    let file = std::env::temp_dir().join(format!(
        "cqrs-{}-{}.yaml",
        directory.replace('/', "-"),
        std::process::id()
    ));
    std::fs::write(&file, &rendered).unwrap();
    let output = Command::new(validator())
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
        .arg(&file)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "running kubernetes-validate: {error}. `cargo xtask test` installs it; or \
                 `pip install kubernetes-validate` and put it on PATH"
            )
        });
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "kubernetes-validate found problems in {directory}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn base_and_production_overlay_render_and_pass_schema_validation() {
    validate(BASE);
    validate(PRODUCTION);
}

#[test]
fn schema_validation_rejects_a_broken_manifest() {
    // So the test above cannot pass by validating nothing.
    let broken = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  backoffLimit: \"six\"\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: x\n          image: x\n          unknownField: 1\n";
    let file = std::env::temp_dir().join(format!("cqrs-broken-{}.yaml", std::process::id()));
    std::fs::write(&file, broken).unwrap();
    let output = Command::new(validator())
        .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
        .arg(&file)
        .output()
        .expect("kubernetes-validate runs");
    let _ = std::fs::remove_file(&file);
    assert!(
        !output.status.success(),
        "a Job with a string backoffLimit was accepted"
    );
}

fn by_kind<'a>(documents: &'a [Value], kind: &str) -> BTreeMap<String, &'a Value> {
    documents
        .iter()
        .filter(|document| document["kind"] == kind)
        .map(|document| {
            (
                document["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                document,
            )
        })
        .collect()
}

#[test]
fn the_production_overlay_runs_every_service_as_production_expects() {
    let documents = documents(&render(PRODUCTION));
    for document in &documents {
        if document["kind"] != "Namespace" {
            assert_eq!(
                document["metadata"]["namespace"].as_str(),
                Some("cqrs"),
                "{} {:?} is not in the cqrs namespace",
                document["kind"].as_str().unwrap_or_default(),
                document["metadata"]["name"]
            );
        }
        if document["kind"] == "Secret" {
            let text = serde_yaml_ng::to_string(document).unwrap();
            assert!(
                !text.contains("REPLACE-ME"),
                "the overlay would apply a placeholder Secret over the real one: {text}"
            );
        }
    }
    let deployments = by_kind(&documents, "Deployment");
    let autoscalers = by_kind(&documents, "HorizontalPodAutoscaler");
    let budgets = by_kind(&documents, "PodDisruptionBudget");
    let services = by_kind(&documents, "Service");
    let mut images = BTreeMap::new();
    for name in SERVICES {
        let deployment = deployments
            .get(*name)
            .unwrap_or_else(|| panic!("no Deployment {name}"));
        let pod = &deployment["spec"]["template"]["spec"];
        assert!(
            pod["terminationGracePeriodSeconds"]
                .as_u64()
                .is_some_and(|seconds| seconds >= 20),
            "{name}: terminationGracePeriodSeconds leaves no time to drain"
        );
        let container = &pod["containers"][0];
        for probe in ["livenessProbe", "readinessProbe"] {
            assert!(!container[probe].is_null(), "{name} has no {probe}");
        }
        assert!(
            !container["lifecycle"]["preStop"].is_null(),
            "{name} has no preStop pause"
        );
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    !container["resources"][bound][resource].is_null(),
                    "{name} has no {bound}.{resource}"
                );
            }
        }
        let image = container["image"].as_str().expect("an image").to_owned();
        let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('/'),
            "{name}'s image {image} is not pinned to a tag"
        );
        images.insert(name.to_string(), image);
        let labels = &deployment["spec"]["selector"]["matchLabels"];
        assert_eq!(
            autoscalers
                .get(*name)
                .map(|hpa| &hpa["spec"]["scaleTargetRef"]["name"]),
            Some(&Value::from(*name)),
            "no HorizontalPodAutoscaler scales {name}"
        );
        let budget = budgets
            .get(*name)
            .unwrap_or_else(|| panic!("no PodDisruptionBudget for {name}"));
        assert_eq!(
            &budget["spec"]["selector"]["matchLabels"], labels,
            "{name}'s PDB selector"
        );
        let service = services
            .get(*name)
            .unwrap_or_else(|| panic!("no Service {name}"));
        assert_eq!(
            &service["spec"]["selector"], labels,
            "{name}'s Service selector"
        );
    }

    let jobs = by_kind(&documents, "Job");
    let topics = jobs.get("cqrs-topics").expect("a topic Job");
    let script = serde_yaml_ng::to_string(&topics["spec"]["template"]["spec"]).unwrap();
    for topic in ["users.events", "orders.events"] {
        assert!(
            script.contains(topic),
            "cqrs-topics does not create {topic}"
        );
    }
    let migrate = jobs.get("cqrs-migrate").expect("a migration Job");
    let containers = migrate["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .expect("containers");
    for name in SERVICES.iter().filter(|name| !MIGRATED.contains(name)) {
        assert!(
            !containers
                .iter()
                .any(|container| container["image"].as_str()
                    == images.get(*name).map(String::as_str)),
            "cqrs-migrate runs {name}, which has no database to migrate"
        );
    }
    for name in MIGRATED {
        let container = containers
            .iter()
            .find(|container| container["image"].as_str() == images.get(*name).map(String::as_str))
            .unwrap_or_else(|| panic!("cqrs-migrate runs nothing with {name}'s image"));
        assert_eq!(
            container["args"],
            Value::from(vec!["migrate"]),
            "{name}'s migration container must run `{name} migrate`"
        );
        let reads_settings = container["envFrom"]
            .as_sequence()
            .into_iter()
            .flatten()
            .any(|source| source["configMapRef"]["name"].as_str() == Some(*name));
        assert!(
            reads_settings,
            "{name}'s migration does not read the service's ConfigMap"
        );
        let deployment = &deployments[*name]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["env"], deployment["env"],
            "{name}'s migration gets other secrets than the service"
        );
    }
}
