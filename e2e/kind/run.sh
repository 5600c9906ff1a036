#!/usr/bin/env bash
# The end-to-end suite on a kind cluster, for CI systems with a container engine:
#   1. build tracejob/operator:e2e and tracejob/agent:e2e with docker (docker/*.Dockerfile),
#   2. create the one-node kind cluster (kind-config.yaml) unless it exists, load both images,
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

# The suite's workload pods never pull (imagePullPolicy: Never): a stock busybox stands
# in for the image e2e/images.sh packs on machines without an engine.
busybox=${TRACEJOB_E2E_BUSYBOX_IMAGE:-busybox:1.36}
docker image inspect "$busybox" >/dev/null 2>&1 || docker pull "$busybox"

log "loading images"
kind load docker-image --name "$cluster" "tracejob/operator:$tag" "tracejob/agent:$tag" "$busybox"

log "installing the chart"
# The same environment e2e/run.sh gives the suite (its helm tests upgrade this release).
export TRACEJOB_E2E_HELM=$helm
export TRACEJOB_E2E_RELEASE=tracejob
export TRACEJOB_E2E_RELEASE_NAMESPACE=$namespace
export TRACEJOB_E2E_CHART=charts/tracejob
export TRACEJOB_E2E_HELM_ARGS="--set operator.image.tag=$tag --set agent.image.tag=$tag \
--set operator.image.pullPolicy=Never --set agent.image.pullPolicy=Never --set operator.pollSeconds=1"
# shellcheck disable=SC2086 # the values are words
"$helm" upgrade --install "$TRACEJOB_E2E_RELEASE" "$TRACEJOB_E2E_CHART" --namespace "$namespace" \
  --create-namespace --wait --timeout 5m $TRACEJOB_E2E_HELM_ARGS
kubectl get pods -A -o wide

log "running the e2e suite"
export TRACEJOB_REQUIRE_ALL=1
export TRACEJOB_E2E_BUSYBOX_IMAGE=$busybox
cargo test -p tracejob-e2e -- --ignored --test-threads=1
