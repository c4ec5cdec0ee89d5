.DEFAULT_GOAL := help

## help: print this help
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST) | column -t -s ':'

## build: build bin/hookstream
build:
	go build -o bin/hookstream ./cmd/hookstream

## dev: run everything on an embedded JetStream
dev:
	go run ./cmd/hookstream dev

## test: run the tests (the README's test command)
test:
	go test -race ./...

## test/short: skip the slow tests
test/short:
	go test -short ./...

## lint: go vet and gofmt
lint:
	go vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l . && exit 1)

## bench: one pass of every Go benchmark
bench:
	go test -run=NONE -bench=. -benchtime=1x ./...

## ci: what CI runs
ci:
	bash .ci/run

.PHONY: help build dev test test/short lint bench ci
