#!/usr/bin/env bash
# Runs a command (the test suite) with real Kubernetes API servers: builds or reuses
# kube-apiserver (cached outside the clone, by source version), starts
# DEPLOYER_TEST_CLUSTERS (default 4) clusters on 127.0.0.1, exports
# DEPLOYER_TEST_APISERVERS=<state folder> to the command, and stops them by pid when it
# ends, whatever happens. Where they cannot be had, the command runs without them and the
# tests that need them say they were skipped, unless DEPLOYER_REQUIRE_APISERVERS=1 (CI).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${DEPLOYER_CACHE:-/var/cache/deployer-ci}
count=${DEPLOYER_TEST_CLUSTERS:-4}
required=${DEPLOYER_REQUIRE_APISERVERS:-0}

skip() { # why, then the command
    local why=$1
    shift
    if [ "$required" = 1 ]; then
        echo "with-apiservers: $why, and DEPLOYER_REQUIRE_APISERVERS=1" >&2
        exit 1
    fi
    echo "with-apiservers: $why: the tests against a real API server are skipped" >&2
    unset DEPLOYER_TEST_APISERVERS
    "$@"
}

prepare() {
    local missing=()
    command -v etcd >/dev/null || missing+=(etcd-server)
    command -v go >/dev/null || missing+=(golang-go)
    command -v dpkg-source >/dev/null || missing+=(dpkg-dev)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    command -v python3 >/dev/null || missing+=(python3)
    command -v rsync >/dev/null || missing+=(rsync)
    command -v make >/dev/null || missing+=(make)
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "with-apiservers: installing ${missing[*]}" >&2
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
                || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; } \
                || return 1
        else
            echo "with-apiservers: missing ${missing[*]}" >&2
            return 1
        fi
    fi
    mkdir -p "$cache_root" 2>/dev/null || return 1
    bash "$here/kube-apiserver/build.sh" "$cache_root" >&2
}

if ! prepare; then
    skip "kube-apiserver v1.20.2 could not be built here (see above)" "$@"
    exit $?
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/deployer-apiservers.XXXXXX")
stop() { bash "$here/kube-apiserver/servers.sh" stop "$state"; rm -rf "$state"; }
trap stop EXIT
trap 'exit 130' INT TERM
if ! bash "$here/kube-apiserver/servers.sh" start "$state" "$count" >&2; then
    skip "the API servers did not start" "$@"
    exit $?
fi
export DEPLOYER_TEST_APISERVERS="$state"
"$@"
