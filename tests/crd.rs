//! `crds/` must hold exactly what `social-connection-operator crd` prints, so the committed CRD
//! never drifts from the Rust types (regenerate with
//! `cargo run -q -- crd > crds/socialconnections.social.connections.dev.yaml`).

use std::process::Command;

#[test]
fn committed_crd_matches_the_generator() {
    let out = Command::new(env!("CARGO_BIN_EXE_social-connection-operator")).arg("crd").output().expect("run crd");
    assert!(out.status.success(), "crd subcommand failed: {}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/socialconnections.social.connections.dev.yaml");
    let committed = std::fs::read_to_string(path).expect("read crds/");
    assert!(
        generated == committed,
        "crds/ is stale: regenerate it with `cargo run -q -- crd > crds/socialconnections.social.connections.dev.yaml`"
    );
}

#[test]
fn committed_notification_policy_crd_matches_the_generator() {
    let out = Command::new(env!("CARGO_BIN_EXE_social-connection-operator"))
        .args(["crd", "socialnotificationpolicies"])
        .output()
        .expect("run crd socialnotificationpolicies");
    assert!(out.status.success(), "crd subcommand failed: {}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).expect("utf-8");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/socialnotificationpolicies.social.connections.dev.yaml");
    let committed = std::fs::read_to_string(path).expect("read crds/");
    assert!(
        generated == committed,
        "crds/ is stale: regenerate it with `cargo run -q -- crd socialnotificationpolicies > crds/socialnotificationpolicies.social.connections.dev.yaml`"
    );
    assert!(generated.contains("kind: SocialNotificationPolicy\n"), "not the policy CRD");
}

#[test]
fn notification_policy_crd_has_no_spec_defaults_and_requires_receivers() {
    let yaml =
        social_connection_operator::crd::crd_yaml_of(social_connection_operator::config::CrdName::Socialnotificationpolicies).expect("crd");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("yaml");
    let spec = &doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(!serde_yaml::to_string(spec).expect("yaml").contains("default:"), "the spec schema has a default");
    let required = spec["required"].as_sequence().expect("required list");
    assert!(required.iter().any(|r| r.as_str() == Some("receivers")), "receivers must be required");
    let rule = serde_yaml::to_string(&spec["properties"]["receivers"]["items"]["x-kubernetes-validations"]).expect("yaml");
    assert!(rule.contains("exactly one of webhook, slack or email"), "receivers need the one-of rule: {rule}");
}

#[test]
fn crd_writes_no_defaults_into_spec() {
    // GitOps tools must not see drift: defaults live in code, never in the schema.
    let yaml = social_connection_operator::crd::crd_yaml().expect("crd");
    let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("yaml");
    let spec = &doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    assert!(!serde_yaml::to_string(spec).expect("yaml").contains("default:"), "the spec schema has a default");
    let required = spec["required"].as_sequence().expect("required list");
    for field in ["provider", "account", "secretRef"] {
        assert!(required.iter().any(|r| r.as_str() == Some(field)), "{field} must be required");
    }
}

#[test]
fn unknown_providers_are_rejected_by_the_schema_enum() {
    let yaml = social_connection_operator::crd::crd_yaml().expect("crd");
    for p in ["facebook", "instagram-login", "google-business-profile", "tiktok"] {
        assert!(yaml.contains(&format!("- {p}\n")), "enum lacks {p}");
    }
}
