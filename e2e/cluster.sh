#!/usr/bin/env bash
# A real one-node Kubernetes cluster on this machine: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and containerd (runc, bridge CNI), all inside a network namespace.
#
#   e2e/cluster.sh up      install what is missing, build or reuse the Kubernetes binaries, start
#                          everything, wait for the node to be Ready, print the KUBECONFIG line
#   e2e/cluster.sh down    stop everything and remove every process, mount, network namespace,
#                          veth, cgroup and directory `up` made (idempotent; also after a failure)
#   e2e/cluster.sh build   only install packages and build (or reuse) the binaries
#   e2e/cluster.sh ctr ... run `ctr` against the cluster's containerd (images import, ...)
#
# The Kubernetes binaries (1.20.2) are built from Debian's `kubernetes` source package and cached
# in $TRACEJOB_CACHE/k8s-1.20, shared with control-plane.sh. The node's address lives on one end of
# a veth pair inside the network namespace, so no cluster traffic reaches the machine's own
# external address; kubectl in the root namespace reaches the apiserver through the other end.
# Processes enter the namespace with `nsenter --net` (not `ip netns exec`, which remounts /sys and
# hides the cgroup, tracefs and bpffs mounts the agent needs).
set -euo pipefail
cd "$(dirname "$0")/.."

LOG_PREFIX=cluster
STATE=${TRACEJOB_CLUSTER_DIR:-/tmp/tracejob-cluster}
NETNS=${TRACEJOB_CLUSTER_NETNS:-tracejob-e2e}
NODE=${TRACEJOB_CLUSTER_NODE:-tracejob-e2e-node}
HOST_IP=${TRACEJOB_CLUSTER_HOST_IP:-10.213.0.1}
NODE_IP=${TRACEJOB_CLUSTER_NODE_IP:-10.213.0.2}
API_PORT=${TRACEJOB_CLUSTER_API_PORT:-26443}
POD_SUBNET=${TRACEJOB_CLUSTER_POD_SUBNET:-10.214.0.0/24}
SERVICE_RANGE=10.96.0.0/16
SERVICE_IP=10.96.0.1 # the `kubernetes` Service: first address of SERVICE_RANGE
VETH_HOST=tj-e2e-host
VETH_NODE=tj-e2e-node
BRIDGE=tj-e2e-cni0
# Inside the namespace: nothing else listens there, but stay off the well-known ports anyway.
ETCD_PORT=33791
ETCD_PEER_PORT=33801
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
K8S_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet)
RUNTIME_PACKAGES=(containerd runc containernetworking-plugins busybox-static iptables iproute2 util-linux bpftool)

# shellcheck source=e2e/lib/common.sh
. e2e/lib/common.sh

NS=(nsenter "--net=/run/netns/$NETNS")
in_ns() { "${NS[@]}" "$@"; }

make_certs() {
    local d=$STATE/pki
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tracejob-e2e-ca" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
    # name subject extensions
    sign() {
        openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
        printf '%s\n' "$3" >"$d/$1.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 2 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
    }
    sign apiserver "/CN=kube-apiserver" \
        "subjectAltName=IP:$NODE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
    sign kubelet "/O=system:nodes/CN=system:node:$NODE" "extendedKeyUsage=clientAuth"
    sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
    sign admin "/O=system:masters/CN=tracejob-e2e-admin" "extendedKeyUsage=clientAuth"
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
    make_front_proxy_certs "$d"
}

write_kubeconfig() { # file user cert-name
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tracejob-e2e
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $STATE/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $STATE/pki/$3.crt
    client-key: $STATE/pki/$3.key
contexts:
- name: tracejob-e2e
  context: {cluster: tracejob-e2e, user: $2}
current-context: tracejob-e2e
EOF
}

make_network() {
    ip netns add "$NETNS"
    ip link add "$VETH_HOST" type veth peer name "$VETH_NODE"
    ip link set "$VETH_NODE" netns "$NETNS"
    ip addr add "$HOST_IP/30" dev "$VETH_HOST"
    ip link set "$VETH_HOST" up
    in_ns ip addr add "$NODE_IP/30" dev "$VETH_NODE"
    in_ns ip link set "$VETH_NODE" up
    in_ns ip link set lo up
    in_ns sysctl -qw net.ipv4.ip_forward=1
    # No kube-proxy: pods reach the `kubernetes` Service through one DNAT rule, as kube-proxy's
    # iptables mode would write it.
    in_ns iptables -t nat -A PREROUTING -d "$SERVICE_IP/32" -p tcp --dport 443 \
        -j DNAT --to-destination "$NODE_IP:$API_PORT"
    in_ns iptables -t nat -A OUTPUT -d "$SERVICE_IP/32" -p tcp --dport 443 \
        -j DNAT --to-destination "$NODE_IP:$API_PORT"
}

write_containerd_config() {
    local d=$STATE/containerd
    mkdir -p "$d/root" "$d/state" "$STATE/cni/net.d"
    containerd config default >"$d/config.toml.default"
    # The defaults, with our own directories and the settings this machine needs: cgroupfs,
    # restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE), the locally made pause image.
    sed -E \
        -e "s|^root = .*|root = \"$d/root\"|" \
        -e "s|^state = .*|state = \"$d/state\"|" \
        -e "s|^(\s*)address = \"/run/containerd/containerd.sock\"|\1address = \"$CONTAINERD_SOCK\"|" \
        -e "s|^(\s*)sandbox_image = .*|\1sandbox_image = \"k8s.gcr.io/pause:3.2\"|" \
        -e "s|^(\s*)restrict_oom_score_adj = .*|\1restrict_oom_score_adj = true|" \
        -e "s|^(\s*)netns_mounts_under_state_dir = .*|\1netns_mounts_under_state_dir = true|" \
        -e "s|^(\s*)SystemdCgroup = .*|\1SystemdCgroup = false|" \
        -e "s|^(\s*)bin_dir = \"/opt/cni/bin\"|\1bin_dir = \"/usr/lib/cni\"|" \
        -e "s|^(\s*)conf_dir = \"/etc/cni/net.d\"|\1conf_dir = \"$STATE/cni/net.d\"|" \
        "$d/config.toml.default" >"$d/config.toml"
    # Pods' network namespaces then live under our state directory, removed with it.
    grep -q "$CONTAINERD_SOCK" "$d/config.toml" || die "containerd config: the socket address was not rewritten"
    grep -q 'restrict_oom_score_adj = true' "$d/config.toml" || die "containerd config: restrict_oom_score_adj not set"
    cat >"$STATE/cni/net.d/10-tracejob-e2e.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "tracejob-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

write_kubelet_config() {
    cat >"$STATE/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failSwapOn: false
address: $NODE_IP
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $STATE/pki/ca.crt}
authorization: {mode: AlwaysAllow}
staticPodPath: ""
resolvConf: /etc/resolv.conf
# Absolute floors: the machine is shared and its disk may run low; evict only when truly full.
evictionHard: {memory.available: "100Mi", nodefs.available: "100Mi", imagefs.available: "100Mi"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
EOF
}

start_everything() {
    start_bg etcd "${NS[@]}" etcd --name tracejob-e2e --data-dir "$STATE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "tracejob-e2e=http://127.0.0.1:$ETCD_PEER_PORT" --log-level warn
    wait_for etcd 30 in_ns curl -sf "http://127.0.0.1:$ETCD_PORT/health"

    local p=$STATE/pki front_proxy
    mapfile -t front_proxy < <(front_proxy_flags "$p")
    start_bg kube-apiserver "${NS[@]}" "$K8S_CACHE/bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 0.0.0.0 --advertise-address "$NODE_IP" --secure-port "$API_PORT" --insecure-port 0 \
        --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
        --client-ca-file "$p/ca.crt" --authorization-mode Node,RBAC \
        --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$p/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types InternalIP \
        --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-cluster-ip-range "$SERVICE_RANGE" --endpoint-reconciler-type none \
        --allow-privileged=true "${front_proxy[@]}" \
        --enable-aggregator-routing=true
    wait_for kube-apiserver 60 kubectl --kubeconfig "$STATE/kubeconfig" get --raw /readyz

    start_bg kube-controller-manager "${NS[@]}" "$K8S_CACHE/bin/kube-controller-manager" \
        --kubeconfig "$STATE/kubeconfig" --service-account-private-key-file "$p/sa.key" \
        --root-ca-file "$p/ca.crt" --use-service-account-credentials \
        --leader-elect=false --bind-address 127.0.0.1 --port 0
    start_bg kube-scheduler "${NS[@]}" "$K8S_CACHE/bin/kube-scheduler" \
        --kubeconfig "$STATE/kubeconfig" --leader-elect=false --bind-address 127.0.0.1 --port 0

    start_bg containerd "${NS[@]}" containerd --config "$STATE/containerd/config.toml"
    wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version

    mkdir -p "$STATE/kubelet"
    start_bg kubelet "${NS[@]}" "$K8S_CACHE/bin/kubelet" \
        --config "$STATE/kubelet-config.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
        --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
        --container-runtime=remote --container-runtime-endpoint "unix://$CONTAINERD_SOCK" \
        --pod-infra-container-image k8s.gcr.io/pause:3.2 \
        --hostname-override "$NODE" --node-ip "$NODE_IP"
}

up() {
    if [ -f "$STATE/kubeconfig" ] && kubectl --kubeconfig "$STATE/kubeconfig" get node "$NODE" >/dev/null 2>&1; then
        log "already up"
        echo "export KUBECONFIG=$STATE/kubeconfig"
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || die "run as root: the cluster needs a network namespace, cgroups and mounts"
    local started=$SECONDS
    install_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"
    build_k8s "${K8S_COMMANDS[@]}"
    # Whatever a run that died left behind goes first; a failure from here on cleans up too.
    down_quietly
    trap up_failed EXIT
    mkdir -p "$STATE"
    make_certs
    write_kubeconfig "$STATE/kubeconfig" tracejob-e2e-admin admin
    write_kubeconfig "$STATE/kubelet.kubeconfig" "system:node:$NODE" kubelet
    make_network
    write_containerd_config
    write_kubelet_config
    start_everything
    wait_for "node $NODE Ready" 120 kubectl --kubeconfig "$STATE/kubeconfig" wait --for=condition=Ready \
        "node/$NODE" --timeout=1s
    wait_for "default service account" 60 kubectl --kubeconfig "$STATE/kubeconfig" get serviceaccount default
    trap - EXIT
    log "up in $((SECONDS - started)) s: node $NODE ($NODE_IP), apiserver https://$NODE_IP:$API_PORT, state in $STATE"
    echo "export KUBECONFIG=$STATE/kubeconfig"
}

# On a failed `up`: the end of every log, then everything removed (unless asked to keep it).
up_failed() {
    local status=$?
    [ "$status" -ne 0 ] || return 0
    local f
    for f in "$STATE"/*.log; do
        [ -f "$f" ] || continue
        log "--- last lines of $f"
        tail -n 15 "$f" >&2
    done
    if [ "${TRACEJOB_CLUSTER_KEEP_ON_FAILURE:-0}" = 1 ]; then
        log "up failed; TRACEJOB_CLUSTER_KEEP_ON_FAILURE=1 keeps $STATE (e2e/cluster.sh down removes it)"
    else
        log "up failed: cleaning up"
        down_quietly
    fi
    exit "$status"
}

# Removes every pod cgroup kubelet and runc made: kubepods in each v1 controller and in the v2
# hierarchy, deepest directories first (a cgroup directory is removed with rmdir, never rm -r).
remove_cgroups() {
    local base dir
    for base in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/*/kubepods.slice; do
        [ -d "$base" ] || continue
        # Processes still inside (a container that outlived containerd) are killed first.
        find "$base" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u | xargs -r kill -KILL 2>/dev/null || true
        find "$base" -depth -type d -exec rmdir {} + 2>/dev/null || true
        [ -d "$base" ] && log "warning: could not remove every cgroup under $base"
    done
    return 0
}

down_quietly() {
    mkdir -p "$STATE"
    stop_pid kubelet
    # Containers first (their shims outlive containerd), then containerd itself.
    if [ -S "$CONTAINERD_SOCK" ]; then
        local task
        for task in $(ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks list -q 2>/dev/null); do
            ctr --address "$CONTAINERD_SOCK" -n k8s.io tasks kill -s KILL "$task" >/dev/null 2>&1 || true
        done
    fi
    stop_pid containerd
    # containerd-shim processes of our containerd (they carry its socket or state dir).
    pkill_matching "containerd-shim.*$STATE/containerd" || true
    stop_pid kube-scheduler
    stop_pid kube-controller-manager
    stop_pid kube-apiserver
    stop_pid etcd
    # Every mount under our state (pod volumes, overlay snapshots, sandbox /dev/shm), deepest first.
    local m
    for m in $(awk -v s="$STATE/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    remove_cgroups
    # kubelet 1.20 writes container logs to fixed paths; nothing else on this machine runs one.
    rm -rf /var/log/pods /var/log/containers
    ip link del "$VETH_HOST" 2>/dev/null || true
    if [ -e "/run/netns/$NETNS" ]; then
        ip netns del "$NETNS" 2>/dev/null || true
    fi
    rm -rf "$STATE"
}

# Kills processes whose command line matches $1 (an extended regex); used only for the shims of
# our own containerd, whose command lines name our private state directory.
pkill_matching() {
    local pid
    for pid in $(pgrep -f "$1"); do kill -KILL "$pid" 2>/dev/null || true; done
}

down() {
    down_quietly
    log "down: stopped everything and removed $STATE, netns $NETNS, $VETH_HOST and the kubepods cgroups"
}

case "${1:-}" in
up) up ;;
down) down ;;
build)
    install_packages "${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}"
    build_k8s "${K8S_COMMANDS[@]}"
    ;;
ctr)
    shift
    ctr --address "$CONTAINERD_SOCK" "$@"
    ;;
*) die "usage: $0 up|down|build|ctr ..." ;;
esac
