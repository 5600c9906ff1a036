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

# `make bench-fleet`: the real operator against simulated fleets (issue #14), on a local
# control plane that e2e/ci-operator.sh starts and stops. Writes bench/results/fleet.md.
#   make bench-fleet FLEET_NODES=50,200 FLEET_SOAK_SECONDS=60     a shorter run
#   make bench-fleet FLEET_ARGS="--events-per-second 100000"              anything else tracejob-fleet --help lists
FLEET_NODES ?= 50,200,500
FLEET_JOBS ?= 1,10,100
FLEET_SOAK_SECONDS ?= 600
FLEET_ARGS ?=

.PHONY: bench-fleet

## bench-fleet: the real operator driving 50, 200 and 500 simulated nodes: latencies, API requests, memory, events/s, churn, soak (root)
bench-fleet: deps
	$(CARGO) build --release -p tracejob-operator -p tracejob-fleet --bin tracejob-operator --bin tracejob-fleet
	bash e2e/ci-operator.sh $(BENCH_TARGET_DIR)/release/tracejob-fleet --nodes $(FLEET_NODES) \
		--jobs $(FLEET_JOBS) --soak-seconds $(FLEET_SOAK_SECONDS) --out bench/results/fleet.md $(FLEET_ARGS)
