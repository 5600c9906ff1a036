#!/usr/bin/env bash
# Installs Garage, the S3-compatible object store the storage tests run against, into
# ${TRACEJOB_CACHE:-/var/cache/tracejob}/garage (outside the clone: it takes minutes to build).
# Skips when the binary is already there. Prints the binary's path last.
set -euo pipefail

GARAGE_VERSION=2.5.0
root="${TRACEJOB_CACHE:-/var/cache/tracejob}/garage"
bin="$root/bin/garage"

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then
  echo "$bin"
  exit 0
fi

command -v cargo >/dev/null || { echo "scripts/garage.sh: cargo is needed to build Garage" >&2; exit 1; }
mkdir -p "$root"
echo "building Garage $GARAGE_VERSION into $root (several minutes)" >&2
nice cargo install garage --version "$GARAGE_VERSION" --locked --root "$root" -j "${GARAGE_BUILD_JOBS:-2}" >&2
echo "$bin"
