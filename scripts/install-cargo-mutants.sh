#!/usr/bin/env bash
# Installs a pinned cargo-mutants (scripts/mutants.sh measures the decision core's mutation score
# with it) and prints the path of the binary on stdout; everything else goes to stderr.
#
#   mutants=$(bash scripts/install-cargo-mutants.sh) && "$mutants" mutants --version
#
# Built once per machine and cached by scripts/install-cached-crate.sh.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-cached-crate.sh" cargo-mutants 27.1.0 cargo-mutants
