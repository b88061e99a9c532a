#!/usr/bin/env bash
# Installs a pinned mdbook (the book in docs/ is built with it) and prints the path of the mdbook
# binary on stdout; everything else goes to stderr.
#
#   mdbook=$(bash scripts/install-mdbook.sh) && "$mdbook" build docs --dest-dir "$PWD/target/book"
#
# Built once per machine and cached by scripts/install-cached-crate.sh, without default features
# (no `serve`, `watch` or search index: `mdbook build` is all CI needs).
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-cached-crate.sh" mdbook 0.5.4 mdbook --no-default-features
