# Parley: `make test` runs everything CI runs, in this order.
.PHONY: test deps e2e demo bench fuzz

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

# Every fuzz target for FUZZTIME each (default 5s); seeds and any failing
# inputs live in <package>/testdata/fuzz. RELIABILITY.md has the long run.
FUZZTIME ?= 5s
FUZZ_TARGETS = \
	./wire:FuzzDecodeText ./wire:FuzzDecodeBinary \
	./transport/websocket:FuzzReadHeader ./transport/longpoll:FuzzSplitNDJSON \
	./live:FuzzDecodeEvent ./live:FuzzConnect ./live:FuzzDecodeForm ./live:FuzzVerify \
	./live/render:FuzzData ./live/render:FuzzTemplate ./live/diff:FuzzApply ./live/diff:FuzzRoundTrip \
	./presence:FuzzEnvelope ./presence/crdt:FuzzDelta ./presence/crdt:FuzzState

fuzz:
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failed:$$failed"; exit 1; fi
