#!/usr/bin/env bash
# Builds the action binaries as static musl executables, the way the images
# carry them: the runtime image's multi-call binary and links into
# target/container/, and action-setup-cluster and action-diff with the real
# sops and helm (from scripts/install-tools.sh) into target/container-deploy/, each with its test
# Dockerfile. (The real deploy image, Dockerfile.deploy, is Alpine with helm,
# kubectl and sops; its stand-in here is FROM scratch: nothing is pulled.)
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
actions=(action-generate action-filter action-comment)
cargo build --release --locked --target "$target" -p deployer --bin deployer-actions \
    -p action-setup-cluster --bin action-setup-cluster -p action-diff --bin action-diff

out=target/container
rm -rf "$out"
mkdir -p "$out/bin"
cp "target/$target/release/deployer-actions" "$out/bin/"
for action in "${actions[@]}"; do
    ln -s deployer-actions "$out/bin/$action"
done
cp tests/container/Dockerfile "$out/"
ls -l "$out/bin"

# The deploy image's setup-cluster, with the real sops it runs.
bash scripts/install-tools.sh >/dev/null
deploy_out=target/container-deploy
rm -rf "$deploy_out"
mkdir -p "$deploy_out/bin"
cp "target/$target/release/action-setup-cluster" "target/$target/release/action-diff" \
    target/tools/bin/sops target/tools/bin/helm "$deploy_out/bin/"
cp tests/container/Dockerfile.deploy "$deploy_out/Dockerfile"
ls -l "$deploy_out/bin"
