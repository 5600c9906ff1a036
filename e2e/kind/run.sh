#!/usr/bin/env bash
# The end-to-end suite on a kind cluster, for CI systems with a container engine:
#   1. build tracejob/operator:e2e and tracejob/agent:e2e with docker (docker/*.Dockerfile),
#   2. create the kind cluster (kind-config.yaml) unless it exists, load both images,
#   3. helm install the chart with the e2e images (pullPolicy Never),
#   4. run `cargo test -p tracejob-e2e -- --ignored` with KUBECONFIG on that cluster.
# KEEP_CLUSTER=1 leaves the cluster up afterwards; otherwise it is deleted on exit.
# Needs docker, kind, kubectl, helm (scripts/helm.sh installs one) and cargo. It cannot run
# on machines without a container engine: see README.md beside this file.
set -euo pipefail
cd "$(dirname "$0")/../.."

cluster=${KIND_CLUSTER:-tracejob-e2e}
namespace=tracejob-system
tag=e2e
log() { printf '[kind-e2e] %s\n' "$*" >&2; }

for tool in docker kind kubectl cargo; do
  command -v "$tool" >/dev/null || { log "error: $tool is not installed"; exit 1; }
done
docker info >/dev/null 2>&1 || { log "error: no container engine answers (docker info failed)"; exit 1; }
helm=$(command -v helm || bash scripts/helm.sh)

log "building images"
docker build -f docker/operator.Dockerfile -t "tracejob/operator:$tag" .
docker build -f docker/agent.Dockerfile -t "tracejob/agent:$tag" .

kubeconfig=$(mktemp)
cleanup() {
  rm -f "$kubeconfig"
  [ "${KEEP_CLUSTER:-0}" = 1 ] || kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! kind get clusters | grep -qx "$cluster"; then
  log "creating kind cluster $cluster"
  kind create cluster --name "$cluster" --config e2e/kind/kind-config.yaml --wait 120s
fi
kind get kubeconfig --name "$cluster" >"$kubeconfig"
export KUBECONFIG=$kubeconfig

log "loading images"
kind load docker-image --name "$cluster" "tracejob/operator:$tag" "tracejob/agent:$tag"

log "installing the chart"
"$helm" upgrade --install tracejob charts/tracejob --namespace "$namespace" --create-namespace \
  --set operator.image.tag=$tag --set agent.image.tag=$tag \
  --set operator.image.pullPolicy=Never --set agent.image.pullPolicy=Never \
  --wait --timeout 5m
kubectl -n "$namespace" rollout status daemonset/tracejob-agent --timeout=120s

log "running the e2e suite"
export TRACEJOB_REQUIRE_ALL=1 TRACEJOB_HELM=$helm
cargo test -p tracejob-e2e -- --ignored --test-threads=1
