# The entry points people and CI use. Everything that needs root says so.
CARGO ?= cargo
DEMO_COMMAND ?= sh -c 'find /usr/share/doc -name "*.gz" | wc -l; cat /etc/os-release > /dev/null'

.PHONY: deps deps-run build install run test test-local test-unit lint generate check-generated ci clean

## deps: everything `make build` needs, plus Garage (the S3 server the tests start) (root)
deps: deps-run
	bash scripts/garage.sh >/dev/null

## deps-run: install clang-19, llvm-19, libbpf-dev; mount tracefs and cgroup v2 (root)
deps-run:
	bash scripts/deps.sh

## build: the tracejob binary, release mode (needs only deps-run: a first `make run` builds no test server)
build: deps-run
	$(CARGO) build --release -p tracejob-cli

PREFIX ?= /usr/local
## install: tracejob into $(PREFIX)/bin, also as kubectl-tracejob (`kubectl tracejob get`), with bash completion
install: build
	install -D -m 0755 target/release/tracejob $(DESTDIR)$(PREFIX)/bin/tracejob
	ln -sf tracejob $(DESTDIR)$(PREFIX)/bin/kubectl-tracejob
	mkdir -p $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	target/release/tracejob completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tracejob

## run: a real local trace: every syscall of a demo command, strace -c style (root)
run: build
	./target/release/tracejob run examples/syscalls.yaml -- $(DEMO_COMMAND)

## test: every test: real kernel, and a local kube-apiserver started for the run (root)
test: deps
	bash e2e/ci-operator.sh $(CARGO) test --workspace --no-fail-fast

## test-local: every test without starting a control plane (those needing one skip, saying so)
test-local:
	$(CARGO) test --workspace

## test-unit: the tests that need no root, no BPF and no cluster
test-unit:
	$(CARGO) test --workspace --lib

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## generate: regenerate checked-in generated files
generate:
	bash scripts/gen-syscall-table.sh
	$(CARGO) run -q -p tracejob-proto-codegen

## check-generated: fail if a generated file is stale
check-generated:
	bash scripts/check-generated.sh

## ci: what .ci/run runs
ci: deps check-generated lint test

clean:
	$(CARGO) clean

-include e2e/operator.mk
include e2e/cluster.mk
include charts/chart.mk
include bench/bench.mk
include kernels/kernels.mk
include storage/storage.mk
