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

# The image's actions: links to the one multi-call binary, as in the root Dockerfile.
actions=(action-generate action-filter action-comment action-setup-cluster)
cargo build --release --locked --target "$target" -p deployer --bin deployer-actions

out=target/container
rm -rf "$out"
mkdir -p "$out/bin"
cp "target/$target/release/deployer-actions" "$out/bin/"
for action in "${actions[@]}"; do
    ln -s deployer-actions "$out/bin/$action"
done
cp tests/container/Dockerfile "$out/"
ls -l "$out/bin"
