# One command to run the app, one to test it. Both install what they need.
SHELL := /bin/bash
GO ?= go
PORT ?= 7071

.PHONY: run build test azurite azurite-stop bench vet clean

build:
	$(GO) build -o bin/handler ./handler

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
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

bench: build
	@scripts/azurite.sh install
	$(GO) run ./handler/cmd/bench

clean:
	rm -rf bin dist .azurite

## dist: the deployable function app in dist/ (host.json, function folders, bin/handler for linux/amd64)
.PHONY: dist
dist:
	@GO="$(GO)" scripts/dist.sh
