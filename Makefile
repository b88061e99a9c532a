# Two commands matter on a fresh machine:
#   make example   plan a change on the bundled example repository
#   make test      install the real tools (helm, sops, age), build every binary, start real
#                  Kubernetes API servers (built once, cached), then run every test
# When their output is not a terminal (a CI log), each long step runs under
# scripts/heartbeat.sh, which prints "… still running <what> (<N>s)" every 30 s
# (DEPLOYER_HEARTBEAT_SECS) while the step prints nothing.
.PHONY: example test lint docs bench bench-deploy mutants

CARGO ?= cargo
HEARTBEAT = bash scripts/heartbeat.sh

example:
	@echo "make example: building the deployer CLI, then planning a change on tests/fixtures/conformance/repo"
	@echo "              (the first build compiles every dependency: about 2-3 minutes on 2 cores; later runs take seconds)"
	$(HEARTBEAT) "make example: cargo run --bin deployer" $(CARGO) run --bin deployer -- generate \
		--repo tests/fixtures/conformance/repo \
		--changed-files config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml

test:
	@echo "make test: installing the real tools into target/tools (helm, sops, age; cached), building every binary, then every test"
	@echo "           (the first build compiles every dependency: about 3-5 minutes on 2 cores; the first"
	@echo "           kube-apiserver build about 7-10 more, cached in /var/cache/deployer-ci by version)"
	$(HEARTBEAT) "make test: scripts/install-tools.sh (helm, sops, age)" bash -c 'bash scripts/install-tools.sh >/dev/null'
	$(HEARTBEAT) "make test: cargo build --workspace --bins" $(CARGO) build --workspace --bins --locked
	$(HEARTBEAT) "make test: the API servers and cargo test --workspace" bash scripts/with-apiservers.sh $(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The book in docs/, built into target/book with a pinned mdbook (installed
# once per machine by scripts/install-mdbook.sh).
docs:
	@mdbook=$$(bash scripts/install-mdbook.sh) && "$$mdbook" build docs --dest-dir "$(CURDIR)/target/book"
	@echo "make docs: open target/book/index.html"

bench:
	$(CARGO) bench --bench generate --bench floor --bench simulate

# deploy against real Kubernetes API servers (started and stopped around it): one upgrade,
# a leg of 20 releases at max-parallel-releases 1 and 4, and deploy's overhead around helm.
bench-deploy:
	$(HEARTBEAT) "make bench-deploy: scripts/install-tools.sh (helm, sops, age)" bash -c 'bash scripts/install-tools.sh >/dev/null'
	DEPLOYER_TEST_CLUSTERS=1 $(HEARTBEAT) "make bench-deploy" bash scripts/with-apiservers.sh $(CARGO) bench --bench deploy_apiserver

# The decision core's mutation score (cargo-mutants, pinned and cached by scripts/install-cargo-mutants.sh):
# every group of scripts/mutants.sh, results under target/mutants-out/. Hours on 2 cores, not a CI step.
mutants:
	$(HEARTBEAT) "make mutants" bash scripts/mutants.sh
