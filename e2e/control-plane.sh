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

LOG_PREFIX=control-plane
STATE=${TRACEJOB_CP_DIR:-/tmp/tracejob-control-plane}
ETCD_PORT=${TRACEJOB_ETCD_PORT:-23791}
ETCD_PEER_PORT=${TRACEJOB_ETCD_PEER_PORT:-23801}
API_PORT=${TRACEJOB_API_PORT:-16443}

# shellcheck source=e2e/lib/common.sh
. "$(dirname "$0")/lib/common.sh"

build_apiserver() { build_k8s kube-apiserver; }

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
    make_front_proxy_certs "$d"
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

up() {
    if [ -f "$STATE/kubeconfig" ] && kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
        log "already up"
        echo "export KUBECONFIG=$STATE/kubeconfig"
        return 0
    fi
    install_packages "${BUILD_PACKAGES[@]}"
    build_apiserver
    # Leftovers of a run that died: stop them so nothing stale answers on our ports.
    stop_pid kube-apiserver
    stop_pid etcd
    rm -rf "$STATE" && mkdir -p "$STATE"
    make_certs
    local admin_token operator_token alice_token bob_token
    admin_token=$(openssl rand -hex 16)
    operator_token=$(openssl rand -hex 16)
    alice_token=$(openssl rand -hex 16)
    bob_token=$(openssl rand -hex 16)
    # The admin for tests, an unprivileged identity the operator can run as to prove its
    # RBAC, and two tenants with no rights until a test grants them some.
    {
        printf '%s,tracejob-admin,tracejob-admin,"system:masters"\n' "$admin_token"
        printf '%s,tracejob-operator,tracejob-operator\n' "$operator_token"
        printf '%s,alice,alice\n%s,bob,bob\n' "$alice_token" "$bob_token"
    } >"$STATE/pki/tokens.csv"
    write_kubeconfig "$STATE/kubeconfig" tracejob-admin "$admin_token"
    write_kubeconfig "$STATE/operator.kubeconfig" tracejob-operator "$operator_token"
    write_kubeconfig "$STATE/alice.kubeconfig" alice "$alice_token"
    write_kubeconfig "$STATE/bob.kubeconfig" bob "$bob_token"

    start_bg etcd etcd --name tracejob-test --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "tracejob-test=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
    wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"

    local front_proxy
    mapfile -t front_proxy < <(front_proxy_flags "$STATE/pki")
    start_bg kube-apiserver "$K8S_CACHE/bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" --insecure-port 0 \
        --tls-cert-file "$STATE/pki/apiserver.crt" --tls-private-key-file "$STATE/pki/apiserver.key" \
        --client-ca-file "$STATE/pki/ca.crt" --token-auth-file "$STATE/pki/tokens.csv" \
        --authorization-mode RBAC \
        --service-account-key-file "$STATE/pki/sa.pub" --service-account-signing-key-file "$STATE/pki/sa.key" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
        --disable-admission-plugins ServiceAccount --allow-privileged=true \
        "${front_proxy[@]}"
    wait_for kube-apiserver 60 kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz
    # RBAC bootstrap policy lands shortly after readyz; the default namespace is needed by tests.
    wait_for "default namespace" 30 kubectl --kubeconfig "$STATE/kubeconfig" get namespace default
    log "up: kube-apiserver https://127.0.0.1:$API_PORT, etcd 127.0.0.1:$ETCD_PORT, state in $STATE"
    echo "export KUBECONFIG=$STATE/kubeconfig"
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
