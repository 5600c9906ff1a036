//! Label selectors: the query string the API server takes, and matching in memory.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "spec.selector.matchExpressions: operator {0:?} is not In, NotIn, Exists or DoesNotExist"
    )]
    UnknownOperator(String),
    #[error("spec.selector.matchExpressions: key {0:?} with operator {1} needs at least one value")]
    NoValues(String, String),
    #[error("spec.selector.matchExpressions: key {0:?} with operator {1} takes no values")]
    UnexpectedValues(String, String),
}

/// The `labelSelector` query of a selector; an absent or empty selector matches every pod.
pub fn to_query(selector: Option<&LabelSelector>) -> Result<String, SelectorError> {
    let Some(selector) = selector else {
        return Ok(String::new());
    };
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        terms.push(expression(requirement)?);
    }
    Ok(terms.join(","))
}

fn expression(r: &LabelSelectorRequirement) -> Result<String, SelectorError> {
    let values = r.values.clone().unwrap_or_default();
    let needs_values = |op: &str| {
        if values.is_empty() {
            Err(SelectorError::NoValues(r.key.clone(), op.to_owned()))
        } else {
            Ok(values.join(","))
        }
    };
    let no_values = |op: &str| {
        if values.is_empty() {
            Ok(())
        } else {
            Err(SelectorError::UnexpectedValues(
                r.key.clone(),
                op.to_owned(),
            ))
        }
    };
    match r.operator.as_str() {
        "In" => Ok(format!("{} in ({})", r.key, needs_values("In")?)),
        "NotIn" => Ok(format!("{} notin ({})", r.key, needs_values("NotIn")?)),
        "Exists" => no_values("Exists").map(|()| r.key.clone()),
        "DoesNotExist" => no_values("DoesNotExist").map(|()| format!("!{}", r.key)),
        other => Err(SelectorError::UnknownOperator(other.to_owned())),
    }
}

/// Whether `labels` satisfy the selector (an invalid selector matches nothing).
pub fn matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else {
        return true;
    };
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    labels_ok
        && selector.match_expressions.iter().flatten().all(|r| {
            let values = r.values.as_deref().unwrap_or_default();
            let value = labels.get(&r.key);
            match r.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(labels: &[(&str, &str)], expressions: &[(&str, &str, &[&str])]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(
                expressions
                    .iter()
                    .map(|(key, operator, values)| LabelSelectorRequirement {
                        key: key.to_string(),
                        operator: operator.to_string(),
                        values: Some(values.iter().map(|v| v.to_string()).collect()),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn labels_and_expressions_become_one_query() {
        let s = selector(
            &[("app", "web")],
            &[("tier", "In", &["a", "b"]), ("canary", "DoesNotExist", &[])],
        );
        assert_eq!(
            to_query(Some(&s)),
            Ok("app=web,tier in (a,b),!canary".to_owned())
        );
        assert_eq!(to_query(None), Ok(String::new()));
    }

    #[test]
    fn malformed_expressions_are_explained() {
        let s = selector(&[], &[("tier", "In", &[])]);
        assert_eq!(
            to_query(Some(&s)).unwrap_err().to_string(),
            "spec.selector.matchExpressions: key \"tier\" with operator In needs at least one value"
        );
        let s = selector(&[], &[("tier", "Near", &["x"])]);
        assert!(matches!(
            to_query(Some(&s)),
            Err(SelectorError::UnknownOperator(_))
        ));
    }

    #[test]
    fn matching_in_memory_agrees_with_the_query_semantics() {
        let s = selector(&[("app", "web")], &[("tier", "NotIn", &["db"])]);
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(matches(Some(&s), &labels(&[("app", "web")])));
        assert!(matches(
            Some(&s),
            &labels(&[("app", "web"), ("tier", "fe")])
        ));
        assert!(!matches(
            Some(&s),
            &labels(&[("app", "web"), ("tier", "db")])
        ));
        assert!(!matches(Some(&s), &labels(&[("app", "api")])));
        assert!(matches(None, &labels(&[])));
    }
}
