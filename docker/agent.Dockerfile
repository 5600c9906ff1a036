# syntax=docker/dockerfile:1
# tracejob-agent: docker build -f docker/agent.Dockerfile -t tracejob/agent:TAG .
# (from the repository root). The agent loads eBPF programs, so it runs as root with the
# capabilities the chart grants; the runtime image holds only glibc and the binary.

FROM rust:1.95-bookworm AS builder
# The ebpf crate's build.rs compiles the C programs with clang-19 against the libbpf
# headers and strips them with llvm-strip-19 (what scripts/deps.sh installs on a host).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang-19 llvm-19 libbpf-dev linux-libc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tracejob-node-agent --bin tracejob-agent \
 && install -D -m 0755 target/release/tracejob-agent /out/tracejob-agent

# distroless cc: glibc and libgcc, no shell. The default user is root, which the agent
# needs (capabilities are granted to uid 0 by the chart's securityContext).
FROM gcr.io/distroless/cc-debian12
COPY --from=builder /out/tracejob-agent /usr/local/bin/tracejob-agent
USER 0:0
EXPOSE 7443
ENTRYPOINT ["/usr/local/bin/tracejob-agent"]
