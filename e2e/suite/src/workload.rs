//! Workload pods whose truth is known: busybox shells that exec a program an exact number of
//! times when told to (a file appears), so a test can start tracing first and count after.

use std::time::Instant;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;

use crate::cluster::{apply, kubectl, wait_until};

/// The image `e2e/images.sh` makes (busybox-static with its applet links), never pulled; or
/// `TRACEJOB_E2E_BUSYBOX_IMAGE` (e.g. a registry's busybox on kind), pulled if absent.
pub fn image() -> (String, &'static str) {
    match std::env::var("TRACEJOB_E2E_BUSYBOX_IMAGE") {
        Ok(image) => (image, "IfNotPresent"),
        Err(_) => ("tracejob/busybox:e2e".to_owned(), "Never"),
    }
}

/// What a counter pod does.
#[derive(Clone, Debug)]
pub struct Counter<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub app: &'a str,
    /// Run every 100 ms until told to go (a heartbeat that shows when tracing begins).
    pub heartbeat: Option<&'a str>,
    /// Exec'd `count` times, by absolute path, once told to go.
    pub program: &'a str,
    pub count: u32,
}

impl Counter<'_> {
    pub fn manifest(&self) -> String {
        let heartbeat = self.heartbeat.unwrap_or(":");
        // `trap` so the pod stops at once on deletion; the loop then idles without exec'ing.
        let script = format!(
            "trap 'exit 0' TERM; \
             until [ -e /tmp/go ]; do {heartbeat}; sleep 0.1; done; \
             i=0; while [ $i -lt {count} ]; do {program}; i=$((i+1)); done; \
             echo done > /tmp/done; \
             while :; do sleep 1; done",
            count = self.count,
            program = self.program,
        );
        format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {namespace}
  labels: {{app: {app}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: counter
    image: {image}
    imagePullPolicy: {pull}
    command: ["/bin/sh", "-c", {script:?}]
"#,
            name = self.name,
            namespace = self.namespace,
            app = self.app,
            image = image().0,
            pull = image().1,
        )
    }

    /// Creates the pod; returns when it was asked for.
    pub fn create(&self) -> Instant {
        let asked = Instant::now();
        apply(&self.manifest()).unwrap_or_else(|e| panic!("cannot create pod {}: {e}", self.name));
        asked
    }

    pub async fn wait_running(&self, client: &Client) {
        let api: Api<Pod> = Api::namespaced(client.clone(), self.namespace);
        let name = self.name;
        wait_until(&format!("pod {name} Running"), crate::WAIT, || {
            let api = api.clone();
            async move {
                let pod = api.get_opt(name).await.ok().flatten()?;
                let phase = pod.status?.phase?;
                (phase == "Running").then_some(())
            }
        })
        .await;
    }

    /// Tells the pod to run its program `count` times and waits until it has.
    pub async fn go_and_wait(&self) {
        kubectl(
            &[
                "exec",
                "-n",
                self.namespace,
                self.name,
                "--",
                "touch",
                "/tmp/go",
            ],
            None,
        )
        .unwrap_or_else(|e| panic!("cannot tell pod {} to go: {e}", self.name));
        let (namespace, name) = (self.namespace, self.name);
        wait_until(&format!("pod {name} done"), crate::WAIT, || async move {
            kubectl(
                &["exec", "-n", namespace, name, "--", "cat", "/tmp/done"],
                None,
            )
            .ok()
            .map(|_| ())
        })
        .await;
    }
}

/// The container ids of a pod (`containerd://...`), as the operator sees them.
pub async fn container_ids(client: &Client, namespace: &str, name: &str) -> Vec<String> {
    let pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("cannot read pod {name}: {e}"));
    pod.status
        .and_then(|s| s.container_statuses)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.container_id)
        .collect()
}
