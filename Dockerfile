# The runtime image of the container actions: one static multi-call binary,
# `deployer-actions`, on `scratch`, linked as action-generate, action-filter
# and action-comment (action-setup-cluster runs sops, so it lives in the
# deploy image, Dockerfile.deploy). Each actions/<name>/action.yml picks
# its link with `runs.entrypoint`; the binary runs the action it was started
# as. (Four separate binaries would carry the same HTTP, TLS, YAML and JSON
# code four times, and the image past its 10 MB budget.)
#
#   docker build -t deployer .
#
# Releases build it for linux/amd64 and linux/arm64 with `docker buildx`
# (.github/workflows/release.yml) and pin the result by digest in every
# action.yml. The base image is pinned by digest; the tag is for readers.

# Build stage: the official Rust image on Alpine targets musl, so binaries are
# static (it already carries musl-dev and gcc for ring's C code).
FROM rust:1.95-alpine@sha256:606fd313a0f49743ee2a7bd49a0914bab7deedb12791f3a846a34a4711db7ed2 AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# Dependency caching: the recipe changes only when Cargo.toml/Cargo.lock do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p deployer --bin deployer-actions \
 && mkdir -p /out \
 && cp target/release/deployer-actions /out/ \
 && for action in action-generate action-filter action-comment; do \
        ln -s deployer-actions "/out/$action"; \
    done

# Runtime stage: nothing but the binaries. No USER (container actions run as
# root), no WORKDIR (the runner sets --workdir), absolute entrypoints.
FROM scratch
COPY --from=build /out/ /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/action-generate"]
