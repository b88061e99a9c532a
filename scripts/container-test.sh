#!/usr/bin/env bash
# Runs every action inside a container the way the GitHub runner does.
#
# Needs a Docker engine. On a machine without one (as in CI here), it installs
# Debian's docker.io and starts dockerd itself, with no bridge network:
# containers use --network none, or --network host to reach the local fake
# GitHub API on 127.0.0.1. No image is pulled: the test image is FROM scratch
# with the binaries built here. If Docker cannot be made to work, this fails.
# A dockerd this script started is stopped when it ends (by its recorded pid);
# an engine that was already running is left alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "container test: FAILED: $*" >&2; exit 1; }

if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
        echo "== installing docker.io"
        apt-get update -qq && apt-get install -y -qq docker.io >/dev/null || fail "cannot install docker.io"
    fi
    echo "== starting dockerd (no bridge, no iptables)"
    log=$(mktemp)
    nohup dockerd --bridge=none --iptables=false --ip6tables=false --ip-masq=false >"$log" 2>&1 &
    # Stop what this script started, and only that: the dockerd of this pid
    # (it stops the containerd it spawned). An engine that was already running
    # is never touched.
    dockerd_pid=$!
    stop_dockerd() {
        kill -TERM "$dockerd_pid" 2>/dev/null || return 0
        for _ in $(seq 1 30); do
            kill -0 "$dockerd_pid" 2>/dev/null || { echo "== stopped the dockerd this script started (pid $dockerd_pid)"; return 0; }
            sleep 1
        done
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    }
    trap stop_dockerd EXIT
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 30 "$log" >&2 || true
        fail "Docker did not start; the container test cannot run"
    fi
fi
docker version --format 'docker client {{.Client.Version}}, engine {{.Server.Version}}'

echo "== static binaries"
bash scripts/build-static.sh

image=deployer-runtime:test
echo "== building $image (FROM scratch)"
docker build --quiet --tag "$image" target/container >/dev/null || fail "docker build"
size=$(docker image inspect --format '{{.Size}}' "$image")
echo "image $image: $size bytes"

deploy_image=deployer-deploy:test
echo "== building $deploy_image (FROM scratch: action-setup-cluster and sops)"
docker build --quiet --tag "$deploy_image" target/container-deploy >/dev/null || fail "docker build (deploy)"

echo "== running the actions in containers"
DEPLOYER_CONTAINER_IMAGE="$image" DEPLOYER_DEPLOY_IMAGE="$deploy_image" cargo test --locked --test container -- --ignored --test-threads 1 --nocapture
