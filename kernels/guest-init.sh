#!/bin/sh
# /init of the matrix guests (busybox sh): mounts what tracejob needs, runs every tool
# on a workload whose truth is known, prints one `MATRIX|tool|result|flavour|detail` line
# per check, then powers off. kernels/run.sh reads those lines from the serial console.
export PATH=/bin:/sbin:/usr/bin:/matrix
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
ip link set lo up
echo "matrix guest: $(uname -r), $(nproc) CPUs"

# expected_refusal CHECK prints the words this kernel is expected to refuse CHECK with
# (from /matrix/expect.list: `kernel|check|reason words`), or nothing.
kernel=$(cat /matrix/kernel-name)
expected_refusal() {
	while IFS='|' read -r k check reason; do
		[ "$k" = "$kernel" ] && [ "$check" = "$1" ] && echo "$reason"
	done < /matrix/expect.list
}

# The thread map TOOL must choose here by itself: task_storage, unless this kernel is
# expected to refuse that build (then the hash).
expected_map() { # TOOL
	if [ -n "$(expected_refusal "$1 --thread-map task_storage")" ]; then echo hash; else echo task_storage; fi
}

manifest() { # TOOL [ARGS-YAML]
	printf 'apiVersion: tracejob.io/v1alpha1\nkind: TraceJob\nmetadata: {name: matrix}\nspec: {tool: %s, args: {%s}}\n' "$1" "$2" > /tmp/manifest.yaml
}

# the value of "KEY":N in the first {...} of the summary that contains MATCH
field() { # MATCH KEY
	grep '"type":"summary"' /tmp/out | grep -o "$1[^]}]*" | head -1 | grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2
}

report() { # NAME RESULT DETAIL
	flavour=$(grep '"type":"summary"' /tmp/out | sed -n 's/.*"probe":"\([^"]*\)".*/\1/p')
	echo "MATRIX|$1|$2|${flavour:--}|$3"
}

# check NAME TOOL [--probe KIND] -- COMMAND...: runs the tool, then the assertion in $assert
# (a shell expression over the output in /tmp/out) decides pass or fail.
check() {
	name=$1 tool=$2
	shift 2
	# Where a guest that hangs stopped shows in the console's last lines.
	echo "MATRIX-START|$name"
	# KILL 10 s after the TERM: a run that hangs while stopping cannot hang the guest.
	timeout -k 10 120 tracejob run /tmp/manifest.yaml --format json --duration 60s "$@" > /tmp/out 2> /tmp/err
	status=$?
	refusal=$(expected_refusal "$name")
	if [ -n "$refusal" ]; then
		if [ $status -ne 0 ] && grep -qF "$refusal" /tmp/err; then
			echo "MATRIX|$name|pass|refused|$refusal"
		else
			echo "MATRIX|$name|fail|-|expected a refusal naming \"$refusal\", got status $status: $(tail -c 300 /tmp/err | tr '\n|' '  ')"
		fi
		return
	fi
	if [ $status -ne 0 ]; then
		echo "MATRIX|$name|fail|-|status $status: $(tail -c 400 /tmp/err | tr '\n|' '  ')"
		return
	fi
	if eval "$assert"; then
		report "$name" pass "$detail"
	else
		report "$name" fail "expected $detail; summary: $(grep '"type":"summary"' /tmp/out | head -c 400 | tr '|' ' ')"
	fi
}

N=1000
manifest syscalls 'syscalls: [getppid]'
for kind in auto raw_tracepoint tracepoint; do
	name=syscalls; probe=
	[ $kind = auto ] || { name="syscalls --probe $kind"; probe="--probe $kind"; }
	assert='[ "$(field "\"getppid\"" count)" = $N ]' detail="getppid count $N"
	if [ $kind = auto ]; then
		# Left alone: the task storage build where the kernel has it, else the hash one.
		map=$(expected_map syscalls)
		assert="$assert"' && grep -q "\"probe\":\"tp_btf+$map\"" /tmp/out' detail="$detail via tp_btf+$map"
	fi
	check "$name" syscalls $probe -- workload getppid $N
done
# Each thread map forced: both count exactly wherever they start (expect.list: where not).
for map in task_storage hash; do
	assert='[ "$(field "\"getppid\"" count)" = $N ] && grep -q "\"probe\":\"tp_btf+$map\"" /tmp/out'
	detail="getppid count $N via tp_btf+$map"
	check "syscalls --thread-map $map" syscalls --thread-map $map -- workload getppid $N
done

manifest exec
assert='[ "$(field "\"/bin/true\"" count)" = 6 ]' detail="/bin/true exec count 6"
check exec exec -- workload exec /bin/true 6

echo data > /tmp/file
manifest open
map=$(expected_map open)
assert='[ "$(field "\"/tmp/file\"" count)" = 50 ] && grep -q "\"probe\":\"tp_btf+$map\"" /tmp/out'
detail="/tmp/file open count 50 via tp_btf+$map"
check open open -- workload open /tmp/file 50
for map in task_storage hash; do
	assert='[ "$(field "\"/tmp/file\"" count)" = 50 ] && grep -q "\"probe\":\"tp_btf+$map\"" /tmp/out'
	detail="/tmp/file open count 50 via tp_btf+$map"
	check "open --thread-map $map" open --thread-map $map -- workload open /tmp/file 50
done

manifest tcp
assert='[ "$(field "\"connections\"" connections)" = 1 ] && [ "$(field "127.0.0.1:9" failed)" = 1 ]' detail="1 connection, 1 failed to 127.0.0.1:9"
check tcp tcp -- sh -c 'nc 127.0.0.1 9; true'

manifest runqlat
assert='[ "$(field "\"runqueue\"" count)" -ge 5 ]' detail="at least 5 run-queue waits (5 sleeps)"
check runqlat runqlat -- sh -c 'for i in 1 2 3 4 5; do usleep 2000; done'

manifest profile 'frequency: 99'
assert='[ "$(field "\"samples\"" samples)" -ge 1 ] && grep -q "spin_alpha" /tmp/out' detail="samples in spin_alpha"
check profile profile -- workload spin spin_alpha 2

manifest uprobe "binary: $(ls /lib/x86_64-linux-gnu/libc.so.6), function: getppid"
assert='[ "$(field "\"getppid\"" count)" = $N ]' detail="libc getppid count $N"
check uprobe uprobe -- workload getppid $N

# Both flavours of funccount/funclatency: __x64_sys_getppid is not in these kernels' BTF
# (kprobe), vfs_read is (fentry/fexit). dd reads with read(2); busybox cat would not
# (it copies with sendfile(2), which never calls vfs_read).
for tool in funccount funclatency; do
	manifest $tool 'function: __x64_sys_getppid'
	assert='[ "$(field "__x64_sys_getppid" count)" = $N ]' detail="__x64_sys_getppid count $N"
	check "$tool __x64_sys_getppid" $tool -- workload getppid $N
	manifest $tool 'function: vfs_read'
	assert='[ "$(field "\"vfs_read\"" count)" = 5 ] && grep -q "\"probe\":\"fentry\"" /tmp/out'
	detail="vfs_read count 5 (dd bs=1 count=5) via fentry"
	check "$tool vfs_read" $tool -- dd if=/tmp/file of=/dev/null bs=1 count=5
	# The fallback flavour, forced (--probe): the same exact count through kprobes.
	assert='[ "$(field "\"vfs_read\"" count)" = 5 ] && grep -q "\"probe\":\"kprobe\"" /tmp/out'
	detail="vfs_read count 5 via kprobe (forced)"
	check "$tool vfs_read --probe kprobe" $tool --probe kprobe -- dd if=/tmp/file of=/dev/null bs=1 count=5
done
# Forcing fentry where BTF does not describe the function fails, naming the reason.
manifest funccount 'function: __x64_sys_getppid'
if tracejob run /tmp/manifest.yaml --format json --duration 5s --probe fentry -- workload getppid 1 > /tmp/out 2> /tmp/err; then
	echo "MATRIX|funccount __x64_sys_getppid --probe fentry|fail|-|expected a refusal, it attached: $(head -c 300 /tmp/out | tr '|' ' ')"
elif grep -q "fentry" /tmp/err && ! grep -q "kprobe" /tmp/err; then
	echo "MATRIX|funccount __x64_sys_getppid --probe fentry|pass|refused|$(tail -c 200 /tmp/err | tr '\n|' '  ')"
else
	echo "MATRIX|funccount __x64_sys_getppid --probe fentry|fail|-|expected a refusal naming fentry only: $(tail -c 300 /tmp/err | tr '\n|' '  ')"
fi

if insmod /matrix/loop.ko 2>/dev/null || [ -e /dev/loop0 ]; then
	dd if=/dev/zero of=/tmp/disk bs=1M count=4 status=none
	losetup /dev/loop0 /tmp/disk
	manifest blockio
	assert='[ "$(field "\"loop0\"" count)" = 8 ]' detail="8 requests on loop0"
	check blockio blockio -- dd if=/dev/zero of=/dev/loop0 bs=4096 count=8 oflag=direct
else
	echo "MATRIX|blockio|fail|-|no loop device: insmod loop.ko failed"
fi

# The engine's real-kernel tests (when run.sh put them in), one line per test binary, with
# skips turned into failures as in CI. They need a pty (bash's readline), localhost in
# /etc/hosts (getent) and /var/tmp on a block device (direct I/O).
if [ -d /matrix/tests ]; then
	mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
	printf '127.0.0.1 localhost\n::1 localhost\n' > /etc/hosts
	echo 'hosts: files' > /etc/nsswitch.conf
	dd if=/dev/zero of=/tmp/vartmp bs=1M count=8 status=none
	losetup /dev/loop1 /tmp/vartmp && mke2fs -q /dev/loop1 && mount /dev/loop1 /var/tmp
fi
for test in /matrix/tests/*; do
	[ -x "$test" ] || continue
	name="engine $(basename "$test")"
	echo "MATRIX-START|$name"
	if TRACEJOB_REQUIRE_ALL=1 timeout -k 10 300 "$test" --test-threads=1 > /tmp/test.out 2>&1; then
		echo "MATRIX|$name|pass|-|$(grep -o '[0-9]* passed' /tmp/test.out | tail -1)"
	else
		echo "MATRIX|$name|fail|-|$(grep -E '^test .* FAILED|panicked' /tmp/test.out | head -4 | tr '\n|' '  ' | head -c 500)"
	fi
done

echo "MATRIX-END"
poweroff -f
