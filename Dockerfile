# One image holding every action binary. Each actions/<name>/action.yml picks
# its binary with `runs.entrypoint`.
#
# Build stage: static musl binaries (the rust:alpine toolchain targets musl).
FROM rust:1.95-alpine3.22 AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY action-generate ./action-generate
COPY action-filter ./action-filter
COPY action-comment ./action-comment
RUN cargo build --release --locked --workspace --bins

# Runtime stage: nothing but the binaries; runs as root, as container actions must.
FROM scratch
COPY --from=build /src/target/release/action-generate /usr/local/bin/action-generate
COPY --from=build /src/target/release/action-filter /usr/local/bin/action-filter
COPY --from=build /src/target/release/action-comment /usr/local/bin/action-comment
ENTRYPOINT ["/usr/local/bin/action-generate"]
