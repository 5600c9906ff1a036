#!/usr/bin/env bash
# A real Kubernetes control plane for the operator's tests: etcd + kube-apiserver on 127.0.0.1.
#
#   e2e/control-plane.sh up      install what is missing, build or reuse kube-apiserver, start
#                                 etcd and the apiserver, write a kubeconfig, print its export line
#   e2e/control-plane.sh down    stop both and remove everything `up` made (not the build cache)
#   e2e/control-plane.sh build   only install packages and build (or reuse) kube-apiserver
#
# kube-apiserver is built from Debian's own `kubernetes` source package (1.20.2) and cached in
# $TRACEJOB_CACHE (default /var/cache/tracejob) so later runs skip the ~5 minute build. etcd is
# Debian's `etcd-server`. Nothing here names a mirror: the deb-src list is derived at run time
# from this machine's apt sources and kept in a private directory (/etc/apt is left untouched).
set -euo pipefail

CACHE_ROOT=${TRACEJOB_CACHE:-/var/cache/tracejob}
K8S_CACHE=$CACHE_ROOT/k8s-1.20
STATE=${TRACEJOB_CP_DIR:-/tmp/tracejob-control-plane}
ETCD_PORT=${TRACEJOB_ETCD_PORT:-23791}
ETCD_PEER_PORT=${TRACEJOB_ETCD_PEER_PORT:-23801}
API_PORT=${TRACEJOB_API_PORT:-16443}
PACKAGES=(golang-go rsync jq etcd-server golang-github-modern-go-reflect2-dev dpkg-dev openssl curl make)

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "packages missing (${missing[*]}) and not root to install them"
    apt-get update -qq
    # Keep package maintainer scripts from starting a system etcd: ours runs on its own ports.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Writes deb-src versions of this machine's enabled apt sources into $1 (a private apt dir).
derive_deb_src() {
    local dir=$1 f
    mkdir -p "$dir/parts" "$dir/lists/partial"
    : >"$dir/sources.list"
    if [ -f /etc/apt/sources.list ]; then
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' /etc/apt/sources.list >>"$dir/sources.list"
    fi
    for f in /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$f" >>"$dir/sources.list"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # deb822: keep every stanza, with its Types line rewritten to deb-src.
        awk 'BEGIN{IGNORECASE=1} /^Types:/ { print "Types: deb-src"; next } { print }' "$f" \
            >"$dir/parts/$(basename "$f")"
    done
}

fetch_source() {
    local work=$1 apt_dir=$work/apt
    derive_deb_src "$apt_dir"
    local opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=$apt_dir/parts"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
    mkdir -p "$apt_dir/cache/archives/partial"
    # A third-party source without a deb-src side fails its own update; Debian's still lands.
    apt-get "${opts[@]}" update -qq >&2 || log "some deb-src sources failed to update (continuing)"
    (cd "$work" && apt-get "${opts[@]}" source -qq kubernetes >&2)
}

build_apiserver() {
    if [ -x "$K8S_CACHE/bin/kube-apiserver" ] && "$K8S_CACHE/bin/kube-apiserver" --version >/dev/null 2>&1; then
        log "reusing $K8S_CACHE/bin/kube-apiserver"
        return 0
    fi
    install_packages
    mkdir -p "$K8S_CACHE"
    exec 9>"$K8S_CACHE/.build.lock"
    flock 9
    [ -x "$K8S_CACHE/bin/kube-apiserver" ] && return 0
    local work=$K8S_CACHE/build
    rm -rf "$work" && mkdir -p "$work"
    log "fetching Debian's kubernetes source into $work"
    fetch_source "$work"
    local tree
    tree=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'kubernetes-*' | head -n1)
    [ -n "$tree" ] || die "apt-get source kubernetes produced no source tree in $work"
    # The vendored reflect2 v1.0.1 crashes under Go >= 1.18 when a custom object is served.
    rm -rf "$tree/vendor/github.com/modern-go/reflect2"
    cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "$tree/vendor/github.com/modern-go/reflect2"
    mkdir -p "$work/gopath/src/k8s.io"
    ln -sfn "$tree" "$work/gopath/src/k8s.io/kubernetes"
    log "building kube-apiserver (about 5 minutes)"
    (cd "$work/gopath/src/k8s.io/kubernetes" &&
        GOPATH=$work/gopath CGO_ENABLED=0 GOFLAGS=-p=2 nice -n 15 make WHAT=cmd/kube-apiserver >&2)
    local built
    built=$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x | head -n1)
    [ -n "$built" ] || die "the build produced no kube-apiserver binary"
    mkdir -p "$K8S_CACHE/bin"
    cp "$built" "$K8S_CACHE/bin/kube-apiserver.tmp" && mv "$K8S_CACHE/bin/kube-apiserver.tmp" "$K8S_CACHE/bin/kube-apiserver"
    rm -rf "$work"
    log "built $K8S_CACHE/bin/kube-apiserver"
}

make_certs() {
    local d=$STATE/pki
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tracejob-test-ca" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
        -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >"$d/san.ext"
    openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/san.ext" -out "$d/apiserver.crt" 2>/dev/null
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

write_kubeconfig() { # file user token
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tracejob-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $2
  user:
    token: $3
contexts:
- name: tracejob-test
  context: {cluster: tracejob-test, user: $2}
current-context: tracejob-test
EOF
}

start_bg() { # name command...
    local name=$1
    shift
    setsid "$@" >"$STATE/$name.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid"
}

wait_for() { # what seconds command...
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$what not ready after ${secs}s (logs in $STATE)"
}

up() {
    if [ -f "$STATE/kubeconfig" ] && kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
        log "already up"
        echo "export KUBECONFIG=$STATE/kubeconfig"
        return 0
    fi
    install_packages
    build_apiserver
    # Leftovers of a run that died: stop them so nothing stale answers on our ports.
    stop_pid kube-apiserver
    stop_pid etcd
    rm -rf "$STATE" && mkdir -p "$STATE"
    make_certs
    local admin_token operator_token
    admin_token=$(openssl rand -hex 16)
    operator_token=$(openssl rand -hex 16)
    # The admin for tests, and an unprivileged identity the operator can run as to prove its RBAC.
    printf '%s,tracejob-admin,tracejob-admin,"system:masters"\n%s,tracejob-operator,tracejob-operator\n' \
        "$admin_token" "$operator_token" >"$STATE/pki/tokens.csv"
    write_kubeconfig "$STATE/kubeconfig" tracejob-admin "$admin_token"
    write_kubeconfig "$STATE/operator.kubeconfig" tracejob-operator "$operator_token"

    start_bg etcd etcd --name tracejob-test --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "tracejob-test=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
    wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

    start_bg kube-apiserver "$K8S_CACHE/bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --insecure-port 0 \
        --tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
        --client-ca-file "$STATE/pki/ca.crt" --token-auth-file "$STATE/pki/tokens.csv" \
        --authorization-mode RBAC \
        --service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
        --disable-admission-plugins ServiceAccount --allow-privileged=true
    wait_for kube-apiserver 60 kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz
    # RBAC bootstrap policy lands shortly after readyz; the default namespace is needed by tests.
    wait_for "default namespace" 30 kubectl --kubeconfig "$STATE/kubeconfig" get namespace default
    log "up: kube-apiserver https://127.0.0.1:$API_PORT, etcd 127.0.0.1:$ETCD_PORT, state in $STATE"
    echo "export KUBECONFIG=$STATE/kubeconfig"
}

# Running, and not a zombie waiting for a parent that does not reap.
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

stop_pid() { # name
    local f=$STATE/$1.pid pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill "$pid"
        for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -KILL "$pid"; fi
    fi
    rm -f "$f"
}

down() {
    stop_pid kube-apiserver
    stop_pid etcd
    rm -rf "$STATE"
    log "down: stopped and removed $STATE"
}

case "${1:-}" in
up) up ;;
down) down ;;
build) build_apiserver ;;
*) die "usage: $0 up|down|build" ;;
esac
