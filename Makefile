# Parley: `make test` runs everything CI runs, in this order.
.PHONY: test deps e2e demo bench

test:
	bash scripts/deps.sh
	go vet ./...
	go test -race ./...
	node --test e2e/

deps:
	bash scripts/deps.sh

e2e: deps
	node --test e2e/

demo: deps
	go run ./cmd/parley-demo

bench:
	@echo "bench: placeholder; cmd/parley-bench will drive it"
