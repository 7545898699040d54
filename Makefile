# Dalaba — build, test and run. `make help` lists the targets.
#
# `make deps` installs what the tests and the demo need from Debian's
# packages when it is missing (guarded: nothing is installed twice); `make run`
# calls it, `make test` does not (a test run changes nothing on the machine):
# .ci/run and a fresh checkout call `make deps` first.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BUILD_DATE  ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS     := -s -w -X main.version=$(VERSION) -X main.buildDate=$(BUILD_DATE)
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the tests and the demo use, as package:what, "what" being
# a command or a shared library showing the package is there: mosquitto (a
# private broker runs the ACL test), libasound2 (the sound-card driver,
# tested on ALSA's null device; Debian 13 installs it as libasound2t64),
# espeak-ng (Mandarin speech for announcements), ffmpeg (ffprobe reads the
# relayed camera streams in tests), chromium and fonts-noto-cjk (the
# console's browser tests and screenshots), jq and curl (make run).
APT_NEEDS := mosquitto:mosquitto_passwd libasound2:libasound.so.2 espeak-ng:espeak-ng ffmpeg:ffprobe chromium:chromium fonts-noto-cjk:NotoSansCJK-Regular.ttc jq:jq curl:curl

# Where `make run` listens; override on the command line if taken.
HTTP ?= 127.0.0.1:8080
MQTT ?= 127.0.0.1:18830
SPEAKER ?= 127.0.0.1:15004
CAMERA ?= 127.0.0.1:18555
RELAY ?= 127.0.0.1:18554
RUN_DIR ?= run

.PHONY: help deps build cross test test-race test-32bit bench lint run screenshots clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install missing Debian packages (guarded)
	@missing=""; for pair in $(APT_NEEDS); do pkg=$${pair%%:*}; cmd=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || /sbin/ldconfig -p | grep -qF "$$cmd" || \
	  ls /usr/share/fonts/*/*/$$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

build: ## build the daemons into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

cross: ## edge binaries for linux/arm64 and linux/arm/v7 into dist/ (CGO_ENABLED=0)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/linux-arm64/dalaba-edge ./cmd/dalaba-edge
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS) -I /lib/ld-linux-armhf.so.3' -o dist/linux-armv7/dalaba-edge ./cmd/dalaba-edge
	@file dist/linux-arm64/dalaba-edge dist/linux-armv7/dalaba-edge 2>/dev/null || ls -l dist/*/dalaba-edge

lint: ## gofmt check and go vet
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

test-race: ## go test -race over everything, benchmarks run once
	$(GO) test -race -count=1 -timeout 12m -bench=. -benchtime=1x ./...

test-32bit: ## every package and its tests compiled and vetted for armv7 and 386
	@# This machine's kernel cannot run 32-bit binaries, so the 32-bit
	@# check is a full compile and vet of code and tests, not a run.
	GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) vet ./...
	GOARCH=386 CGO_ENABLED=0 $(GO) vet ./...

test: lint test-race test-32bit cross ## everything CI runs (after `make deps`); the tree must stay clean
	@if [ -n "$$(git status --porcelain)" ]; then echo "tests left the tree dirty:"; git status --porcelain; exit 1; fi
	@echo "make test: all passed"

bench: ## benchmarks (figures quoted in the closing notes)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 -timeout 20m ./... | tee bench.out

screenshots: deps ## retake the console screenshots README.md shows (the browser tests take them)
	DALABA_SCREENSHOTS=$(CURDIR)/cloud/console/screenshots $(GO) test -count=1 -run 'TestBrowser|TestConsole' ./cloud/console ./cmd/e2e

run: deps build ## a township service, one village box, a simulated loudspeaker and camera, with a demo plan
	@configs/demo/run.sh $(RUN_DIR) $(HTTP) $(MQTT) $(SPEAKER) $(CAMERA) $(RELAY)

clean: ## remove build output and the demo's data
	rm -rf bin dist $(RUN_DIR) bench.out
