#!/usr/bin/env bash
# Container images without a container engine: docker-archive tarballs (manifest.json,
# config.json, one layer.tar) written by hand, for the one-node cluster of e2e/cluster.sh.
#
#   e2e/images.sh build    write the tarballs into $TRACEJOB_IMAGES_DIR (default /tmp/tracejob-images)
#   e2e/images.sh import   build, then load them into the cluster's containerd (`ctr images import`)
#
# Images:
#   k8s.gcr.io/pause:3.2         the pod sandbox: busybox-static's sh sleeping, exits on TERM, reaps
#   tracejob/busybox:e2e         busybox-static with its applet links, for test workloads
#   tracejob/operator:e2e        the release tracejob-operator + the shared libraries ldd lists
#   tracejob/agent:e2e           the release tracejob-agent, the same way
# The release binaries come from ${CARGO_TARGET_DIR:-target}/release (built here when missing or
# older than the sources: `cargo build --release -p tracejob-operator -p tracejob-node-agent`).
set -euo pipefail
cd "$(dirname "$0")/.."

LOG_PREFIX=images
OUT=${TRACEJOB_IMAGES_DIR:-/tmp/tracejob-images}
TARGET=${CARGO_TARGET_DIR:-target}
TAG=${TRACEJOB_IMAGE_TAG:-e2e}
STATE=$OUT
# shellcheck source=e2e/lib/common.sh
. e2e/lib/common.sh

# Writes $OUT/<file>.tar from the root filesystem in $1: image name $2, JSON entrypoint $3, user $4.
pack() {
    local rootfs=$1 name=$2 entrypoint=$3 user=$4 file work
    file=$OUT/$(printf '%s' "$name" | tr '/:' '__').tar
    work=$(mktemp -d "$OUT/pack.XXXXXX")
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$rootfs" -cf "$work/layer.tar" .
    local diff_id
    diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    cat >"$work/config.json" <<EOF
{"architecture":"amd64","os":"linux",
 "config":{"Entrypoint":$entrypoint,"User":"$user","Env":["PATH=/usr/local/bin:/usr/bin:/bin"]},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]}}
EOF
    printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$name" >"$work/manifest.json"
    tar -C "$work" -cf "$file" manifest.json config.json layer.tar
    rm -rf "$work"
    log "wrote $file ($name, $(du -h "$file" | cut -f1))"
}

# A root filesystem with busybox-static and its applet links in /bin.
busybox_root() {
    local root=$1
    mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
}

# A root filesystem with the binary at /usr/local/bin and every library it loads.
binary_root() {
    local root=$1 binary=$2 lib
    mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc/ssl/certs"
    chmod 1777 "$root/tmp"
    install -m 0755 "$binary" "$root/usr/local/bin/"
    # Symbols stay, DWARF goes: a tenth of the size to write and import.
    strip --strip-debug "$root/usr/local/bin/$(basename "$binary")"
    # The loader and the libraries, at the paths ldd resolves them to (symlinks followed).
    for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    # For TLS to object stores that use public certificates.
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    fi
    printf 'root:x:0:0:root:/root:/bin/false\nnonroot:x:65532:65532:nonroot:/:/bin/false\n' >"$root/etc/passwd"
}

release_binaries() {
    local bin
    for bin in tracejob-operator tracejob-agent; do
        if [ ! -x "$TARGET/release/$bin" ] || [ -n "$(find operator node-agent engine api proto ebpf \
            -newer "$TARGET/release/$bin" -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' -o -name Cargo.toml \) -print -quit)" ]; then
            log "building the release binaries"
            nice cargo build --release -j 2 -p tracejob-operator -p tracejob-node-agent >&2
            return 0
        fi
    done
}

build() {
    [ -x /bin/busybox ] || install_packages busybox-static
    release_binaries
    mkdir -p "$OUT"
    local roots
    roots=$(mktemp -d "$OUT/roots.XXXXXX")

    busybox_root "$roots/pause"
    # PID 1 of every pod sandbox: sleeps until TERM/INT; `wait` also reaps re-parented children.
    pack "$roots/pause" k8s.gcr.io/pause:3.2 \
        '["/bin/sh","-c","trap \"exit 0\" TERM INT; while :; do sleep 3600 & wait $!; done"]' 0

    busybox_root "$roots/busybox"
    pack "$roots/busybox" "tracejob/busybox:$TAG" '["/bin/sh"]' 0

    binary_root "$roots/operator" "$TARGET/release/tracejob-operator"
    pack "$roots/operator" "tracejob/operator:$TAG" '["/usr/local/bin/tracejob-operator"]' 65532

    binary_root "$roots/agent" "$TARGET/release/tracejob-agent"
    pack "$roots/agent" "tracejob/agent:$TAG" '["/usr/local/bin/tracejob-agent"]' 0

    rm -rf "$roots"
}

import() {
    build
    local file
    for file in "$OUT"/*.tar; do
        bash e2e/cluster.sh ctr -n k8s.io images import --no-unpack=false "$file" >&2
    done
    log "imported $(find "$OUT" -name '*.tar' | wc -l) images into the cluster's containerd"
}

case "${1:-}" in
build) build ;;
import) import ;;
*) die "usage: $0 build|import" ;;
esac
