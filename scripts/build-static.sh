#!/usr/bin/env bash
# Builds the action binaries as static musl executables, the way the image
# carries them, into target/container/ together with the test Dockerfile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
    # ring compiles C and assembly; for musl it needs musl-gcc.
    apt-get update -qq && apt-get install -y -qq musl-tools >/dev/null
fi

binaries=(action-generate action-filter action-comment action-setup-cluster)
packages=()
for binary in "${binaries[@]}"; do packages+=(-p "$binary"); done
cargo build --release --locked --target "$target" "${packages[@]}"

out=target/container
rm -rf "$out"
mkdir -p "$out"
for binary in "${binaries[@]}"; do
    cp "target/$target/release/$binary" "$out/"
done
cp tests/container/Dockerfile "$out/"
ls -l "$out"
