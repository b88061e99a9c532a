#!/usr/bin/env bash
# The mutation score of the decision core (issue 27): cargo-mutants injects small bugs into the
# code that decides what deploys, and each must make a test fail.
#
#   bash scripts/mutants.sh                 every group below (`make mutants`; about an hour on 2 cores)
#   bash scripts/mutants.sh legs            one group
#   bash scripts/mutants.sh --in-diff FILE  only the mutants on lines a diff touches (CI, a change's files)
#
# Each group is some source files and the tests that speak for them: the library's unit tests, and
# the integration tests that run the real binaries on those decisions. The tests run the binaries,
# so every mutant rebuilds them (scripts/mutants-cargo.sh) in the `mutants` profile (no debug
# info, incremental). cargo-mutants works in place, in this checkout: run it on a clean tree (it
# restores each file after its mutant, and refuses nothing; do not edit while it runs).
# Results go to target/mutants-out/<group>/mutants.out (caught.txt, missed.txt, unviable.txt,
# timeout.txt); the score is caught / (caught + missed + timeout).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# group: files (space-separated) | tests (space-separated integration test targets)
declare -A FILES TESTS
FILES[planning]="src/planning/plan.rs src/planning/changes.rs src/planning/three_stage.rs src/planning/pin_edits.rs src/planning/blocked_verdict.rs src/planning/cluster_edits.rs"
TESTS[planning]="properties_planning conformance action_generate reasons_exact cluster_edits blocked_clusters health_checks chart_inputs dropin_precision rollout_waves"
FILES[matching]="src/config/labels.rs src/config/globs.rs src/config/path_pattern.rs src/config/blocked_clusters.rs"
TESTS[matching]="properties_planning conformance action_generate blocked_clusters health_checks trust_patterns chart_inputs dropin_precision"
FILES[legs]="src/planning/legs.rs src/planning/filter.rs"
TESTS[legs]="properties_packing properties_filter properties_filter_input action_filter trust_canary matrix_legs batched_legs"
FILES[manifests]="src/manifest_diff/normalise.rs src/manifest_diff/skip.rs"
TESTS[manifests]="properties_normalise manifests_real_helm trust_diff diff"
GROUPS_IN_ORDER=(legs manifests matching planning)

in_diff=()
selected=()
while (($#)); do
    case "$1" in
        --in-diff) in_diff=(--in-diff "$2"); shift 2 ;;
        -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *)
            [[ -n "${FILES[$1]:-}" ]] || { echo "unknown group '$1' (groups: ${GROUPS_IN_ORDER[*]})" >&2; exit 2; }
            selected+=("$1"); shift ;;
    esac
done
((${#selected[@]})) || selected=("${GROUPS_IN_ORDER[@]}")

if [[ -n "$(git status --porcelain -- src)" ]]; then
    echo "scripts/mutants.sh mutates src/ in place: commit or stash your changes to src/ first" >&2
    exit 2
fi

mutants=$(bash scripts/install-cargo-mutants.sh)
bash scripts/install-tools.sh >/dev/null
export DEPLOYER_REAL_CARGO=${CARGO:-$(command -v cargo)}
export CARGO="$PWD/scripts/mutants-cargo.sh"
export CARGO_INCREMENTAL=1

run_pass() { # group, output folder, extra cargo-mutants args...
    local group=$1 out=$2
    shift 2
    "$mutants" mutants --in-place --profile mutants --no-shuffle --output "$out" \
        "${files[@]}" "${in_diff[@]}" "$@"
}

status=0
for group in "${selected[@]}"; do
    files=() tests=()
    for f in ${FILES[$group]}; do files+=(--file "$f"); done
    for t in ${TESTS[$group]}; do [[ -f "tests/$t.rs" ]] && tests+=(--test "$t"); done
    out="target/mutants-out/$group"
    rm -rf "$out"
    mkdir -p "$out"
    echo "== mutants: $group (${FILES[$group]})"
    # Two passes: the properties and integration tests first (one library build per mutant); then,
    # for the mutants they missed only (--iterate), the library's unit tests as well (a second
    # build, of the library with its tests).
    export DEPLOYER_MUTANTS_TESTS="${tests[*]}"
    pass=0
    run_pass "$group" "$out" || pass=$?
    if ((pass == 2 || pass == 3)); then
        export DEPLOYER_MUTANTS_TESTS="--lib ${tests[*]}"
        pass=0
        run_pass "$group" "$out" --iterate || pass=$?
    fi
    # 0: every mutant caught; 2: some missed; 3: some timed out; 4: the tree's own tests failed.
    ((pass == 0)) || status=$pass
    count() { if [[ -f "$out/mutants.out/$1.txt" ]]; then wc -l <"$out/mutants.out/$1.txt"; else echo 0; fi; }
    echo "== $group: missed $(count missed), timeout $(count timeout), unviable $(count unviable) (of $(count caught) caught in the last pass; the first pass's catches are in previously_caught.txt)"
done
exit "$status"
