//! No input stops a reader of TraceJobs: whatever a tenant writes, `parse_duration`,
//! `validate_spec` and `parse_manifest` answer with an error that names the field, and
//! never panic (the operator runs the same code inside reconcile).

use proptest::prelude::*;
use tracejob_api::{Tool, TraceJobSpec, parse_duration, parse_manifest, validate::validate_spec};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A TraceJob manifest whose spec holds `field: value` besides its tool.
fn manifest(tool: &str, field: &str, value: &str) -> String {
    let spec = match field.split_once('.') {
        Some((outer, inner)) => format!("{{tool: {tool}, {outer}: {{{inner}: {value}}}}}"),
        None => format!("{{tool: {tool}, {field}: {value}}}"),
    };
    format!(
        "apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {{name: t}}\nspec: {spec}\n"
    )
}

/// Up to six `<u64><unit>` terms: each may fit in a `Duration` while their sum does not.
fn terms() -> impl Strategy<Value = String> {
    let unit = proptest::sample::select(vec!["ms", "s", "m", "h"]);
    proptest::collection::vec((any::<u64>(), unit), 1..6).prop_map(|terms| {
        terms
            .into_iter()
            .map(|(number, unit)| format!("{number}{unit}"))
            .collect()
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_string_is_a_duration_or_an_error_quoting_it(input in any::<String>()) {
        if let Err(error) = parse_duration(&input) {
            prop_assert!(error.to_string().contains(&format!("{input:?}")), "{}", error);
        }
    }

    #[test]
    fn durations_the_schema_admits_parse_or_are_too_large(
        input in prop_oneof![
            "([0-9]{1,25}(\\.[0-9]{1,5})?(ms|s|m|h)){1,6}",
            terms(),
        ]
    ) {
        match parse_duration(&input) {
            Ok(_) => {}
            Err(error) => prop_assert_eq!(error.reason, "it is too large"),
        }
    }

    #[test]
    fn any_spec_is_valid_or_an_error_naming_a_spec_field(
        tool in proptest::sample::select(Tool::ALL.to_vec()),
        duration in proptest::option::of(prop_oneof![
            any::<String>(),
            "([0-9]{1,25}(ms|s|m|h)){1,4}",
            terms(),
        ]),
        ttl in proptest::option::of(any::<i64>()),
        frequency in proptest::option::of(any::<u32>()),
        max_events in proptest::option::of(any::<u64>()),
        function in proptest::option::of(any::<String>()),
        binary in proptest::option::of(any::<String>()),
    ) {
        let mut spec = TraceJobSpec {
            tool,
            duration,
            ttl_seconds_after_finished: ttl,
            ..TraceJobSpec::default()
        };
        spec.args.frequency = frequency.filter(|_| tool == Tool::Profile);
        spec.args.function = function;
        spec.args.binary = binary.filter(|_| tool == Tool::Uprobe);
        spec.output.max_events = max_events;
        if let Err(error) = validate_spec(&spec) {
            prop_assert!(error.to_string().starts_with("spec."), "{}", error);
        }
    }

    #[test]
    fn any_text_is_a_manifest_or_an_error(text in any::<String>()) {
        let _ = parse_manifest(&text);
    }

    #[test]
    fn a_manifest_with_any_number_in_a_numeric_field_names_that_field_when_refused(
        field in proptest::sample::select(vec![
            "ttlSecondsAfterFinished",
            "args.frequency",
            "output.maxEvents",
        ]),
        number in any::<i128>(),
    ) {
        let tool = if field == "args.frequency" { "profile" } else { "exec" };
        let name = field.rsplit('.').next().unwrap_or(field);
        if let Err(error) = parse_manifest(&manifest(tool, field, &number.to_string())) {
            prop_assert!(error.to_string().contains(name), "{}: {}", field, error);
        }
    }

    #[test]
    fn a_manifest_with_any_duration_names_the_duration_when_refused(
        duration in prop_oneof![
            "([0-9]{1,25}(\\.[0-9]{1,3})?(ms|s|m|h)){1,6}",
            "[ -~]{0,30}",
            terms(),
        ],
    ) {
        let quoted = serde_json::to_string(&duration).unwrap_or_default();
        if let Err(error) = parse_manifest(&manifest("exec", "duration", &quoted)) {
            prop_assert!(error.to_string().contains("duration"), "{}", error);
        }
    }
}

#[test]
fn the_overflowing_duration_of_the_issue_is_refused_naming_the_field() {
    let yaml = manifest(
        "exec",
        "duration",
        "10000000000000000000s10000000000000000000s",
    );
    let error = parse_manifest(&yaml).expect_err("an overflowing duration is refused");
    assert!(
        error
            .to_string()
            .starts_with("spec.duration: invalid duration"),
        "{error}"
    );
}
