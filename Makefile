# ark: build, test and verify. `make help` lists the targets.
GO      ?= go
BIN     ?= bin
GOTEST  ?= $(GO) test -count=1 -timeout 20m

# Binaries: the CLI, every builtin plugin, and the examples' helpers.
CMDS := arkd:./host/cmd/arkd \
        arkctl:./host/cmd/arkctl \
        ark-generic:./builtin-arks/generic \
        ark-ip:./builtin-arks/ip \
        ark-fs:./builtin-arks/fs \
        ark-diskres:./builtin-arks/diskres \
        ark-echo:./examples/echo-service \
        ark-vendor-example:./examples/vendor-ark

.PHONY: help deps build test test-system examples verify proto bench bench-failover clean demo

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install the system tools the tests use (root; Debian/Ubuntu)
	@missing=""; \
	for t in bash:bash sh:dash nohup:coreutils setsid:util-linux nsenter:util-linux findmnt:util-linux kill:procps ip:iproute2 mkfs.ext4:e2fsprogs e2fsck:e2fsprogs losetup:mount ping:iputils-ping; do \
	  command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; apt-get update -qq && apt-get install -y -qq $$missing; \
	else echo "system tools present"; fi

build: ## build arkd, arkctl, the plugins and the example binaries into bin/
	@mkdir -p $(BIN)
	@for c in $(CMDS); do \
	  echo "go build -o $(BIN)/$${c%%:*} $${c#*:}"; \
	  $(GO) build -o $(BIN)/$${c%%:*} $${c#*:} || exit 1; \
	done

test: build ## run the examples through arkctl ark test, then every Go test (root runs the cgroup ones too)
	@$(MAKE) --no-print-directory examples
	$(GOTEST) ./...

test-system: build ## the whole-system test alone: app, VIP, filesystem and disk lease on two nodes and a witness in namespaces, through a resource and a node failure (root; also part of make test)
	$(GOTEST) -v -run 'TestSystem' ./host/cmd/arkd/

examples: build ## run every example's scripts through `arkctl ark test`; the broken one must fail
	@set -e; for d in bash lua starlark; do \
	  echo "== arkctl ark test examples/$$d"; $(BIN)/arkctl ark test examples/$$d; \
	done; \
	echo "== arkctl ark test examples/broken (must FAIL; its report is indented)"; \
	if $(BIN)/arkctl ark test examples/broken > $(BIN)/broken-report.txt 2>&1; then \
	  cat $(BIN)/broken-report.txt; echo "examples/broken passed but must fail"; exit 1; fi; \
	sed 's/^/    /' $(BIN)/broken-report.txt; \
	echo "examples: ok"

verify: ## gofmt, go vet, go mod tidy, generated code fresh, go test -race
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	@cp go.mod /tmp/ark-go.mod.bak; cp go.sum /tmp/ark-go.sum.bak; $(GO) mod tidy; \
	  if ! git diff --quiet -- go.mod go.sum; then git diff -- go.mod go.sum; cp /tmp/ark-go.mod.bak go.mod; cp /tmp/ark-go.sum.bak go.sum; echo "go mod tidy changes go.mod/go.sum"; exit 1; fi
	@$(MAKE) --no-print-directory proto
	@git diff --exit-code -- plugins/ || { echo "generated code is stale: run make proto and commit"; exit 1; }
	$(GOTEST) -race ./...

proto: ## regenerate the plugin protocol's Go code (installs buf and the generators)
	cd plugins && ./gen.sh

bench: ## benchmarks: engines, plugin round trip, pid-death detection, daemon monitoring scale and bring-up (prints figures; root for the daemon ones)
	$(GO) test -run '^$$' -bench . -benchtime 200x ./interpreters/... ./plugins/... ./builtin-arks/...
	$(GO) test -run '^$$' -bench . -benchtime 200x ./host/monitor/
	$(GO) test -run '^$$' -bench BringUp -benchtime 50x ./host/cmd/arkd/
	$(GO) test -run '^$$' -bench Monitor -benchtime 1x -timeout 60m ./host/cmd/arkd/

bench-failover: ## failover times in network namespaces: node crash and resource failure, hb 500ms and 100ms, 20 trials each (root; ARK_BENCH_TRIALS=3 for a short run)
	$(GO) test -run '^$$' -bench Failover -benchtime 1x -timeout 60m ./host/cmd/arkd/

demo: build ## a 3-node cluster on loopback protecting the example service (no root; Ctrl-C stops it)
	@examples/cluster/demo.sh

clean: ## remove bin/
	rm -rf $(BIN)
