# syntax=docker/dockerfile:1
# zt-authz's container image: the release binary alone on a distroless base
# (glibc, libgcc, CA certificates; no shell, no package manager), running as
# uid/gid 65532. The entrypoint is the binary; the chart passes
# `serve --config /etc/zt-authz/config.yaml`, which is also the default.
#
#   docker build -t REGISTRY/zt-authz:0.1.0 .
#
# tests/image_check.sh checks the final stage's settings against the chart
# without pulling a base image.

ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin zt-authz \
 && cp target/release/zt-authz /zt-authz

# Debian 12, like the builder, so the binary finds the glibc it was linked with.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /zt-authz /usr/local/bin/zt-authz
USER 65532:65532
# gRPC (ext_authz Check, health, reflection) and the admin port (/healthz,
# /readyz, /metrics, revocations).
EXPOSE 9000 9090
ENTRYPOINT ["/usr/local/bin/zt-authz"]
CMD ["serve", "--config", "/etc/zt-authz/config.yaml"]
