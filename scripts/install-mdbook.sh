#!/usr/bin/env bash
# Installs a pinned mdbook (the book in docs/ is built with it) and prints
# the path of the mdbook binary on stdout; everything else goes to stderr.
#
#   mdbook=$(bash scripts/install-mdbook.sh) && "$mdbook" build docs --dest-dir "$PWD/target/book"
#
# Built once per machine with `cargo install --locked --no-default-features`
# (no `serve`, `watch` or search index: `mdbook build` is all CI needs) into
# /var/cache/deployer-ci/mdbook-<version>, or $HOME/.cache/deployer-ci/... when
# /var/cache is not writable; DEPLOYER_CACHE overrides the folder. A later run
# reuses it. The build goes into a temporary folder beside the cache entry and
# is renamed into place only when it is whole, so an interrupted build is
# never taken for a cached one.
set -euo pipefail

MDBOOK_VERSION=0.5.4

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
final="$root/mdbook-$MDBOOK_VERSION"
binary="$final/bin/mdbook"

if [[ -x "$binary" ]]; then
    log "mdbook $MDBOOK_VERSION: cached in $final"
    printf '%s\n' "$binary"
    exit 0
fi

staging=$(mktemp -d "$root/.mdbook-$MDBOOK_VERSION.XXXXXX")
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT

log "mdbook $MDBOOK_VERSION: building with cargo install into $final (once per machine; a few minutes on 2 cores)"
start=$SECONDS
cargo install mdbook --version "$MDBOOK_VERSION" --locked --no-default-features \
    --root "$staging" --target-dir "$staging/build" >&2
rm -rf "$staging/build"
"$staging/bin/mdbook" --version >&2

# Whole: move it into place. If another run got there first, keep theirs.
if ! mv -T "$staging" "$final" 2>/dev/null; then
    log "mdbook $MDBOOK_VERSION: another run installed it meanwhile; using that one"
fi
log "mdbook $MDBOOK_VERSION: built in $((SECONDS - start)) s"
printf '%s\n' "$binary"
