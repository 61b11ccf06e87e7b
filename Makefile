# hookd — see README.md.
GO          ?= go
STATICCHECK  = $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
BIN         := bin/hookd

.PHONY: all build run test test-full lint fmt-check vet staticcheck clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hookd

# Runs hookd on 127.0.0.1:8080 with data in ./data. Private targets are
# allowed so a receiver on this machine (hookd receive, a local server) works.
run: build
	./$(BIN) serve --addr 127.0.0.1:8080 --data ./data --allow-private-targets

# The test command CI runs: formatting, vet, staticcheck, and every test
# with the race detector (Watermill's universal suite in its short form
# under race, in full without).
test: lint
	$(GO) test -race -short -count=1 ./...
	$(GO) test -count=1 -run 'TestUniversalPubSub' ./eventlog/

lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

clean:
	rm -rf bin
