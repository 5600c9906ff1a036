# `make bench`: tracejob side by side with strace, perf trace, bpftrace and BCC (root).
# Writes bench/results/results.json and bench/results/README.md. Not part of `make ci`.
#   make bench BENCH_ROUNDS=9            more rounds (default 5: about 8 minutes)
#   make bench BENCH_ARGS="--cpus 0"     anything else run.py takes (python3 bench/run.py --help)
BENCH_ROUNDS ?= 5
BENCH_ARGS ?=
BENCH_TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: bench bench-build

## bench: overhead, throughput, start latency and memory against the usual tracers (root)
bench: deps bench-build
	bash bench/deps.sh
	python3 bench/run.py --bin-dir $(BENCH_TARGET_DIR)/release --rounds $(BENCH_ROUNDS) $(BENCH_ARGS)

bench-build:
	$(CARGO) build --release -p tracejob-cli --bin tracejob
	$(CARGO) build --release -p tracejob-node-agent
	$(CARGO) build --release -p tracejob-bench
