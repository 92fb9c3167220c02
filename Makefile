# One command to run the app, one to test it. Both install what they need.
SHELL := /bin/bash
GO ?= go
PORT ?= 7071

.PHONY: run build test azurite azurite-stop bench soak vet clean

build:
	$(GO) build -o bin/handler ./handler
	$(GO) build -o bin/durable ./cmd/durable

## run: start Azurite (data kept in .azurite/) and the handler standalone on :$(PORT)
run: build
	@scripts/azurite.sh start
	@[ -f local.settings.json ] || cp local.settings.json.example local.settings.json
	HTTP_PORT=$(PORT) ./bin/handler

azurite:
	@scripts/azurite.sh start

azurite-stop:
	@scripts/azurite.sh stop

## test: every test, against real Azurite (each test binary starts a private one)
test:
	@scripts/azurite.sh install
	@scripts/chromium.sh
	$(GO) vet ./...
	$(GO) run ./handler -gen-check
	cd examples/quickstart && $(GO) vet ./... && $(GO) run . -gen-check && $(GO) test -count=1 ./...
	$(GO) test -count=1 -timeout 30m ./...

bench: build
	@scripts/azurite.sh install
	$(GO) run ./internal/cmd/bench

## soak: the long soak (3 workers, 10,000 signals, 1,000 orchestrations, 10 minutes, SIGKILL every 30-60 s)
soak:
	@scripts/azurite.sh install
	SOAK_WORKERS=3 SOAK_SIGNALS=10000 SOAK_ORCHESTRATIONS=1000 SOAK_SECONDS=600 \
	SOAK_KILL_MIN_SECONDS=30 SOAK_KILL_MAX_SECONDS=60 \
	$(GO) test -count=1 -timeout 60m -run 'TestSoak$$' -v ./handler/e2e/

clean:
	rm -rf bin dist .azurite

## dist: the deployable function app in dist/ (host.json, function folders, bin/handler for linux/amd64)
.PHONY: dist
dist:
	@GO="$(GO)" scripts/dist.sh
