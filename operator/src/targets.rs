//! From the pods a selector returned to the containers to trace, grouped by node.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Pod;
use tracejob_api::TraceJobSpec;

use crate::agents::ContainerTarget;

/// The containers a job traces, by node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    pub by_node: BTreeMap<String, Vec<ContainerTarget>>,
}

impl Targets {
    pub fn pods(&self) -> usize {
        self.by_node.keys().map(|node| self.pods_on(node)).sum()
    }

    pub fn pods_on(&self, node: &str) -> usize {
        self.by_node
            .get(node)
            .map(|targets| {
                targets
                    .iter()
                    .map(|t| &t.pod_uid)
                    .collect::<BTreeSet<_>>()
                    .len()
            })
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

/// Picks the traceable containers of `pods` (already filtered by the label selector):
/// Running pods that are not being deleted, on an eligible node (`None`: every node), whose
/// running containers are named in `spec.containers` (empty: all) and have a container id.
pub fn resolve(
    pods: &[Pod],
    spec: &TraceJobSpec,
    eligible_nodes: Option<&BTreeSet<String>>,
) -> Targets {
    let mut by_node: BTreeMap<String, Vec<ContainerTarget>> = BTreeMap::new();
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(status) = &pod.status else { continue };
        if status.phase.as_deref() != Some("Running") {
            continue;
        }
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        if eligible_nodes.is_some_and(|nodes| !nodes.contains(&node)) {
            continue;
        }
        let containers = status.container_statuses.iter().flatten().filter(|c| {
            (spec.containers.is_empty() || spec.containers.contains(&c.name))
                && c.state.as_ref().is_some_and(|s| s.running.is_some())
        });
        for container in containers {
            let Some(container_id) = container.container_id.clone().filter(|id| !id.is_empty())
            else {
                continue;
            };
            by_node
                .entry(node.clone())
                .or_default()
                .push(ContainerTarget {
                    pod: pod.metadata.name.clone().unwrap_or_default(),
                    pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
                    container: container.name.clone(),
                    container_id,
                });
        }
    }
    for targets in by_node.values_mut() {
        targets.sort();
    }
    Targets { by_node }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, phase: &str, containers: &[(&str, Option<&str>)]) -> Pod {
        let statuses: Vec<_> = containers
            .iter()
            .map(|(c, id)| {
                json!({"name": c, "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                       "containerID": id, "state": {"running": {}}})
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}")},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase, "containerStatuses": statuses}
        }))
        .expect("a valid pod")
    }

    #[test]
    fn only_running_containers_with_ids_are_targets_grouped_by_node() {
        let pods = [
            pod(
                "a",
                "n1",
                "Running",
                &[
                    ("server", Some("containerd://aa")),
                    ("sidecar", Some("containerd://ab")),
                ],
            ),
            pod("b", "n2", "Running", &[("server", Some("containerd://bb"))]),
            pod("c", "n2", "Pending", &[("server", Some("containerd://cc"))]),
            pod("d", "n3", "Running", &[("server", None)]),
        ];
        let targets = resolve(&pods, &TraceJobSpec::default(), None);
        assert_eq!(targets.by_node.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(targets.by_node["n1"].len(), 2);
        assert_eq!(targets.pods(), 2);
        assert_eq!(targets.pods_on("n1"), 1);
    }

    #[test]
    fn container_names_and_node_eligibility_narrow_the_targets() {
        let pods = [
            pod(
                "a",
                "n1",
                "Running",
                &[
                    ("server", Some("containerd://aa")),
                    ("sidecar", Some("containerd://ab")),
                ],
            ),
            pod("b", "n2", "Running", &[("server", Some("containerd://bb"))]),
        ];
        let spec = TraceJobSpec {
            containers: vec!["server".into()],
            ..TraceJobSpec::default()
        };
        let eligible: BTreeSet<String> = ["n1".to_owned()].into();
        let targets = resolve(&pods, &spec, Some(&eligible));
        assert_eq!(targets.by_node.len(), 1);
        assert_eq!(targets.by_node["n1"][0].container_id, "containerd://aa");
        assert_eq!(targets.by_node["n1"].len(), 1);
    }
}
