# Parley: `make test` runs everything CI runs, in this order.
.PHONY: test deps e2e demo bench bench-cluster fuzz soak mutants

test:
	bash scripts/deps.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go test -race ./...
	cd promparley && go vet ./... && go test -race ./...
	node --test e2e/
	$(MAKE) --no-print-directory fuzz FUZZTIME=2s

deps:
	bash scripts/deps.sh

e2e: deps
	node --test e2e/

# demo: the demo server on 127.0.0.1:4000 (DEMO_ARGS adds flags, e.g.
# DEMO_ARGS="-addr :4001"). Built, then exec'd rather than `go run`, which
# exits 1 after Ctrl-C even when the demo shut down cleanly: on Ctrl-C the
# demo logs "shutting down" and the drained connections and exits 0, so make
# reports no error (make itself, interrupted too, ends with status 130).
demo: deps
	go build -o bin/parley-demo ./cmd/parley-demo
	exec ./bin/parley-demo $(DEMO_ARGS)

# bench: Parley against gorilla, gws, centrifuge and a raw write(2) server
# (bench/peers), interleaved, 3 repeats at 10k connections, plus idle memory
# and one burst at 1k and 5k; then LiveView, Parley (with and without the
# fastlane) against jfyne/live (bench/peers/jfynelive) with 300 views, 3
# interleaved repeats, and with 1,000 views, 2 repeats (~2.5 min together);
# then the plots; then bench-cluster (~1.2 min). Writes
# bench/results/compare.{md,json}, live.{md,json}, live-1000/, cluster-100k.txt and
# *.png; about 9 min on 2 cores, < 10 min.
bench:
	go build -o bin/parley-bench ./cmd/parley-bench
	./bin/parley-bench compare -n 10000 -repeats 3 -msgs 20 -paced-msgs 8 -rate 5 -slow 1 \
		-memsizes 1000,5000 -quiet 1s -peers bench/peers -out bench/results -timeout 9m
	./bin/parley-bench livecompare -n 300 -updates 4 -warmup 1 -repeats 3 -servers parley,parley-solo,jfynelive \
		-peers bench/peers -out bench/results -timeout 3m
	./bin/parley-bench livecompare -n 1000 -updates 4 -warmup 1 -repeats 2 \
		-peers bench/peers -out bench/results/live-1000 -timeout 4m
	cd bench/plot && go run . -in ../results/compare.json -out ../results
	$(MAKE) --no-print-directory bench-cluster

# bench-cluster: issue #7's 100k target, 6 serve nodes over an embedded NATS
# and 6 client worker processes, 10 broadcasts through node 0 (about 1.2
# min). Output: bench/results/cluster-100k.txt.
bench-cluster:
	go build -o bin/parley-bench ./cmd/parley-bench
	./bin/parley-bench cluster -nodes 6 -n 100000 -msgs 10 -rate 0.25 -timeout 10m > bench/results/cluster-100k.txt; \
		status=$$?; cat bench/results/cluster-100k.txt; exit $$status

# Every fuzz target for FUZZTIME each (default 5s); seeds and any failing
# inputs live in <package>/testdata/fuzz. RELIABILITY.md has the long run.
# A target that fails is run once more: a real failing input was saved to
# testdata/fuzz and fails again at once, while the fuzz engine's occasional
# "context deadline exceeded" at the end of -fuzztime (no input) does not.
FUZZTIME ?= 5s
FUZZ_TARGETS = \
	./wire:FuzzDecodeText ./wire:FuzzDecodeBinary \
	./transport/websocket:FuzzReadHeader ./transport/websocket:FuzzUTF8State ./transport/websocket:FuzzInflate ./transport/longpoll:FuzzSplitNDJSON \
	./live:FuzzDecodeEvent ./live:FuzzConnect ./live:FuzzDecodeForm ./live:FuzzVerify \
	./live/render:FuzzData ./live/render:FuzzTemplate ./live/diff:FuzzApply ./live/diff:FuzzRoundTrip \
	./presence:FuzzEnvelope ./presence/crdt:FuzzDelta ./presence/crdt:FuzzState \
	./pubsub:FuzzDecodeMessage ./internal/jsonstr:FuzzAppend ./channel:FuzzRecoverParams

fuzz:
	@failed=""; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz failed:$$failed"; exit 1; fi

# The long soak test (internal/soak) for SOAK of waves (at most 9m); `make
# test` runs its 5-second version. RELIABILITY.md has the last run.
SOAK ?= 3m
soak:
	PARLEY_SOAK=$(SOAK) go test -run 'Soak$$' -v -timeout 15m ./internal/soak/

# mutants: applies each documented-behaviour mutation of scripts/mutants to
# a throw-away copy of the tree and expects a test to fail on it (about a
# minute). `go run ./scripts/mutants -list` names them; -run picks some.
mutants:
	go run ./scripts/mutants
