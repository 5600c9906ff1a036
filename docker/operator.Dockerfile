# syntax=docker/dockerfile:1
# tracejob-operator: docker build -f docker/operator.Dockerfile -t tracejob/operator:TAG .
# (from the repository root). The runtime image is distroless: glibc, CA certificates and
# the binary, running as the nonroot user 65532 the chart also asks for.

FROM rust:1.95-bookworm AS builder
# The operator does not depend on the ebpf crate, so its build needs no clang or libbpf
# (agent.Dockerfile installs them); ring, for TLS, builds with the image's gcc.
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tracejob-operator --bin tracejob-operator \
 && install -D -m 0755 target/release/tracejob-operator /out/tracejob-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/tracejob-operator /usr/local/bin/tracejob-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tracejob-operator"]
