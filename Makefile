# Two commands matter on a fresh machine:
#   make example   plan a change on the bundled example repository
#   make test      install the real tools (helm, sops, age), build every binary, then run every test
.PHONY: example test lint bench

CARGO ?= cargo

example:
	$(CARGO) run --quiet --bin deployer -- generate \
		--repo tests/fixtures/conformance/repo \
		--changed-files config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml

test:
	bash scripts/install-tools.sh >/dev/null
	$(CARGO) build --workspace --bins --locked --quiet
	$(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench --bench generate
