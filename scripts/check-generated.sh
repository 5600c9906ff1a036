#!/usr/bin/env bash
# Fails when a generated file differs from what `make generate` would write.
set -euo pipefail
make --no-print-directory generate >/dev/null
if ! git diff --exit-code --stat -- node-agent/src/syscall_table.rs crds/ 2>/dev/null; then
  echo "generated files are stale: run \`make generate\` and commit the result" >&2
  exit 1
fi
