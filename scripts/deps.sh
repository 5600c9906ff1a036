#!/usr/bin/env bash
# Installs and mounts what tracejob needs on a Debian 12 host, as root: clang and
# the libbpf headers (to build the eBPF programs), protoc (`make generate`), tracefs (classic tracepoints) and
# a cgroup v2 hierarchy. Safe to run again: it only does what is missing. The tests' own
# servers (Garage) are `make deps`, not this: running tracejob does not need them.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/deps.sh: run as root (it installs packages and mounts filesystems)" >&2
  exit 1
fi

missing=()
command -v clang-19 >/dev/null || missing+=(clang-19)
command -v llvm-strip-19 >/dev/null || missing+=(llvm-19)
[ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
[ -f /usr/include/x86_64-linux-gnu/asm/unistd_64.h ] || missing+=(linux-libc-dev)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! grep -q ' - tracefs ' /proc/self/mountinfo; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

if ! grep -q ' - cgroup2 ' /proc/self/mountinfo; then
  mkdir -p /sys/fs/cgroup/unified
  mount -t cgroup2 none /sys/fs/cgroup/unified
fi

if [ ! -e /sys/kernel/btf/vmlinux ]; then
  echo "warning: this kernel has no BTF (/sys/kernel/btf/vmlinux): tracejob cannot load its programs here" >&2
fi
