//! The watched namespaces' Pods, from the one Pod watch the controller keeps (a reflector
//! store over the stream that also triggers reconciles), so resolving a job's targets reads
//! memory instead of listing pods on every reconcile (at 100 jobs that was 17.9 LISTs a
//! second, see bench/results/fleet-50-streams.md).

use std::sync::Mutex;
use std::time::Duration;

use futures::Stream;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};

use crate::selector;

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
        Some(reflector::reflector(writer, watcher(pods, config)).touched_objects())
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
