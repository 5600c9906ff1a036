#!/bin/sh
# The peers the benchmark compares tracejob with, from Debian, and what they need (root).
set -eu
need=""
for pkg in strace linux-perf bpftrace bpfcc-tools linux-headers-amd64 bpftool util-linux; do
	dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
	echo "bench: installing$need"
	apt-get update -qq
	# linux-headers-amd64: BCC compiles against kernel headers; kernels without their own
	# use Debian's through BCC_KERNEL_SOURCE (see run.py).
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi
# bpftrace attaches tracepoints through tracefs.
if [ ! -e /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing
fi
