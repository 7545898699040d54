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
# console's browser tests and screenshots), jq and curl (make run),
# debootstrap (the clean Debian root the packages are installed into),
# qemu-user-static and the arm64/armhf C libraries of Debian's cross
# toolchains (the Pi binaries and the armv7 unit tests run under qemu-user;
# "what" is then the dynamic loader, by its path).
APT_NEEDS := mosquitto:mosquitto_passwd libasound2:libasound.so.2 espeak-ng:espeak-ng ffmpeg:ffprobe chromium:chromium fonts-noto-cjk:NotoSansCJK-Regular.ttc jq:jq curl:curl \
	debootstrap:debootstrap qemu-user-static:qemu-arm-static \
	libc6-arm64-cross:/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 libc6-armhf-cross:/usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3

# Where `make run` listens; override on the command line if taken.
HTTP ?= 127.0.0.1:8080
MQTT ?= 127.0.0.1:18830
SPEAKER ?= 127.0.0.1:15004
CAMERA ?= 127.0.0.1:18555
RELAY ?= 127.0.0.1:18554
RUN_DIR ?= run

.PHONY: help deps build cross package test test-race test-surge test-32bit test-armv7 bench lint run screenshots clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

deps: ## install missing Debian packages (guarded)
	@missing=""; for pair in $(APT_NEEDS); do pkg=$${pair%%:*}; cmd=$${pair##*:}; \
	  { [ "$${cmd#/}" != "$$cmd" ] && [ -e "$$cmd" ]; } || command -v $$cmd >/dev/null 2>&1 || /sbin/ldconfig -p | grep -qF "$$cmd" || \
	  ls /usr/share/fonts/*/*/$$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

build: ## build the daemons into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

cross: ## edge binaries for linux/arm64 and linux/arm/v7 into dist/ (CGO_ENABLED=0)
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/linux-arm64/dalaba-edge ./cmd/dalaba-edge
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS) -I /lib/ld-linux-armhf.so.3' -o dist/linux-armv7/dalaba-edge ./cmd/dalaba-edge
	@file dist/linux-arm64/dalaba-edge dist/linux-armv7/dalaba-edge 2>/dev/null || ls -l dist/*/dalaba-edge

# Debian packages: which architectures each daemon is packaged for, and where
# they go. configs/packaging/ has the nfpm descriptions and deb.sh, which
# builds one package; the Debian version comes from VERSION (debversion.sh).
EDGE_ARCHS  ?= arm64 armhf amd64
CLOUD_ARCHS ?= amd64 arm64
DIST        ?= dist

package: ## Debian packages into dist/: dalaba-edge for arm64, armhf, amd64; dalaba-cloud for amd64, arm64
	@for a in $(EDGE_ARCHS); do GO='$(GO)' VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' DIST='$(DIST)' configs/packaging/deb.sh dalaba-edge $$a; done
	@for a in $(CLOUD_ARCHS); do GO='$(GO)' VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' DIST='$(DIST)' configs/packaging/deb.sh dalaba-cloud $$a; done

lint: ## gofmt check, go vet and staticcheck (pinned as a go.mod tool)
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# Three packages at a time on two cores: many tests wait (on processes, on
# real-time audio, on a browser), and two at a time left the cores idle
# for much of the run.
test-race: ## go test -race over everything, benchmarks run once
	$(GO) test -race -count=1 -p 3 -timeout 12m -bench=. -benchtime=1x ./...

# What runs on a 32-bit box: the box and everything it is built from. The
# township service is packaged for amd64 and arm64 only (see package).
BOX_PKGS := ./edge/... ./protocol/... ./devices/... ./internal/... ./cmd/dalaba-edge ./cmd/dalaba-sim/...

test-32bit: ## the box's packages and their tests compiled and vetted for armv7
	@# A full compile and vet of code and tests, every box package; the
	@# armv7 run under qemu (test-armv7) covers the packages it can run.
	@# vet's 64-bit alignment check is the same on every 32-bit target,
	@# so armv7, the one boxes use, stands for them all.
	GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) vet $(BOX_PKGS)

# The unit tests run on armv7 under qemu-user (Debian's qemu-arm-static;
# no binfmt: go test -exec starts each test binary through it), where the
# 32-bit failure modes are real: bbolt's file mapped in a 32-bit address
# space (store, outbox, the config's cap on it), 64-bit atomics and
# integer sizes in the code and its libraries (uplink/paho, relay/gortsplib,
# rtcpeer/pion, the box assembled in edge), schedule and time arithmetic
# (protocol/schedule, broadcast), G.711 and resampling (devices/audio).
# Left out: the packages whose tests assert real-time audio — gap-free RTP,
# correlation with the source, pre-emption latency — which an emulated
# CPU on a shared 2-core machine cannot hold (edge/paging, edge/playout,
# edge/whep, devices/speaker/rtpspeaker, httpspeaker, soundcard), and the
# camera simulator, which no box runs; the armv7 box binary itself plays
# RTP in cmd/e2e's TestPiBinariesPlayASchedule. Skipped by name: tests that
# re-execute their own binary as a child (qemu-user without binfmt cannot)
# and the arbiter's 200 ms pre-emption bound.
ARMV7_PKGS := ./edge ./edge/store ./edge/outbox ./edge/uplink ./edge/desired ./edge/config \
	./edge/health ./edge/localapi ./edge/media ./edge/relay ./edge/rtcpeer ./edge/broadcast \
	./edge/logring ./edge/metrics ./edge/diag \
	./protocol/... ./devices/audio ./devices/speaker/speakersim ./cmd/dalaba-edge
ARMV7_SKIP := ^TestCrashKeepsEveryAcknowledgedEvent$$|^TestSIGTERMStopsTheBoxCleanly$$|^TestEmergencyPreemptsAndScheduledResumes$$

test-armv7: ## the box's unit tests on armv7 under qemu-arm-static (no race detector)
	@command -v qemu-arm-static >/dev/null && [ -e /usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3 ] || \
	  { echo "test-armv7 needs qemu-user-static and libc6-armhf-cross: make deps"; exit 1; }
	GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) test -count=1 -timeout 5m -ldflags '-I /lib/ld-linux-armhf.so.3' \
	  -exec 'qemu-arm-static -L /usr/arm-linux-gnueabihf' -skip '$(ARMV7_SKIP)' $(ARMV7_PKGS)

# The connect surge at full size, 2,000 boxes: under the race detector two
# cores cannot bring that many online within the 10 s the test holds the
# township to, so test-race runs it with 500 and this runs it as built.
test-surge: ## the 2,000-box connect surge without the race detector
	$(GO) test -count=1 -run '^TestConnectSurge$$' ./cloud/

test: lint test-race test-surge test-32bit test-armv7 cross ## everything CI runs (after `make deps`); the tree must stay clean
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
