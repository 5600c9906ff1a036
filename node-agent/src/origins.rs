//! Which pod and container each traced cgroup belongs to, so every event of a job names
//! where it came from. Filled from the job's targets whenever they change; read by the
//! thread that moves events onto the stream.

use std::collections::BTreeMap;
use std::sync::RwLock;

use tracejob_api::event::PodEvents;
use tracejob_engine::records::{Event, EventLine, Origin};
use tracejob_engine::summary::{CgroupEvents, Summary};

/// One resolved target: its cgroup id and the pod and container it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<'a> {
    pub cgroup_id: u64,
    pub pod: &'a str,
    pub container: &'a str,
}

type ByCgroup = BTreeMap<u64, Origin>;

#[derive(Debug)]
pub struct Origins {
    namespace: String,
    /// The targets now, and the ones before the last change: events of a removed target
    /// may still be queued when it is removed.
    by_cgroup: RwLock<(ByCgroup, ByCgroup)>,
}

impl Origins {
    /// The job's namespace: every target's pod is in it.
    pub fn new(namespace: &str) -> Self {
        Origins {
            namespace: namespace.to_owned(),
            by_cgroup: RwLock::default(),
        }
    }

    /// Replaces the targets (all of them, as UpdateTargets does); the previous ones are
    /// still known until the next change.
    pub fn set<'a>(&self, targets: impl IntoIterator<Item = Located<'a>>) {
        let named = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
        let by_cgroup = targets
            .into_iter()
            .map(|t| {
                let origin = Origin {
                    namespace: named(&self.namespace),
                    pod: named(t.pod),
                    container: named(t.container),
                    ..Origin::default()
                };
                (t.cgroup_id, origin)
            })
            .collect();
        let mut both = self.by_cgroup.write().unwrap_or_else(|p| p.into_inner());
        both.1 = std::mem::replace(&mut both.0, by_cgroup);
    }

    /// The event with where it came from. An event from a cgroup that was a target two
    /// changes ago, or that lies below a target's cgroup, names the namespace only.
    pub fn line(&self, event: Event) -> EventLine {
        EventLine::new(self.of(event.cgroup_id()), event)
    }

    /// Where events of cgroup `id` come from.
    pub fn of(&self, id: u64) -> Origin {
        let origin = {
            let both = self.by_cgroup.read().unwrap_or_else(|p| p.into_inner());
            both.0.get(&id).or_else(|| both.1.get(&id)).cloned()
        };
        origin.unwrap_or_else(|| Origin {
            namespace: Some(self.namespace.clone()).filter(|n| !n.is_empty()),
            ..Origin::default()
        })
    }
}

impl Origins {
    /// The summary with events per pod in place of its cgroup ids, which mean nothing off
    /// the node.
    pub fn name_pods(&self, summary: Summary) -> Summary {
        Summary {
            pods: self.pods(&summary.cgroups),
            cgroups: Vec::new(),
            ..summary
        }
    }

    /// Events per cgroup (the engine's) as events per namespace, pod and container, most
    /// first; cgroups that are no target's add up under the namespace alone.
    pub fn pods(&self, cgroups: &[CgroupEvents]) -> Vec<PodEvents> {
        let mut by_pod: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
        for cgroup in cgroups {
            let origin = self.of(cgroup.cgroup_id);
            *by_pod.entry((origin.pod, origin.container)).or_default() += cgroup.events;
        }
        let mut pods: Vec<PodEvents> = by_pod
            .into_iter()
            .map(|((pod, container), events)| PodEvents {
                namespace: self.namespace.clone(),
                pod,
                container,
                events,
            })
            .collect();
        pods.sort_by_key(|p| std::cmp::Reverse(p.events));
        pods
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracejob_engine::records::ExecRecord;

    fn exec_in(cgroup_id: u64) -> Event {
        Event::Exec(ExecRecord {
            timestamp_ns: 1,
            cgroup_id,
            pid: 2,
            ppid: 1,
            uid: 0,
            comm: "sh".into(),
            filename: "/bin/sh".into(),
            argv: Vec::new(),
            argv_truncated: false,
            ret: 0,
        })
    }

    #[test]
    fn an_event_names_the_pod_and_container_of_its_cgroup() {
        let origins = Origins::new("shop");
        origins.set([
            Located {
                cgroup_id: 10,
                pod: "web-0",
                container: "app",
            },
            Located {
                cgroup_id: 11,
                pod: "web-1",
                container: "sidecar",
            },
        ]);
        let line = origins.line(exec_in(11));
        assert_eq!(line.origin.namespace.as_deref(), Some("shop"));
        assert_eq!(line.origin.pod.as_deref(), Some("web-1"));
        assert_eq!(line.origin.container.as_deref(), Some("sidecar"));
        assert_eq!(line.origin.node, None, "the operator names the node");
    }

    #[test]
    fn a_removed_target_is_known_until_the_next_change_then_names_the_namespace_only() {
        let origins = Origins::new("shop");
        let web = |cgroup_id, pod| Located {
            cgroup_id,
            pod,
            container: "app",
        };
        origins.set([web(10, "web-0")]);
        origins.set([web(12, "web-2")]);
        assert_eq!(
            origins.line(exec_in(10)).origin.pod.as_deref(),
            Some("web-0"),
            "its events may still be queued"
        );
        origins.set([web(12, "web-2")]);
        let gone = origins.line(exec_in(10));
        assert_eq!(gone.origin.namespace.as_deref(), Some("shop"));
        assert_eq!((gone.origin.pod, gone.origin.container), (None, None));
        assert_eq!(
            origins.line(exec_in(12)).origin.pod.as_deref(),
            Some("web-2")
        );
    }

    #[test]
    fn events_per_cgroup_add_up_per_pod_and_container_most_first() {
        let origins = Origins::new("shop");
        origins.set([
            Located {
                cgroup_id: 10,
                pod: "web-0",
                container: "app",
            },
            Located {
                cgroup_id: 11,
                pod: "web-1",
                container: "app",
            },
        ]);
        let count = |cgroup_id, events| CgroupEvents { cgroup_id, events };
        let pods = origins.pods(&[count(10, 3), count(11, 9), count(99, 1), count(0, 1)]);
        let named: Vec<(Option<&str>, u64)> =
            pods.iter().map(|p| (p.pod.as_deref(), p.events)).collect();
        assert_eq!(
            named,
            [(Some("web-1"), 9), (Some("web-0"), 3), (None, 2)],
            "unknown cgroups add up under the namespace"
        );
        assert!(pods.iter().all(|p| p.namespace == "shop"));
    }
}
