# syntax=docker/dockerfile:1
# The operator's container image: built in a Rust image, shipped on distroless (no shell, no
# package manager), as the non-root user 65532. See docs/container-image.md.
#
#   docker build -t social-connection-operator:dev .
#
# Not built in this repository's CI: its machines have no container runtime.

ARG RUST_VERSION=1.95
# Debian 12 on both sides: the binary links the glibc of the image that runs it.
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# The workspace (the fake providers are a member, and Cargo.toml names the e2e test target):
# everything .dockerignore lets through.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin social-connection-operator \
    && install -D -m 0755 target/release/social-connection-operator /out/social-connection-operator

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="social-connection-operator" \
      org.opencontainers.image.description="Kubernetes operator that keeps OAuth connections to social networks healthy" \
      org.opencontainers.image.source="https://github.com/social-connections/social-connection-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/social-connection-operator /usr/local/bin/social-connection-operator
# Numeric, so that runAsNonRoot can verify it without resolving a user name.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/social-connection-operator"]
CMD ["run"]
