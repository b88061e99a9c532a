#!/usr/bin/env bash
# Installs a pinned crate's binary once per machine and prints the binary's path on stdout;
# everything else goes to stderr. scripts/install-mdbook.sh and scripts/install-cargo-mutants.sh
# call it with their pins.
#
#   bash scripts/install-cached-crate.sh CRATE VERSION BINARY [cargo install args...]
#
# Built with `cargo install --locked` into /var/cache/deployer-ci/<crate>-<version>, or
# $HOME/.cache/deployer-ci/... when /var/cache is not writable; DEPLOYER_CACHE overrides the
# folder. A later run reuses it. The build goes into a temporary folder beside the cache entry and
# is renamed into place only when it is whole, so an interrupted build is never taken for a cached
# one.
set -euo pipefail

if (($# < 3)); then
    echo "usage: bash scripts/install-cached-crate.sh CRATE VERSION BINARY [cargo install args...]" >&2
    exit 2
fi
crate=$1 version=$2 binary_name=$3
shift 3

log() { printf '%s\n' "$*" >&2; }

cache_root() {
    if [[ -n "${DEPLOYER_CACHE:-}" ]]; then
        printf '%s\n' "$DEPLOYER_CACHE"
        return
    fi
    local system=/var/cache/deployer-ci
    if mkdir -p "$system" 2>/dev/null && [[ -w "$system" ]]; then
        printf '%s\n' "$system"
    else
        printf '%s\n' "${HOME:?}/.cache/deployer-ci"
    fi
}

root=$(cache_root)
mkdir -p "$root"
final="$root/$crate-$version"
binary="$final/bin/$binary_name"

if [[ -x "$binary" ]]; then
    log "$crate $version: cached in $final"
    printf '%s\n' "$binary"
    exit 0
fi

staging=$(mktemp -d "$root/.$crate-$version.XXXXXX")
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT

log "$crate $version: building with cargo install into $final (once per machine; a few minutes on 2 cores)"
start=$SECONDS
cargo install "$crate" --version "$version" --locked "$@" --root "$staging" --target-dir "$staging/build" >&2
rm -rf "$staging/build"
if [[ ! -x "$staging/bin/$binary_name" ]]; then
    log "$crate $version: cargo install made no bin/$binary_name"
    exit 1
fi

# Whole: move it into place. If another run got there first, keep theirs.
if ! mv -T "$staging" "$final" 2>/dev/null; then
    log "$crate $version: another run installed it meanwhile; using that one"
fi
log "$crate $version: built in $((SECONDS - start)) s"
printf '%s\n' "$binary"
