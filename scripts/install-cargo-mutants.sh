#!/usr/bin/env bash
# Installs a pinned cargo-mutants (scripts/mutants.sh measures the decision
# core's mutation score with it) and prints the path of the binary on stdout;
# everything else goes to stderr.
#
#   mutants=$(bash scripts/install-cargo-mutants.sh) && "$mutants" mutants --version
#
# Built once per machine with `cargo install --locked` into
# /var/cache/deployer-ci/cargo-mutants-<version>, or $HOME/.cache/deployer-ci/... when
# /var/cache is not writable; DEPLOYER_CACHE overrides the folder. A later run
# reuses it. The build goes into a temporary folder beside the cache entry and
# is renamed into place only when it is whole, so an interrupted build is
# never taken for a cached one.
set -euo pipefail

MUTANTS_VERSION=27.1.0

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
final="$root/cargo-mutants-$MUTANTS_VERSION"
binary="$final/bin/cargo-mutants"

if [[ -x "$binary" ]]; then
    log "cargo-mutants $MUTANTS_VERSION: cached in $final"
    printf '%s\n' "$binary"
    exit 0
fi

staging=$(mktemp -d "$root/.cargo-mutants-$MUTANTS_VERSION.XXXXXX")
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT

log "cargo-mutants $MUTANTS_VERSION: building with cargo install into $final (once per machine; a few minutes on 2 cores)"
start=$SECONDS
cargo install cargo-mutants --version "$MUTANTS_VERSION" --locked \
    --root "$staging" --target-dir "$staging/build" >&2
rm -rf "$staging/build"
"$staging/bin/cargo-mutants" mutants --version >&2

# Whole: move it into place. If another run got there first, keep theirs.
if ! mv -T "$staging" "$final" 2>/dev/null; then
    log "cargo-mutants $MUTANTS_VERSION: another run installed it meanwhile; using that one"
fi
log "cargo-mutants $MUTANTS_VERSION: built in $((SECONDS - start)) s"
printf '%s\n' "$binary"
