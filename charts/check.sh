#!/usr/bin/env bash
# `make chart-check`: helm lint, helm template with the default values and with
# charts/tracejob/ci/*.yaml, then strict validation of every rendered object against the
# Kubernetes schemas (kubernetes-validate, installed into a cached venv). ServiceMonitor
# (Prometheus Operator) and Certificate (cert-manager) are custom kinds no Kubernetes schema
# knows: they are left out of that validation; check-certificates.py checks the latter. Also fails when the chart's CRD
# differs from crds/, when its appVersion is not the workspace version, when its RBAC
# strays from operator/deploy/rbac.yaml (check-rbac.py), or when an example does not
# validate against the CRD's schema (validate-examples.py).
set -euo pipefail
cd "$(dirname "$0")/.."

chart=charts/tracejob
cache=${TRACEJOB_CACHE:-/var/cache/tracejob}
venv=$cache/kubernetes-validate
# 1.25 is the oldest schema set kubernetes-validate ships; 1.37 the newest.
versions=(1.25.0 1.37.0)

if ! cmp -s crds/tracejob.io_tracejobs.yaml "$chart/crds/tracejob.io_tracejobs.yaml"; then
  echo "error: $chart/crds/ differs from crds/: run \`make generate\` and commit the result" >&2
  exit 1
fi

# The chart and the images are released together: appVersion is the workspace's version.
workspace_version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
app_version=$(sed -n 's/^appVersion: "\(.*\)"/\1/p' "$chart/Chart.yaml")
if [ -z "$workspace_version" ] || [ "$app_version" != "$workspace_version" ]; then
  echo "error: $chart/Chart.yaml appVersion \"$app_version\" is not the workspace version \"$workspace_version\" (Cargo.toml)" >&2
  exit 1
fi

helm=$(bash scripts/helm.sh)
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'kubernetes-validate==1.37.0'
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$helm" lint --strict "$chart"
cases=(default)
for values in "$chart"/ci/*.yaml; do
  "$helm" lint --strict "$chart" -f "$values"
  cases+=("$values")
done

for case in "${cases[@]}"; do
  args=()
  [ "$case" = default ] || args=(-f "$case")
  name=$(basename "$case" .yaml)
  "$helm" template tracejob "$chart" --namespace tracejob-system "${args[@]}" >"$out/$name.yaml"
  # One object per file, ServiceMonitors aside (see above).
  "$venv/bin/python" - "$out/$name.yaml" "$out/$name" <<'PY'
import os, sys, yaml
src, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest)
kinds = []
for i, doc in enumerate(d for d in yaml.safe_load_all(open(src)) if d):
    kinds.append(doc["kind"])
    if doc["kind"] in ("ServiceMonitor", "Certificate"):
        continue
    with open(os.path.join(dest, f"{i:02d}-{doc['kind']}.yaml"), "w") as f:
        yaml.safe_dump(doc, f)
print(f"{os.path.basename(dest)}: rendered {len(kinds)} objects: {', '.join(sorted(kinds))}")
PY
  for version in "${versions[@]}"; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "$out/$name"/*.yaml
  done
done
"$venv/bin/python" charts/check-certificates.py "$out/cert-manager-values.yaml" "$out/default.yaml"
"$venv/bin/python" charts/check-rbac.py operator/deploy/rbac.yaml "$out/default.yaml"
"$venv/bin/python" charts/validate-examples.py "$chart/crds/tracejob.io_tracejobs.yaml" examples
bash "$chart/argocd/test.sh"
echo "chart-check: lint, template and strict validation (Kubernetes ${versions[*]}) passed"
