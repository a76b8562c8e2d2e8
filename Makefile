SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Versions come from go.mod so the OPA CLI always matches the library podguard embeds.
OPA_VERSION := $(shell go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
# The same flags as the Dockerfile: a static binary with the policies embedded.
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

RUN_DIR := $(BIN)/run
PORT ?= 9443

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/podguard.
	$(GOBUILD) -o $(BIN)/podguard ./cmd/podguard

IMAGE_REPOSITORY ?= ghcr.io/podguard/podguard
# The version without its leading v, as the chart's appVersion names it: at tag v0.1.0
# the image is the chart's default, $(IMAGE_REPOSITORY):0.1.0.
IMAGE_TAG ?= $(patsubst v%,%,$(VERSION))
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every time in the image is the last commit's, so a commit gives one image digest.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

.PHONY: image
image: export GOOS := linux
image: build ## Build bin/podguard-image.tar from bin/podguard, without Docker (test/image).
	platform=$$(go env GOOS)/$$(go env GOARCH) && cd test && env -u GOOS -u GOARCH go run ./cmd/image \
		-binary $(BIN)/podguard -platform $$platform -version $(VERSION) -revision $(REVISION) \
		-created $(SOURCE_DATE_EPOCH) -repository $(IMAGE_REPOSITORY) -tag $(IMAGE_TAG) \
		-o $(BIN)/podguard-image.tar

$(BIN)/opa-$(OPA_VERSION):
	GOBIN=$(BIN)/opa-build go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	mv $(BIN)/opa-build/opa $@ && rmdir $(BIN)/opa-build
	ln -sf opa-$(OPA_VERSION) $(BIN)/opa

.PHONY: opa
opa: $(BIN)/opa-$(OPA_VERSION) ## Install the OPA CLI matching go.mod into bin/.

##@ Run

.PHONY: run
run: build ## Serve the webhook on its embedded policies with a throw-away certificate.
	@mkdir -p $(RUN_DIR)
	@openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout $(RUN_DIR)/tls.key -out $(RUN_DIR)/tls.crt 2>/dev/null
	@echo "podguard is starting on https://localhost:$(PORT). In another shell, send a sample review:"
	@echo
	@echo "  curl -s --cacert $(RUN_DIR)/tls.crt -H 'Content-Type: application/json' \\"
	@echo "    --data @test/samples/review-pod-violating.json https://localhost:$(PORT)/validate"
	@echo
	@echo "(and review-pod-needs-defaults.json against /mutate). Ctrl-C stops it."
	@echo
	$(BIN)/podguard serve --cert-dir $(RUN_DIR) --port $(PORT) --shutdown-delay 0s \
		--metrics-bind-address 127.0.0.1:8080 --health-probe-bind-address 127.0.0.1:8081 \
		--watch-cluster=false

##@ Test

.PHONY: policy-check
policy-check: opa ## opa fmt, opa check --strict and opa test on policies/.
	$(BIN)/opa fmt --list --fail policies
	$(BIN)/opa check --strict policies
	$(BIN)/opa test --timeout 1h policies

# -timeout catches a test that hangs, not a slow one: a busy machine takes several times
# as long as a quiet one (the webhook package alone ten minutes, go test's default bound).
.PHONY: unit
unit: ## Go tests of the main module, with the race detector.
	go vet ./...
	go test -race -count=1 -timeout 1h ./...

STRESS_RUNS ?= 3

# The burner is stopped when the recipe's shell exits, whatever the runs gave; burn also
# stops by itself if that shell is gone.
.PHONY: test-stress
test-stress: ## make unit STRESS_RUNS (3) times while test/cmd/burn keeps every core busy.
	cd test && go build -o $(BIN)/burn ./cmd/burn
	@$(BIN)/burn & burner=$$!; trap 'kill $$burner 2>/dev/null; wait $$burner 2>/dev/null || true' EXIT; \
	passed=0; start=$$(date +%s); \
	for i in $$(seq 1 $(STRESS_RUNS)); do \
		echo "== test-stress: make unit, run $$i of $(STRESS_RUNS), every core busy"; \
		if $(MAKE) --no-print-directory unit; then passed=$$((passed + 1)); fi; \
	done; \
	echo "test-stress: $$passed of $(STRESS_RUNS) runs of make unit passed, in $$(( $$(date +%s) - start ))s"; \
	[ $$passed -eq $(STRESS_RUNS) ]

.PHONY: test-binaries
test-binaries: ## Build (once, cached outside the clone) kube-apiserver and etcd for the real-cluster tests.
	cd test && go run ./cluster/cmd/prebuild

# The test module's packages but the conformance corpus, which lives outside the clone.
E2E_PACKAGES = $$(go list ./... | grep -v '/conformance$$')

.PHONY: e2e
e2e: build image test-binaries sarif-schema ## Tests of the test module: real kube-apiserver and etcd, chart, image.
	cd test && PODGUARD_BIN=$(BIN)/podguard PODGUARD_IMAGE=$(BIN)/podguard-image.tar \
		go test -count=1 -timeout 40m $(E2E_PACKAGES)

.PHONY: test
test: policy-check unit e2e ## Everything in the clone: Rego, Go unit tests, real API server tests.

# The corpus is ../shared/conformance beside the clone (or $$PODGUARD_CONFORMANCE_DIR);
# without it this target fails, it never passes having compared nothing. .ci/run runs it.
.PHONY: conformance
conformance: ## Rules against the external conformance corpus (Gatekeeper, Kyverno, Polaris verdicts).
	cd test && go test -count=1 ./conformance/

.PHONY: demo
demo: build test-binaries ## Real API server + podguard: apply test/samples and show what is admitted, patched, refused.
	cd test && PODGUARD_BIN=$(BIN)/podguard go run ./cmd/demo samples

SARIF_SCHEMA := $(HOME)/.cache/podguard/sarif-2.1.0-rtm.5.json

$(SARIF_SCHEMA):
	mkdir -p $(dir $@) && tmp=$$(mktemp -d) && \
		(cd $$tmp && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null && tar xzf *.tgz) && \
		cp $$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json $@ && rm -rf $$tmp

.PHONY: sarif-schema
sarif-schema: $(SARIF_SCHEMA) ## Fetch the SARIF 2.1.0 schema (npm registry) that the SARIF test validates against.

##@ Performance and robustness

BENCH_DURATION ?= 5s
BENCH_WARMUP ?= 1s
BENCH_CONCURRENCY ?= 1,8,64

.PHONY: bench
bench: build opa ## Load benchmark: podguard against a no-op webhook and the OPA server (test/bench).
	cd test && go build -o $(BIN)/bench ./bench/cmd/bench && go build -o $(BIN)/bench-noop ./bench/cmd/noop
	$(BIN)/bench -podguard $(BIN)/podguard -opa $(BIN)/opa -noop $(BIN)/bench-noop \
		-bodies test/bench/bodies -opa-policy test/bench/opa/policy.rego \
		-duration $(BENCH_DURATION) -warmup $(BENCH_WARMUP) -concurrency $(BENCH_CONCURRENCY)

FUZZTIME ?= 10m
# FUZZFLAGS passes more go test flags, e.g. FUZZFLAGS=-parallel=1 to leave a core free.
FUZZFLAGS ?=
FUZZ_TARGETS := ./webhook:FuzzAdmissionReview ./policies/config:FuzzParse ./policies/offline:FuzzRead \
	./policies/engine:FuzzDecision ./policies/engine:FuzzDecode ./policies/engine:FuzzEvaluators \
	./policies/quantity:FuzzReadQuantity ./webhook:FuzzDecodeRequest

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10m); make test runs only their seed corpora.
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg), $(FUZZTIME)"; \
		go test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 30s -timeout 0 $(FUZZFLAGS) || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (crashers are in testdata/fuzz)"; exit 1; fi

SOAK_REVIEWS ?= 1000000

.PHONY: soak
soak: build ## Soak: SOAK_REVIEWS (1M) reviews over the mix of bodies; RSS, heap, goroutines, fds must stay flat.
	cd test && go build -o $(BIN)/soak ./bench/cmd/soak
	$(BIN)/soak -podguard $(BIN)/podguard -bodies test/bench/bodies -reviews $(SOAK_REVIEWS)
