#!/usr/bin/env bash
# The mutation score of the decision core: cargo-mutants injects small bugs (mutants) into the code
# that decides what deploys, and each must make a test fail.
#
#   make mutants                             every group below (bash scripts/mutants.sh)
#   bash scripts/mutants.sh legs manifests   some groups
#   bash scripts/mutants.sh --in-diff FILE   only the mutants on lines a diff touches
#   bash scripts/mutants.sh --ci             .ci/run: the mutants on the decision-core lines the last
#                                            commit touched, when there are at most
#                                            $DEPLOYER_MUTANTS_CI_MAX (30) of them
#   --profile NAME                           the cargo profile (default `mutants`; --ci uses `dev`,
#                                            whose build `make test` has just made)
#
# A group is some source files and the tests that speak for them: the properties, the integration
# tests that run the real binaries on those decisions, and the library's unit tests. Each mutant
# rebuilds the library and the binaries (scripts/mutants-cargo.sh). Two passes per group: a few
# strong tests first; then, for the mutants they missed only (cargo-mutants --iterate), every test
# of the group and the library's unit tests (a second build of the library). cargo-mutants works in
# place, in this checkout: src/ must be clean (it restores each file after its mutant; do not edit
# while it runs).
# Results: target/mutants-out/<group>/first-pass/ and mutants.out/ (the second pass): caught.txt,
# missed.txt, timeout.txt, unviable.txt; the last line per group sums them. The score is
# (caught + timeout) / (caught + missed + timeout): a mutant that hangs a test fails CI too, and an
# unviable mutant (one that does not build) does not count (docs/src/development.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The groups: FILES[group] are mutated. FIRST_TESTS[group] run on every mutant (a few strong ones:
# each test target costs a link per mutant; `lib` is the library's unit tests, which build no
# binary); MORE_TESTS[group] and the unit tests run on the mutants the first ones missed.
# tests/mutants_groups.rs checks that every file and test named here exists.
declare -A FILES FIRST_TESTS MORE_TESTS
FILES[legs]="src/planning/legs.rs src/planning/filter.rs"
FIRST_TESTS[legs]="properties_packing properties_filter action_filter"
MORE_TESTS[legs]="properties_filter_input trust_canary health_checks matrix_legs batched_legs"
FILES[manifests]="src/manifest_diff/normalise.rs src/manifest_diff/skip.rs"
FIRST_TESTS[manifests]="properties_normalise trust_diff"
MORE_TESTS[manifests]="manifests_real_helm diff"
FILES[matching]="src/config/labels.rs src/config/globs.rs src/config/path_pattern.rs src/config/blocked_clusters.rs"
FIRST_TESTS[matching]="lib"
MORE_TESTS[matching]="conformance properties_planning blocked_clusters action_generate health_checks trust_patterns chart_inputs dropin_precision"
FILES[planning]="src/planning/plan.rs src/planning/changes.rs src/planning/three_stage.rs src/planning/pin_edits.rs src/planning/blocked_verdict.rs src/planning/cluster_edits.rs"
FIRST_TESTS[planning]="lib"
MORE_TESTS[planning]="conformance properties_planning cluster_edits action_generate reasons_exact blocked_clusters health_checks chart_inputs dropin_precision rollout_waves migration before_steps dropin_jsonnet"
GROUPS_IN_ORDER=(legs manifests matching planning)

usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }

in_diff=()
selected=()
profile=mutants
ci=false
ci_args=()
while (($#)); do
    case "$1" in
        --in-diff) in_diff=(--in-diff "${2:?--in-diff needs a diff file}"); shift 2 ;;
        --profile) profile=${2:?--profile needs a name}; shift 2 ;;
        --ci) ci=true; profile=dev; shift ;;
        -h | --help) usage; exit 0 ;;
        *)
            if [[ -z "${FILES[$1]:-}" ]]; then
                echo "scripts/mutants.sh: unknown group '$1' (groups: ${GROUPS_IN_ORDER[*]})" >&2
                exit 2
            fi
            selected+=("$1"); shift ;;
    esac
done
((${#selected[@]})) || selected=("${GROUPS_IN_ORDER[@]}")

if [[ -n "$(git status --porcelain -- src)" ]]; then
    echo "scripts/mutants.sh mutates src/ in place: commit or stash your changes to src/ first" >&2
    exit 2
fi

all_files=()
for group in "${GROUPS_IN_ORDER[@]}"; do
    read -r -a group_files <<<"${FILES[$group]}"
    all_files+=("${group_files[@]}")
done
if $ci; then
    if ! git rev-parse -q --verify HEAD~1 >/dev/null; then
        echo "== mutants: no parent commit (a shallow clone?): nothing to compare, skipped"
        exit 0
    fi
    if git diff --quiet HEAD~1 HEAD -- "${all_files[@]}"; then
        echo "== mutants: the last commit touches no file of the decision core"
        exit 0
    fi
fi

mutants=$(bash scripts/install-cargo-mutants.sh)
bash scripts/install-tools.sh >/dev/null
export DEPLOYER_REAL_CARGO=${CARGO:-$(command -v cargo)}
export CARGO="$PWD/scripts/mutants-cargo.sh"
export CARGO_INCREMENTAL=1
# A property that catches a mutant needs not shrink its case, and must not record it in tests/.
export PROPTEST_MAX_SHRINK_ITERS=0 PROPTEST_DISABLE_FAILURE_PERSISTENCE=1

if $ci; then
    diff_file=$(mktemp)
    trap 'rm -f "$diff_file"' EXIT
    git diff HEAD~1 HEAD -- "${all_files[@]}" >"$diff_file"
    in_diff=(--in-diff "$diff_file")
    files=()
    for f in "${all_files[@]}"; do files+=(--file "$f"); done
    count=$("$mutants" mutants --list "${files[@]}" "${in_diff[@]}" | grep -c . || true)
    max=${DEPLOYER_MUTANTS_CI_MAX:-30}
    if ((count == 0)); then
        echo "== mutants: the last commit touches no mutable line of the decision core"
        exit 0
    elif ((count > max)); then
        echo "== mutants: the last commit touches the lines of $count mutants of the decision core, more than CI's $max: run \`make mutants\`"
        exit 0
    fi
    echo "== mutants: the $count mutants on the decision-core lines the last commit touched"
    # make test has just passed on this tree: no baseline run, so a fixed timeout.
    ci_args=(--baseline skip --timeout 600)
fi

run_pass() { # output folder, extra cargo-mutants args...
    local out=$1
    shift
    # The timeout cargo-mutants sets from the baseline can be a few seconds; on shared cores a test run
    # can take minutes without hanging, and a timeout counts against the score.
    "$mutants" mutants --in-place --profile "$profile" --no-shuffle --output "$out" --minimum-test-timeout 180 \
        "${files[@]}" "${in_diff[@]}" "${ci_args[@]}" "$@"
}
count() { # mutants.out folder, outcome
    if [[ -f "$1/$2.txt" ]]; then grep -c . "$1/$2.txt" || true; else echo 0; fi
}

status=0
for group in "${selected[@]}"; do
    files=() first=() all=()
    for f in ${FILES[$group]}; do files+=(--file "$f"); done
    for t in ${FIRST_TESTS[$group]}; do
        if [[ "$t" == lib ]]; then first+=(--lib); else first+=(--test "$t"); fi
    done
    all=(--lib)
    for t in ${FIRST_TESTS[$group]} ${MORE_TESTS[$group]}; do
        [[ "$t" == lib ]] && continue
        [[ -f "tests/$t.rs" ]] || { echo "scripts/mutants.sh: tests/$t.rs (group $group) does not exist" >&2; exit 2; }
        all+=(--test "$t")
    done
    out="target/mutants-out/$group"
    rm -rf "$out"
    mkdir -p "$out"
    echo "== mutants: $group (${FILES[$group]})"
    export DEPLOYER_MUTANTS_TESTS="${first[*]}"
    pass=0
    run_pass "$out" || pass=$?
    # The first pass's outcomes, kept apart: the second pass's own files then hold only its mutants
    # (its previously_caught.txt mixes the first pass's caught and unviable ones).
    mkdir -p "$out/first-pass"
    cp "$out"/mutants.out/*.txt "$out/first-pass/" 2>/dev/null || true
    # cargo-mutants exits 0 when every mutant was caught, 2 when some were missed, 3 when some
    # timed out, 4 when the unmutated tree's tests fail.
    if ((pass == 2 || pass == 3)); then
        export DEPLOYER_MUTANTS_TESTS="${all[*]}"
        pass=0
        run_pass "$out" --iterate || pass=$?
    fi
    ((pass == 0)) || status=$pass
    result="$out/mutants.out"
    if [[ -f "$result/previously_caught.txt" ]]; then # a second pass ran
        caught=$(($(count "$out/first-pass" caught) + $(count "$result" caught)))
        unviable=$(($(count "$out/first-pass" unviable) + $(count "$result" unviable)))
    else
        caught=$(count "$result" caught)
        unviable=$(count "$result" unviable)
    fi
    missed=$(count "$result" missed)
    timeout=$(count "$result" timeout)
    echo "== $group: caught $caught, missed $missed, timed out $timeout, unviable $unviable"
    if ((missed > 0)); then sed 's/^/   missed: /' "$result/missed.txt"; fi
done
exit "$status"
