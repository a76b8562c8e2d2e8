SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Versions come from go.mod so the OPA CLI always matches the library podguard embeds.
OPA_VERSION := $(shell go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
## Version podguard and its image report (git describe).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN := $(CURDIR)/bin
# The same flags as the Dockerfile: a static binary with the policies embedded.
GOBUILD := CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

RUN_DIR := $(BIN)/run

# make help lists each target with a "## " comment after its prerequisites, and each
# variable with a "## " comment line just above its "?=" line, with the value it has now.
HELP_VARIABLES = $(shell awk '/^## /{d=1; next} d && /^[A-Z_]+ \?=/{print $$1} {d=0}' $(MAKEFILE_LIST))

.PHONY: help
help: ## Show the targets and the variables a user sets (make VARIABLE=value target).
	@awk 'BEGIN {FS = ":.*## "} /^##@ / {printf "\n%s:\n", substr($$0, 5)} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@printf '\nVariables (make VARIABLE=value target), with their values now:\n'
	@env $(foreach v,$(HELP_VARIABLES),'$(v)=$($(v))') awk '/^## / {d = substr($$0, 4); next} \
		d != "" && /^[A-Z_]+ \?=/ {printf "  %s = %s\n      %s\n", $$1, ENVIRON[$$1], d} {d = ""}' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/podguard.
	$(GOBUILD) -o $(BIN)/podguard ./cmd/podguard

## Repository the image archive names (make image).
IMAGE_REPOSITORY ?= ghcr.io/podguard/podguard
# The version without its leading v, as the chart's appVersion names it: at tag v0.1.0
# the image is the chart's default, $(IMAGE_REPOSITORY):0.1.0.
## Tag the image archive names: VERSION without its leading v.
IMAGE_TAG ?= $(patsubst v%,%,$(VERSION))
## os/arch[/variant] list, comma-separated: one gives an image, several an OCI image index.
IMAGE_PLATFORMS ?= linux/$(shell go env GOARCH)
## Commit the image's revision label names.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every time in the image is the last commit's, so a commit gives one image digest.
## Unix time of every file and of the image (the last commit's).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
comma := ,

# Each platform's binary is built as make build builds it (GOBUILD: static), with its
# GOOS, GOARCH (and GOARM for linux/arm/v7), into bin/image/OS-ARCH[-VARIANT]/.
.PHONY: image
image: ## Build bin/podguard-image.tar for IMAGE_PLATFORMS, without Docker (test/image); prints the digest a push stores.
	@binaries=""; for platform in $(subst $(comma), ,$(IMAGE_PLATFORMS)); do \
		IFS=/ read -r os arch variant <<< "$$platform"; \
		if [ "$$os" != linux ] || [ -z "$$arch" ]; then \
			echo "IMAGE_PLATFORMS: $$platform is not linux/arch[/variant]" >&2; exit 2; fi; \
		out=$(BIN)/image/$$os-$$arch$${variant:+-$$variant}/podguard; \
		goarm=""; if [ "$$arch" = arm ] && [ -n "$$variant" ]; then goarm="GOARM=$${variant#v}"; fi; \
		echo "go build for $$platform: $$out"; \
		env GOOS=$$os GOARCH=$$arch $$goarm $(GOBUILD) -o $$out ./cmd/podguard; \
		binaries="$$binaries -binary $$platform=$$out"; \
	done; \
	cd test && env -u GOOS -u GOARCH go run ./cmd/image $$binaries -version $(VERSION) -revision $(REVISION) \
		-created $(SOURCE_DATE_EPOCH) -repository $(IMAGE_REPOSITORY) -tag $(IMAGE_TAG) \
		-o $(BIN)/podguard-image.tar

$(BIN)/opa-$(OPA_VERSION):
	GOBIN=$(BIN)/opa-build go install github.com/open-policy-agent/opa@$(OPA_VERSION)
	mv $(BIN)/opa-build/opa $@ && rmdir $(BIN)/opa-build
	ln -sf opa-$(OPA_VERSION) $(BIN)/opa

.PHONY: opa
opa: $(BIN)/opa-$(OPA_VERSION) ## Install the OPA CLI matching go.mod into bin/.

##@ Run

## Port of make run's webhook (HTTPS).
PORT ?= 9443
## Address of make run's /metrics (plain HTTP).
METRICS_BIND_ADDRESS ?= 127.0.0.1:8080
## Address of make run's /healthz and /readyz.
HEALTH_PROBE_BIND_ADDRESS ?= 127.0.0.1:8081

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
		--metrics-bind-address $(METRICS_BIND_ADDRESS) --health-probe-bind-address $(HEALTH_PROBE_BIND_ADDRESS) \
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
	go test -race -count=1 -timeout 1h ./...

## How many times make test-stress runs its target.
STRESS_RUNS ?= 3
## What make test-stress runs (STRESS_TARGET=test STRESS_RUNS=1: all of make test, every core busy).
STRESS_TARGET ?= unit

# The burner is stopped when the recipe's shell exits, whatever the runs gave; burn also
# stops by itself if that shell is gone.
.PHONY: test-stress
test-stress: ## make STRESS_TARGET (unit) STRESS_RUNS (3) times while test/cmd/burn keeps every core busy.
	cd test && go build -o $(BIN)/burn ./cmd/burn
	@$(BIN)/burn & burner=$$!; trap 'kill $$burner 2>/dev/null; wait $$burner 2>/dev/null || true' EXIT; \
	passed=0; start=$$(date +%s); \
	for i in $$(seq 1 $(STRESS_RUNS)); do \
		echo "== test-stress: make $(STRESS_TARGET), run $$i of $(STRESS_RUNS), every core busy"; \
		if $(MAKE) --no-print-directory $(STRESS_TARGET); then passed=$$((passed + 1)); fi; \
	done; \
	echo "test-stress: $$passed of $(STRESS_RUNS) runs of make $(STRESS_TARGET) passed, in $$(( $$(date +%s) - start ))s"; \
	[ $$passed -eq $(STRESS_RUNS) ]

# Pinned like the OPA CLI, so a new release of a checker never turns a clean tree red.
STATICCHECK_VERSION := v0.8.2
DEADCODE_VERSION := v0.52.0
MAX_TRACKED_FILE := 1048576

$(BIN)/staticcheck-$(STATICCHECK_VERSION):
	GOBIN=$(BIN)/staticcheck-build go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck-build/staticcheck $@ && rmdir $(BIN)/staticcheck-build

$(BIN)/deadcode-$(DEADCODE_VERSION):
	GOBIN=$(BIN)/deadcode-build go install golang.org/x/tools/cmd/deadcode@$(DEADCODE_VERSION)
	mv $(BIN)/deadcode-build/deadcode $@ && rmdir $(BIN)/deadcode-build

.PHONY: lint
lint: $(BIN)/staticcheck-$(STATICCHECK_VERSION) $(BIN)/deadcode-$(DEADCODE_VERSION) ## gofmt (both modules), go vet, staticcheck, deadcode (main module) and no tracked file over 1 MiB.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "$$unformatted"; echo "gofmt would change the files above: gofmt -w them"; exit 1; fi
	go vet ./...
	$(BIN)/staticcheck-$(STATICCHECK_VERSION) ./...
	@out=$$($(BIN)/deadcode-$(DEADCODE_VERSION) ./...); if [ -n "$$out" ]; then echo "$$out"; echo "deadcode: the functions above are unreachable from cmd/podguard"; exit 1; fi
	@big=$$(git ls-files -z | xargs -0 stat -c '%s %n' 2>/dev/null | awk '$$1 > $(MAX_TRACKED_FILE)'); \
		if [ -n "$$big" ]; then echo "$$big"; echo "tracked files over 1 MiB: keep build outputs and large data out of git"; exit 1; fi

.PHONY: test-binaries
test-binaries: ## Build (once, cached outside the clone) kube-apiserver and etcd for the real-cluster tests.
	cd test && go run ./cluster/cmd/prebuild

# The test module's packages but the conformance corpus, which lives outside the clone, and
# the node tests, which need root (e2e-node).
E2E_PACKAGES = $$(go list ./... | grep -v -e '/conformance$$' -e '/node$$')

.PHONY: e2e
e2e: build image test-binaries sarif-schema ## Tests of the test module: real kube-apiserver and etcd, chart, image.
	cd test && PODGUARD_BIN=$(BIN)/podguard PODGUARD_IMAGE=$(BIN)/podguard-image.tar \
		go test -count=1 -timeout 40m $(E2E_PACKAGES)

# Debian packages a node needs (README "Tests on a real node"), installed when missing.
NODE_PACKAGES := containerd libseccomp-dev iproute2

.PHONY: node-packages
node-packages: ## Install the Debian packages a node needs (NODE_PACKAGES) when missing; needs root.
	@if [ "$$(id -u)" != 0 ]; then \
		echo "e2e-node: the node needs root (containerd, runc, mounts, cgroups, a bridge); running as uid $$(id -u)"; exit 1; fi
	@missing=$$(for p in $(NODE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi

.PHONY: e2e-node
e2e-node: node-packages build image test-binaries ## podguard's chart and image on a real node (kubelet, containerd, runc); needs root.
	cd test && go run ./cluster/cmd/prebuild -node
	cd test && PODGUARD_BIN=$(BIN)/podguard PODGUARD_IMAGE=$(BIN)/podguard-image.tar \
		go test -count=1 -timeout 40m ./node/

.PHONY: test
test: lint policy-check unit e2e e2e-node ## Everything in the clone: lint, Rego, Go unit tests, real API server and node tests.

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

## How long make bench measures each case.
BENCH_DURATION ?= 5s
## How long make bench warms each case up before measuring.
BENCH_WARMUP ?= 1s
## Comma-separated numbers of concurrent clients make bench runs.
BENCH_CONCURRENCY ?= 1,8,64

.PHONY: bench
bench: build opa ## Load benchmark: podguard against a no-op webhook and the OPA server (test/bench).
	cd test && go build -o $(BIN)/bench ./bench/cmd/bench && go build -o $(BIN)/bench-noop ./bench/cmd/noop
	$(BIN)/bench -podguard $(BIN)/podguard -opa $(BIN)/opa -noop $(BIN)/bench-noop \
		-bodies test/bench/bodies -opa-policy test/bench/opa/policy.rego \
		-duration $(BENCH_DURATION) -warmup $(BENCH_WARMUP) -concurrency $(BENCH_CONCURRENCY)

.PHONY: bench-api
bench-api: build opa test-binaries ## Pod creates through the real kube-apiserver: no webhook, podguard with and without prefilters, the OPA server.
	cd test && go build -o $(BIN)/apibench ./bench/cmd/apibench
	$(BIN)/apibench -podguard $(BIN)/podguard -opa $(BIN)/opa -opa-policy test/bench/opa/policy.rego \
		-duration $(BENCH_DURATION) -warmup $(BENCH_WARMUP)

## How long make fuzz runs each fuzz target.
FUZZTIME ?= 10m
## More go test flags for make fuzz, e.g. -parallel=1 to leave a core free.
FUZZFLAGS ?=
FUZZ_TARGETS := ./webhook:FuzzAdmissionReview ./policies/config:FuzzParse ./policies/offline:FuzzRead \
	./policies/engine:FuzzDecision ./policies/engine:FuzzDecode ./policies/engine:FuzzEvaluators \
	./policies/quantity:FuzzReadQuantity ./webhook:FuzzDecodeRequest ./test/prefilter:FuzzPrefilter

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10m); make test runs only their seed corpora.
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; dir=.; \
		case $$pkg in ./test/*) dir=test; pkg=./$${pkg#./test/};; esac; \
		echo "== $$name ($$pkg), $(FUZZTIME)"; \
		(cd $$dir && go test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 30s -timeout 0 $(FUZZFLAGS)) || failed="$$failed $$name"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (crashers are in testdata/fuzz)"; exit 1; fi

## Reviews make soak sends.
SOAK_REVIEWS ?= 1000000

.PHONY: soak
soak: build ## Soak: SOAK_REVIEWS (1M) reviews over the mix of bodies; RSS, heap, goroutines, fds must stay flat.
	cd test && go build -o $(BIN)/soak ./bench/cmd/soak
	$(BIN)/soak -podguard $(BIN)/podguard -bodies test/bench/bodies -reviews $(SOAK_REVIEWS)

.PHONY: bench-memory
bench-memory: build ## 16 clients of 4.7 MB Pods at GOMEMLIMIT=512MiB: peak RSS must stay under it, ordinary reviews answered.
	cd test && go build -o $(BIN)/memflood ./bench/cmd/memflood
	$(BIN)/memflood -podguard $(BIN)/podguard -bodies test/bench/bodies

.PHONY: bench-tokens
bench-tokens: build ## 16 clients of made-up tokens on the metrics port (real kube-apiserver): every valid scrape must take under 100 ms.
	cd test && go build -o $(BIN)/tokenflood ./bench/cmd/tokenflood
	$(BIN)/tokenflood -podguard $(BIN)/podguard

.PHONY: churn drain
churn: build ## Connection starvation: 1,200 plain TCP connections churning; p99 of a review on a new connection must stay under 1 s.
	cd test && go build -o $(BIN)/churn ./bench/cmd/churn
	$(BIN)/churn -podguard $(BIN)/podguard -bodies test/bench/bodies

drain: build ## SIGTERM under load: 10 runs of 36 callers; no review sent on an open connection may go unanswered.
	cd test && go build -o $(BIN)/drain ./bench/cmd/drain
	$(BIN)/drain -podguard $(BIN)/podguard -bodies test/bench/bodies
