# Two commands matter on a fresh machine:
#   make example   plan a change on the bundled example repository
#   make test      install the real tools (helm, sops, age), build every binary, start real
#                  Kubernetes API servers (built once, cached), then run every test
.PHONY: example test lint bench bench-deploy

CARGO ?= cargo

example:
	@echo "make example: building the deployer CLI, then planning a change on tests/fixtures/conformance/repo"
	@echo "              (the first build compiles every dependency: about 2-3 minutes on 2 cores; later runs take seconds)"
	$(CARGO) run --bin deployer -- generate \
		--repo tests/fixtures/conformance/repo \
		--changed-files config/clusters/cluster1/hub1.values.yaml,helm-charts/support/values.yaml

test:
	@echo "make test: installing the real tools into target/tools (helm, sops, age; cached), building every binary, then every test"
	@echo "           (the first build compiles every dependency: about 3-5 minutes on 2 cores; the first"
	@echo "           kube-apiserver build about 7-10 more, cached in /var/cache/deployer-ci by version)"
	bash scripts/install-tools.sh >/dev/null
	$(CARGO) build --workspace --bins --locked
	bash scripts/with-apiservers.sh $(CARGO) test --workspace --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	$(CARGO) bench --bench generate --bench floor --bench simulate

# deploy against real Kubernetes API servers (started and stopped around it): one upgrade,
# a leg of 20 releases at max-parallel-releases 1 and 4, and deploy's overhead around helm.
bench-deploy:
	bash scripts/install-tools.sh >/dev/null
	DEPLOYER_TEST_CLUSTERS=1 bash scripts/with-apiservers.sh $(CARGO) bench --bench deploy_apiserver
