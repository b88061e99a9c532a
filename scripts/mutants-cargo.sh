#!/usr/bin/env bash
# The `cargo` scripts/mutants.sh gives cargo-mutants (through $CARGO). The integration tests run the
# real binaries (target/<profile>/action-*, deployer). `cargo test` rebuilds the deployer package's
# own binaries for its tests, but not the thin action packages (and building those apart would
# compile the library a second time, without the dev-dependencies' features): so in the mutants'
# profile each action-* is a link to `deployer-actions`, the multi-call binary of the runtime image,
# which runs the action it is started as. A mutant is thus tested through binaries that contain
# it, at one library build per mutant. Every `cargo test` (the
# build with --no-run and the run) gets the group's test targets ($DEPLOYER_MUTANTS_TESTS, e.g.
# "--lib --test conformance"), so only those are built and run. Anything else is passed to cargo
# unchanged.
set -euo pipefail
real=${DEPLOYER_REAL_CARGO:?set by scripts/mutants.sh}
if [[ "${1:-}" == test ]]; then
    profile=dev
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        if [[ "${args[i]}" == --profile ]]; then profile=${args[i + 1]}; fi
        if [[ "${args[i]}" == --profile=* ]]; then profile=${args[i]#--profile=}; fi
    done
    [[ "$profile" == dev ]] && profile=debug
    dir="${CARGO_TARGET_DIR:-target}/$profile"
    mkdir -p "$dir"
    for action in action-generate action-filter action-comment action-setup-cluster action-deploy action-diff; do
        [[ -L "$dir/$action" ]] || ln -sfn deployer-actions "$dir/$action"
    done
fi
if [[ "${1:-}" == test ]]; then
    read -r -a selection <<<"${DEPLOYER_MUTANTS_TESTS:?set by scripts/mutants.sh}"
    exec "$real" test "${selection[@]}" "${@:2}"
fi
exec "$real" "$@"
