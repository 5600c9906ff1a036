#!/usr/bin/env bash
# Fails when crds/ is not what the API types generate, printing the command that fixes it.
set -euo pipefail
cd "$(dirname "$0")/.."
crd=crds/tracejob.io_tracejobs.yaml
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
cargo run -q -p tracejob-operator --bin crdgen >"$fresh"
if ! diff -u "$crd" "$fresh"; then
    echo >&2
    echo "error: $crd is stale (or hand-edited). Regenerate it with: make generate-crds" >&2
    exit 1
fi
echo "crds/ is up to date"
