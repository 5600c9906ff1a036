#!/usr/bin/env bash
# `make chart-install-check`: the chart against a real Kubernetes 1.20 API server (the
# local control plane of e2e/control-plane.sh, on ports of its own; no kubelet, so pods
# never start — `make e2e` runs them; its ports differ from the control plane of
# e2e/ci-operator.sh and the cluster of e2e/cluster.sh). Checks what the API server alone can prove:
#   - every rendered object is accepted by 1.20 (kubernetes-validate starts at 1.25);
#   - the operator's ServiceAccount may get secrets but not list them, may update the
#     leader Lease only in the release namespace;
#   - the operator may review access and read the front proxy's settings (tracejob logs),
#     and may patch pods only in the release namespace;
#   - `helm upgrade` keeps the mTLS and live API certificates (lookup) while changing the release;
#   - `helm uninstall` leaves the CRD and users' TraceJobs in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export TRACEJOB_CP_DIR=${TRACEJOB_CHART_CP_DIR:-/tmp/tracejob-chart-control-plane}
export TRACEJOB_API_PORT=${TRACEJOB_CHART_API_PORT:-36443}
export TRACEJOB_ETCD_PORT=${TRACEJOB_CHART_ETCD_PORT:-43791}
export TRACEJOB_ETCD_PEER_PORT=${TRACEJOB_CHART_ETCD_PEER_PORT:-43801}
release=tracejob
ns=tracejob-system
users=chart-check-users

fail() { echo "chart-install-check: FAILED: $*" >&2; exit 1; }
helm=$(bash scripts/helm.sh)
bash e2e/control-plane.sh up >/dev/null
trap 'bash e2e/control-plane.sh down >/dev/null 2>&1 || true' EXIT
export KUBECONFIG=$TRACEJOB_CP_DIR/kubeconfig

e2e_images=(--set operator.image.tag=e2e --set agent.image.tag=e2e
  --set operator.image.pullPolicy=Never --set agent.image.pullPolicy=Never)
"$helm" install "$release" charts/tracejob --namespace "$ns" --create-namespace "${e2e_images[@]}" >/dev/null
echo "install: every object accepted by $(kubectl version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1)"

sa=system:serviceaccount:$ns:$release-operator
can() { kubectl auth can-i "$@" --as="$sa" 2>/dev/null || true; }
[ "$(can get secrets -n elsewhere)" = yes ] || fail "the operator cannot get secrets"
[ "$(can list secrets -n elsewhere)" = no ] || fail "the operator may list secrets"
[ "$(can get nodes)" = yes ] || fail "the operator cannot get nodes"
[ "$(can update leases.coordination.k8s.io -n "$ns")" = yes ] || fail "the operator cannot update its Lease"
[ "$(can update leases.coordination.k8s.io -n default)" = no ] || fail "the operator may update Leases elsewhere"
[ "$(can create pods -n "$ns")" = no ] || fail "the operator may create pods"
[ "$(can create subjectaccessreviews.authorization.k8s.io)" = yes ] || fail "the operator cannot review access"
[ "$(can get configmap/extension-apiserver-authentication -n kube-system)" = yes ] \
  || fail "the operator cannot read the front proxy's settings"
[ "$(can patch pods -n default)" = no ] || fail "the operator may patch pods outside $ns"
# Asked as a review: kubectl's can-i needs discovery, and no operator serves live.tracejob.io here.
log_review='{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
  "user": "someone", "groups": ["system:authenticated"], "resourceAttributes": {"group": "live.tracejob.io",
  "resource": "tracejobs", "subresource": "log", "verb": "get", "namespace": "any", "name": "job"}}}'
[ "$(kubectl create -o jsonpath='{.status.allowed}' -f - <<<"$log_review" 2>/dev/null)" = true ] \
  || fail "an authenticated user may not ask for a job's log"
echo "rbac: get secrets yes, list secrets no, Leases only in $ns, access reviews yes, pods patched only in $ns"

certs() {
  kubectl -n "$ns" get secret "$release-agent-tls" "$release-operator-tls" "$release-live-tls" \
    -o jsonpath='{range .items[*]}{.data}{"\n"}{end}' | sha256sum
}
before=$(certs)
# The upgrade switches to charts/tracejob/ci/full-values.yaml (storage, two replicas, one
# watched namespace, every optional field), so 1.20 accepts those objects too; the
# ServiceMonitor stays off: this API server has no Prometheus Operator CRDs.
"$helm" upgrade "$release" charts/tracejob --namespace "$ns" -f charts/tracejob/ci/full-values.yaml \
  --set metrics.serviceMonitor.enabled=false >/dev/null
[ "$(certs)" = "$before" ] || fail "helm upgrade replaced the mTLS or live API certificates"
[ "$(kubectl -n "$ns" get deployment "$release-operator" -o jsonpath='{.spec.replicas}')" = 2 ] \
  || fail "helm upgrade did not apply operator.replicas=2"
echo "upgrade: certificates kept, replicas 1 -> 2, full values accepted"

kubectl create namespace "$users" >/dev/null
kubectl -n "$users" apply -f examples/syscalls.yaml >/dev/null
"$helm" uninstall "$release" --namespace "$ns" >/dev/null
kubectl get crd tracejobs.tracejob.io >/dev/null || fail "helm uninstall deleted the CRD"
kubectl -n "$users" get tracejob checkout-syscalls >/dev/null || fail "helm uninstall deleted a user's TraceJob"
echo "uninstall: the CRD and users' TraceJobs remain"
echo "chart-install-check: passed"
