//! The generated CRD is the committed one, and stays within what Kubernetes 1.20 accepts.

use kube::CustomResourceExt;
use tracejob_api::TraceJob;

const COMMITTED: &str = include_str!("../../crds/tracejob.io_tracejobs.yaml");

#[test]
fn the_generated_crd_is_exactly_the_committed_one() {
    let generated = tracejob_operator::crd::crd_yaml().expect("the CRD serializes");
    assert!(
        generated == COMMITTED,
        "the TraceJob schema changed: review the diff of `make generate-crds` and commit crds/"
    );
}

#[test]
fn the_schema_has_nothing_a_1_20_apiserver_rejects_or_ignores() {
    let crd = serde_json::to_value(TraceJob::crd()).expect("the CRD serializes");
    let text = crd.to_string();
    for word in [
        "\"anyOf\"",
        "\"oneOf\"",
        "\"allOf\"",
        "\"$ref\"",
        "x-kubernetes-validations",
        "\"const\"",
    ] {
        assert!(!text.contains(word), "the schema uses {word}");
    }
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["subresources"]["status"], serde_json::json!({}));
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .iter()
        .map(|c| c["name"].as_str().expect("a column name"))
        .collect();
    assert_eq!(
        columns,
        ["Tool", "Phase", "Pods", "Nodes", "Events", "Lost", "Age"]
    );
}

#[test]
fn every_numeric_spec_field_states_the_bounds_validation_enforces() {
    use tracejob_api::validate::{MAX_EVENTS, MAX_FREQUENCY, MAX_TTL_SECONDS, MIN_FREQUENCY};
    let crd = serde_json::to_value(TraceJob::crd()).expect("the CRD serializes");
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    let bounds = |field: &serde_json::Value| (field["minimum"].as_f64(), field["maximum"].as_f64());
    assert_eq!(
        bounds(&spec["ttlSecondsAfterFinished"]),
        (Some(0.0), Some(MAX_TTL_SECONDS as f64))
    );
    assert_eq!(
        bounds(&spec["args"]["properties"]["frequency"]),
        (
            Some(f64::from(MIN_FREQUENCY)),
            Some(f64::from(MAX_FREQUENCY))
        )
    );
    assert_eq!(
        bounds(&spec["output"]["properties"]["maxEvents"]),
        (Some(0.0), Some(MAX_EVENTS as f64))
    );
    assert_eq!(spec["args"]["properties"]["argTypes"]["maxItems"], 4);
}
