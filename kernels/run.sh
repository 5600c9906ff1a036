#!/usr/bin/env bash
# make kernel-matrix: boots each kernel pinned in kernels/kernels.list under qemu (TCG:
# KVM guests hang on nested virtualisation) with an initramfs holding the tracejob binary,
# its libraries, the workload and busybox, runs kernels/guest-init.sh there, prints kernel x
# check results and writes kernels/MATRIX.md. Exits non-zero on any failed check.
#   TRACEJOB_BIN_DIR   where tracejob and examples/workload are (default target/release)
#   TRACEJOB_KERNELS   names from kernels.list to run (default: all)
#   TRACEJOB_CACHE     download cache (default /var/cache/tracejob), kernels under kernels/
#   TRACEJOB_GUEST_INIT another /init for the guests (the table is then not rewritten)
#   TRACEJOB_GUEST_TIMEOUT seconds a guest may run (default 600; a guest takes about 120)
#   TRACEJOB_ENGINE_TESTS a file listing the engine's real-kernel test binaries to run in
#                      each guest too (kernels.mk writes it; without it they are left out)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${TRACEJOB_BIN_DIR:-$here/../target/release}
cache=${TRACEJOB_CACHE:-/var/cache/tracejob}/kernels
for tool in qemu-system-x86_64 cpio busybox; do
	command -v "$tool" > /dev/null || { echo "kernel-matrix: $tool is missing: apt-get install qemu-system-x86 cpio busybox-static" >&2; exit 1; }
done
busybox_path=$(command -v busybox)
ldd "$busybox_path" > /dev/null 2>&1 && { echo "kernel-matrix: $busybox_path is dynamic: install busybox-static" >&2; exit 1; }

bash "$here/fetch.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The shared part of every initramfs.
root=$work/root
mkdir -p "$root"/{bin,sbin,matrix,proc,sys,dev,tmp,etc}
cp "$busybox_path" "$root/bin/busybox"
for applet in $("$busybox_path" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# No debug info in the guest: a tenth of the size, the symbol table stays (profile needs it).
strip --strip-debug -o "$root/matrix/tracejob" "$bin_dir/tracejob"
strip --strip-debug -o "$root/matrix/workload" "$bin_dir/examples/workload"
for lib in $(ldd "$bin_dir/tracejob" "$bin_dir/examples/workload" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
# The engine's real-kernel tests (debug builds, debug info stripped) and what they exec:
# bash and glibc's getent for the uprobe tests, busybox's true for the exec ones.
if [ -n "${TRACEJOB_ENGINE_TESTS:-}" ]; then
	mkdir -p "$root/matrix/tests" "$root/usr/bin" "$root/var/tmp"
	while read -r test_bin; do
		[ -n "$test_bin" ] || continue
		name=$(basename "$test_bin")
		strip --strip-debug -o "$root/matrix/tests/${name%-*}" "$test_bin"
	done < "$TRACEJOB_ENGINE_TESTS"
	rm -f "$root/bin/bash"
	cp /bin/bash "$root/bin/bash"
	cp /usr/bin/getent "$root/usr/bin/getent"
	ln -s /bin/bash "$root/usr/bin/bash"
	for lib in $(ldd /bin/bash /usr/bin/getent "$root"/matrix/tests/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
fi
# TRACEJOB_GUEST_INIT: another /init, to look around a guest kernel by hand.
cp "${TRACEJOB_GUEST_INIT:-$here/guest-init.sh}" "$root/init"
chmod +x "$root/init"
grep -v '^#' "$here/expect.list" > "$root/matrix/expect.list" || true
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/base.cpio.gz"

results=$work/results
: > "$results"
failed=0
passed=0
names=${TRACEJOB_KERNELS:-$(awk '!/^#/ && NF { print $1 }' "$here/kernels.list")}
# boot NAME ATTEMPT: runs the guest, appends its MATRIX lines to $work/rows-NAME; false if
# the guest did not reach its end (hung, or the console never said MATRIX-END).
boot() {
	local name=$1 attempt=$2 log=$work/console-$1-$2.log start seconds
	start=$(date +%s)
	timeout "${TRACEJOB_GUEST_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 2 -nographic -no-reboot \
		-kernel "$cache/$name/vmlinuz" -initrd "$work/initrd-$name" \
		-append "console=ttyS0 panic=-1 quiet" > "$log" 2>&1 || true
	seconds=$(( $(date +%s) - start ))
	echo "kernel $name: ${seconds}s$([ "$attempt" = 1 ] || echo " (attempt $attempt)")"
	[ -n "${TRACEJOB_KEEP_CONSOLE:-}" ] && cp "$log" "$TRACEJOB_KEEP_CONSOLE-$name-$attempt.log"
	tr -d '\r' < "$log" | grep '^MATRIX|' | sed "s/^MATRIX|/$name|/" > "$work/rows-$name" || true
	tr -d '\r' < "$log" | grep -q '^MATRIX-END'
}
for name in $names; do
	extra=$work/$name
	mkdir -p "$extra/matrix"
	echo "$name" > "$extra/matrix/kernel-name"
	cp "$cache/$name/loop.ko" "$extra/matrix/loop.ko"
	(cd "$extra" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/$name.cpio.gz"
	cat "$work/base.cpio.gz" "$work/$name.cpio.gz" > "$work/initrd-$name"
	# A guest that hangs under TCG (seen once in CI, not reproduced) is booted once more;
	# the first attempt's end is printed, and the second attempt's rows are what count.
	if ! boot "$name" 1; then
		last=$(tr -d '\r' < "$work/console-$name-1.log" | grep '^MATRIX-START|' | tail -1 | cut -d'|' -f2 || true)
		echo "kernel $name: the guest did not finish (last check started: ${last:-none}); booting it again. Its console's end:"
		tail -c 1500 "$work/console-$name-1.log" | tr -d '\r' | sed 's/^/    /'
		if ! boot "$name" 2; then
			echo "$name|guest|fail|-|the guest did not finish twice: last console lines: $(tail -c 600 "$work/console-$name-2.log" | tr '\n|' '  ')" >> "$work/rows-$name"
		fi
	fi
	cat "$work/rows-$name" >> "$results"
done

printf '%-6s %-26s %-6s %-15s %s\n' kernel check result flavour detail
while IFS='|' read -r kernel check result flavour detail; do
	printf '%-6s %-26s %-6s %-15s %s\n' "$kernel" "$check" "$result" "$flavour" "$detail"
	if [ "$result" = pass ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done < "$results"

if [ -z "${TRACEJOB_KERNELS:-}" ] && [ -z "${TRACEJOB_GUEST_INIT:-}" ]; then
	bash "$here/table.sh" "$results" > "$here/MATRIX.md"
fi
# The closing line .ci/run adds to its total.
echo "kernel-matrix: $passed passed, $failed failed ($(echo $names | wc -w) kernels)"
[ "$failed" -eq 0 ]
