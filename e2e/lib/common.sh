# Shared by e2e/control-plane.sh and e2e/cluster.sh (sourced, never run): logging, apt
# installs, building Kubernetes binaries from Debian's `kubernetes` source package into the
# cache, and starting/stopping background processes by pid file.
#
# The caller sets LOG_PREFIX and STATE (its own state directory) before using these.

CACHE_ROOT=${TRACEJOB_CACHE:-/var/cache/tracejob}
K8S_CACHE=$CACHE_ROOT/k8s-1.20
BUILD_PACKAGES=(golang-go rsync jq etcd-server golang-github-modern-go-reflect2-dev dpkg-dev openssl curl make)

log() { printf '[%s] %s\n' "${LOG_PREFIX:-e2e}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Installs the Debian packages given as arguments that are not installed yet.
install_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || die "packages missing (${missing[*]}) and not root to install them"
    apt-get update -qq
    # Keep package maintainer scripts from starting system daemons (etcd, containerd): ours
    # run on their own ports and sockets.
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

k8s_built() { [ -x "$K8S_CACHE/bin/$1" ] && "$K8S_CACHE/bin/$1" --version >/dev/null 2>&1; }

# Builds the named Kubernetes commands (kube-apiserver, kubelet, ...) that are not cached yet,
# all in one pass over one source tree, and copies them to $K8S_CACHE/bin.
build_k8s() {
    local missing=() c
    for c in "$@"; do k8s_built "$c" || missing+=("$c"); done
    if [ ${#missing[@]} -eq 0 ]; then
        log "reusing $* from $K8S_CACHE/bin"
        return 0
    fi
    install_packages "${BUILD_PACKAGES[@]}"
    mkdir -p "$K8S_CACHE"
    exec 9>"$K8S_CACHE/.build.lock"
    flock 9
    # Another run may have built them while we waited for the lock.
    local still=()
    for c in "${missing[@]}"; do k8s_built "$c" || still+=("$c"); done
    if [ ${#still[@]} -eq 0 ]; then exec 9>&-; return 0; fi
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
    local what=()
    for c in "${still[@]}"; do what+=("cmd/$c"); done
    log "building ${still[*]} (about 4-6 minutes)"
    (cd "$work/gopath/src/k8s.io/kubernetes" &&
        GOPATH=$work/gopath CGO_ENABLED=0 GOFLAGS=-p=2 nice -n 15 make WHAT="${what[*]}" >&2)
    mkdir -p "$K8S_CACHE/bin"
    local built
    for c in "${still[@]}"; do
        built=$(find "$tree/_output" -type f -name "$c" -perm -u+x | head -n1)
        [ -n "$built" ] || die "the build produced no $c binary"
        cp "$built" "$K8S_CACHE/bin/$c.tmp" && mv "$K8S_CACHE/bin/$c.tmp" "$K8S_CACHE/bin/$c"
        log "built $K8S_CACHE/bin/$c"
    done
    rm -rf "$work"
    exec 9>&-
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

# Running, and not a zombie waiting for a parent that does not reap.
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

stop_pid() { # name
    local f=$STATE/$1.pid pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f"
}

# The front proxy: kube-apiserver's client identity towards aggregated APIs (the operator's
# live.tracejob.io), from a CA of its own as kubeadm sets it up. Writes front-proxy-ca.crt
# and front-proxy-client.{crt,key} into DIR.
make_front_proxy_certs() { # dir
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=tracejob-test-front-proxy-ca" \
        -keyout "$1/front-proxy-ca.key" -out "$1/front-proxy-ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=front-proxy-client" \
        -keyout "$1/front-proxy-client.key" -out "$1/front-proxy-client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
        >"$1/front-proxy-client.ext"
    openssl x509 -req -in "$1/front-proxy-client.csr" -CA "$1/front-proxy-ca.crt" \
        -CAkey "$1/front-proxy-ca.key" -CAcreateserial -days 2 -extfile "$1/front-proxy-client.ext" \
        -out "$1/front-proxy-client.crt" 2>/dev/null
}

# kube-apiserver's flags for the front proxy of make_front_proxy_certs DIR, one per line.
front_proxy_flags() { # dir
    printf '%s\n' --requestheader-client-ca-file "$1/front-proxy-ca.crt" \
        --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$1/front-proxy-client.crt" --proxy-client-key-file "$1/front-proxy-client.key"
}
