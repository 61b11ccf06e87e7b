# hookd — see README.md.
GO          ?= go
STATICCHECK  = $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/hookd

.PHONY: all build run test test-cluster test-full lint fmt-check vet staticcheck fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hookd

# Runs hookd on 127.0.0.1:8080 with data in ./data. Private targets are
# allowed so a receiver on this machine (hookd receive, a local server) works.
run: build
	./$(BIN) serve --addr 127.0.0.1:8080 --data ./data --allow-private-targets

# The test command CI runs: formatting, vet, staticcheck, every test with
# the race detector (Watermill's universal suite in its short form under
# race, in full without; fuzz targets on their seed corpora), and hookbench
# in its quick mode, only to check that it works (no timing is asserted).
test: lint
	$(GO) test -race -short -count=1 ./...
	$(GO) test -count=1 -run 'TestUniversalPubSub' ./eventlog/badgerlog/
	$(GO) test -count=1 -run 'TestQuick' ./cmd/hookbench/

# The scale-out tests that run processes for a while: three hookd
# processes on a nats-server process (built from go.mod's nats-server
# module), SIGKILL of one under load; and the JetStream adapter on a
# three-node cluster with a node stopped; and the whole API suite again
# with every stack on JetStream (HOOKD_TEST_LOG=nats) instead of Badger.
# Without -race (the processes would be race binaries) and without -short
# (which skips them); .ci/run runs this after `make test`.
test-cluster:
	$(GO) test -count=1 -run 'OnJetStream|Cluster' ./cmd/hookd/ ./eventlog/natslog/
	HOOKD_TEST_LOG=nats $(GO) test -count=1 ./transport/httpapi/

lint: fmt-check vet staticcheck

# Runs every fuzz target for FUZZTIME each, one after another. `make test`
# runs only their committed seed corpora (testdata/fuzz/<Target>/); a
# failure found here is written there too, so commit it with the fix.
FUZZTIME ?= 30s
FUZZ_TARGETS = \
	domain:FuzzDecodeBuildEvent \
	domain:FuzzValidateHookSpec \
	domain:FuzzCheckTarget \
	domain:FuzzParseHostAddr \
	projections:FuzzDecodeAnchor \
	transport/webhook:FuzzCheckURL

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in ./$$pkg/ for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) ./$$pkg/; \
	done

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

clean:
	rm -rf bin

# Benchmarks (docs/benchmarks.md). `bench` runs every hookbench scenario at
# full size against bin/hookd and prints a Markdown table and one JSON line
# per scenario (progress on stderr); `bench-quick` is the same at tiny sizes,
# a smoke test. BENCHFLAGS passes more flags, e.g. BENCHFLAGS='--only query'.
# `bench-go` runs the testing.B benchmarks of the hot paths; compare two
# runs with benchstat.
.PHONY: bench bench-quick bench-go
BENCHFLAGS ?=

bench: build
	$(GO) run ./cmd/hookbench --hookd $(BIN) $(BENCHFLAGS)

bench-quick: build
	$(GO) run ./cmd/hookbench --hookd $(BIN) --quick $(BENCHFLAGS)

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
