#!/usr/bin/env bash
# Fails when a generated file differs from what `make generate` would write
# (changed, or new and not committed).
set -euo pipefail
generated=(engine/src/syscall_table.rs crds/ charts/tracejob/crds/ proto/src/generated/)
make --no-print-directory generate >/dev/null
untracked=$(git ls-files --others --exclude-standard -- "${generated[@]}")
if ! git diff --exit-code --stat -- "${generated[@]}" >&2 || [ -n "$untracked" ]; then
  [ -z "$untracked" ] || echo "not in git: $untracked" >&2
  echo "generated files are stale: run \`make generate\` and commit the result" >&2
  exit 1
fi
# kernels/MATRIX.md is written by `make kernel-matrix` (minutes under qemu, not re-run here):
# it must at least come from the pinned kernels, checks and expected refusals of this tree.
bash kernels/table.sh --check
