#!/usr/bin/env bash
# CI for the API types and the operator. Runs as root on a fresh Debian 12 machine with the
# Rust toolchain; installs what else it needs (apt), builds or reuses kube-apiserver (cached in
# /var/cache/tracejob), starts its own control plane on its own ports, runs every test with
# TRACEJOB_REQUIRE_ALL=1 (a skip is a failure), and stops the control plane however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

export TRACEJOB_REQUIRE_ALL=1
# A private control plane, so a developer's `make cluster-up` on the same machine is untouched.
export TRACEJOB_CP_DIR=${TRACEJOB_CP_DIR:-/tmp/tracejob-ci-operator}
export TRACEJOB_API_PORT=${TRACEJOB_API_PORT:-16543}
export TRACEJOB_ETCD_PORT=${TRACEJOB_ETCD_PORT:-23891}
export TRACEJOB_ETCD_PEER_PORT=${TRACEJOB_ETCD_PEER_PORT:-23901}
CRATES=(-p tracejob-api -p tracejob-operator)

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

if ! command -v kubectl >/dev/null; then
    step "installing kubectl (Debian's kubernetes-client)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client
fi

step "crds/ is what the API types generate"
bash e2e/check-crds.sh

step "format and lints"
cargo fmt "${CRATES[@]}" --check
cargo clippy "${CRATES[@]}" --all-targets -- -D warnings

step "local control plane (etcd + kube-apiserver from Debian's sources)"
trap 'bash e2e/control-plane.sh down' EXIT
eval "$(bash e2e/control-plane.sh up)"

step "unit, mocked-controller and real-apiserver tests"
cargo test "${CRATES[@]}"
