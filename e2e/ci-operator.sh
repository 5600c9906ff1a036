#!/usr/bin/env bash
# Runs a command with a real local control plane up, then takes it down however it ends.
#
#   bash e2e/ci-operator.sh make test    # .ci/run: the whole test suite, operator tests included
#   bash e2e/ci-operator.sh              # the operator's own checks only (CRD, fmt, clippy, tests)
#
# Runs as root on a fresh Debian 12 machine with the Rust toolchain: installs what else it
# needs (apt), builds or reuses kube-apiserver (cached in /var/cache/tracejob), starts etcd and
# kube-apiserver on their own ports in their own directory (a developer's `make control-plane-up` on
# the same machine is untouched), exports KUBECONFIG and TRACEJOB_REQUIRE_ALL=1 (a skipped
# test is a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

export TRACEJOB_REQUIRE_ALL=1
export TRACEJOB_CP_DIR=${TRACEJOB_CP_DIR:-/tmp/tracejob-ci-operator}
export TRACEJOB_API_PORT=${TRACEJOB_API_PORT:-16543}
export TRACEJOB_ETCD_PORT=${TRACEJOB_ETCD_PORT:-23891}
export TRACEJOB_ETCD_PEER_PORT=${TRACEJOB_ETCD_PEER_PORT:-23901}

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

if ! command -v kubectl >/dev/null; then
    step "installing kubectl (Debian's kubernetes-client)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client
fi

step "local control plane (etcd + kube-apiserver from Debian's sources)"
trap 'bash e2e/control-plane.sh down' EXIT
eval "$(bash e2e/control-plane.sh up)"

if [ $# -gt 0 ]; then
    step "$*"
    "$@"
    exit
fi

crates=(-p tracejob-api -p tracejob-operator)
step "crds/ is what the API types generate"
bash e2e/check-crds.sh
step "format and lints"
cargo fmt "${crates[@]}" --check
cargo clippy "${crates[@]}" --all-targets -- -D warnings
step "unit, mocked-controller and real-apiserver tests"
cargo test "${crates[@]}"
