# `make kernel-matrix`: every tool on Debian's 5.10, 6.1 and 6.12 cloud kernels under qemu
# (see kernels/README.md). Needs root for nothing but the package installs; runs in CI.
#   make kernel-matrix KERNELS="6.1"     only these kernels (the table is then not rewritten)
KERNELS ?=

.PHONY: kernel-matrix kernel-matrix-deps

## kernel-matrix: boot each pinned kernel under qemu and run every tool with exact counts; writes kernels/MATRIX.md
kernel-matrix: kernel-matrix-deps
	$(CARGO) build --release -p tracejob-cli --bin tracejob --example workload
	@# The engine's real-kernel tests, as `make test` builds them (listed, not rebuilt, after it).
	$(CARGO) test --workspace --no-run --message-format=json \
		| grep -o '"executable":"[^"]*/kernel_[a-z_]*-[0-9a-f]*"' | cut -d'"' -f4 > target/engine-kernel-tests.list
	TRACEJOB_KERNELS="$(KERNELS)" TRACEJOB_ENGINE_TESTS=target/engine-kernel-tests.list bash kernels/run.sh

kernel-matrix-deps:
	@command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null && \
		command -v busybox >/dev/null && ! ldd "$$(command -v busybox)" >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq qemu-system-x86 cpio busybox-static; }
