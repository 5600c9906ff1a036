//! The watched namespaces' Pods, from the one Pod watch the controller keeps (a reflector
//! store over the stream that also triggers reconciles), so resolving a job's targets reads
//! memory instead of listing pods on every reconcile (at 100 jobs that was 17.9 LISTs a
//! second, see bench/results/fleet-50-streams.md).

use std::sync::Mutex;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use crate::selector;

/// Drops from a watched pod what neither targeting nor the controller reads (managed
/// fields, annotations, the spec but its node, the status conditions): the cache holds
/// every pod of the watched namespaces, and most of a pod's bytes are those.
pub fn trim(pod: &mut Pod) {
    pod.managed_fields_mut().clear();
    pod.annotations_mut().clear();
    if let Some(spec) = pod.spec.as_mut() {
        *spec = PodSpec {
            node_name: spec.node_name.take(),
            ..PodSpec::default()
        };
    }
    if let Some(status) = pod.status.as_mut() {
        status.conditions = None;
    }
}

/// The Pod cache: filled by the stream [`PodCache::watch`] hands to the controller. Without
/// that watch (a reconcile called directly, in tests or by an embedder) it holds nothing and
/// [`PodCache::watched`] says so: the caller lists pods instead.
pub struct PodCache {
    store: Store<Pod>,
    writer: Mutex<Option<Writer<Pod>>>,
}

impl Default for PodCache {
    fn default() -> Self {
        let (store, writer) = reflector::store();
        PodCache {
            store,
            writer: Mutex::new(Some(writer)),
        }
    }
}

impl std::fmt::Debug for PodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodCache")
            .field("pods", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl PodCache {
    /// The Pod watch, filling the cache as it goes, as the stream of changed pods the
    /// controller maps to the jobs they concern (one per process; `None` once taken).
    pub fn watch(
        &self,
        pods: Api<Pod>,
        config: watcher::Config,
    ) -> Option<impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static> {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        let trimmed = watcher(pods, config).modify(trim);
        Some(reflector::reflector(writer, trimmed).touched_objects())
    }

    /// Whether the controller's watch fills this cache.
    pub fn watched(&self) -> bool {
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Whether the cache holds a full list, waiting at most `limit` for the first one.
    pub async fn synced(&self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.store.wait_until_ready()).await,
            Ok(Ok(()))
        )
    }

    /// The cached pods of `namespace` that `selector` matches (every pod of the namespace
    /// for an absent or empty selector), as a label-selector LIST would return them.
    pub fn matching(&self, namespace: &str, selector: Option<&LabelSelector>) -> Vec<Pod> {
        self.store
            .state()
            .iter()
            .filter(|pod| {
                pod.namespace().as_deref() == Some(namespace)
                    && selector::matches(selector, pod.labels())
            })
            .map(|pod| (**pod).clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &str, name: &str, app: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": namespace, "name": name, "labels": {"app": app}}
        }))
        .expect("a pod")
    }

    #[test]
    fn a_trimmed_pod_is_smaller_and_gives_the_same_targets() {
        let full: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "shop", "name": "web-1", "uid": "u1",
                "labels": {"app": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x".repeat(4000)},
                "managedFields": [{"manager": "kubectl", "operation": "Apply",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:containers": {}}}}]},
            "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "web:1",
                "env": [{"name": "CONFIG", "value": "y".repeat(4000)}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                    "image": "web:1", "imageID": "", "containerID": "containerd://a1",
                    "state": {"running": {}}}]}
        }))
        .expect("a pod");
        let mut trimmed = full.clone();
        trim(&mut trimmed);
        let size = |pod: &Pod| serde_json::to_vec(pod).expect("json").len();
        assert!(
            size(&trimmed) * 10 < size(&full),
            "{} of {} bytes kept",
            size(&trimmed),
            size(&full)
        );
        let spec = serde_json::from_value(serde_json::json!({"tool": "exec"})).expect("a spec");
        let targets = |pod: Pod| crate::targets::resolve(&[pod], &spec, None).by_node;
        assert_eq!(targets(trimmed.clone()), targets(full.clone()));
        assert!(!targets(trimmed.clone()).is_empty());
        assert_eq!(trimmed.labels(), full.labels(), "selectors still match");
    }

    #[test]
    fn the_cached_pods_of_a_job_are_those_of_its_namespace_its_selector_matches() {
        let cache = PodCache::default();
        assert!(!cache.watched(), "no watch was taken");
        {
            let mut writer = cache.writer.lock().expect("the writer");
            let writer = writer.as_mut().expect("a writer");
            writer.apply_watcher_event(&watcher::Event::Init);
            for pod in [
                pod("shop", "web-1", "web"),
                pod("shop", "db-1", "db"),
                pod("other", "web-2", "web"),
            ] {
                writer.apply_watcher_event(&watcher::Event::InitApply(pod));
            }
            writer.apply_watcher_event(&watcher::Event::InitDone);
        }
        let web: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"app": "web"}}))
                .expect("a selector");
        let names = |pods: Vec<Pod>| {
            let mut names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
            names.sort();
            names
        };
        assert_eq!(names(cache.matching("shop", Some(&web))), ["web-1"]);
        assert_eq!(names(cache.matching("shop", None)), ["db-1", "web-1"]);
        assert_eq!(names(cache.matching("empty", None)), Vec::<String>::new());
    }
}
