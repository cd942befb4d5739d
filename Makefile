# snapharness: every install step lives here and in scripts/, so a fresh machine needs only `make demo` / `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Written by scripts/deps.sh: which criu to run and where its libcriu lives.
-include .deps/env.mk

SWIFT ?= swift
CONFIG ?= debug
# Link the libcriu of the CRIU we run (never bookworm's 3.17 with the same soname): an installed copy finds it next
# to itself ($ORIGIN), a build in the checkout in .deps. No path is compiled in: the executable finds its runtime
# files and CRIU from where it is (Sources/SnapHarnessEngine/Handler/Installation.swift).
SWIFT_FLAGS = -c $(CONFIG) -Xlinker -rpath -Xlinker '$$ORIGIN/../lib/snapharness/criu/lib' \
	-Xlinker -rpath -Xlinker $(CRIU_LIBDIR)
PREFIX ?= /usr/local
export PKG_CONFIG_PATH := $(CRIU_PKG_CONFIG_PATH)
BIN = $(shell $(SWIFT) build $(SWIFT_FLAGS) --show-bin-path 2>/dev/null)/snapharness

.PHONY: deps build test python-test demo soak clean distclean swift-build swift-test swift-demo swift-soak bench \
	swift-bench install swift-install

## deps: install Debian packages, CRIU >= 4.2 and snapshot-restore-py (idempotent, seconds when ready)
deps:
	@bash scripts/deps.sh

## build: build the snapharness executable
build: deps
	@$(MAKE) --no-print-directory swift-build

swift-build:
	$(SWIFT) build $(SWIFT_FLAGS) --product snapharness

## test: the whole suite with real CRIU (root needed for the integration tests, skipped with a reason otherwise);
##       FILTER=Name runs the matching tests only
test: deps
	@bash scripts/test-deps.sh
	@$(MAKE) --no-print-directory python-test
	@$(MAKE) --no-print-directory swift-test

## python-test: the runtime agent's Python tests (Tests/python, pytest from .deps/pytest; no root or CRIU needed),
##              the control protocol's golden files in Tests/Fixtures/protocol among them
python-test:
	@bash scripts/test-deps.sh pytest
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=.deps/pytest python3 -m pytest -q -p no:cacheprovider Tests/python

swift-test:
	$(SWIFT) build $(SWIFT_FLAGS) --build-tests
	SNAPHARNESS_BIN=$(BIN) $(SWIFT) test $(SWIFT_FLAGS) --skip-build --no-parallel $(if $(FILTER),--filter '$(FILTER)')

## demo: doctor (with a probe checkpoint/restore), then the whole SnapStart lifecycle of Examples/hello
demo: build
	@$(MAKE) --no-print-directory swift-demo

swift-demo:
	$(BIN) doctor
	@echo
	@echo "== snapharness run Examples/hello --restores 2 (Lambda's log on stderr, results on stdout) =="
	$(BIN) run Examples/hello --restores 2
	@echo
	@echo "== the same under AWS's runtime client: awslambdaric over the Runtime API inside each environment =="
	$(BIN) run Examples/hello --restores 2 --runtime-client awslambdaric

## bench: cold start vs restore of Examples/bench/* (release build), results and SVG charts in bench-results/;
##        BENCH_BASELINE=/path/to/snapharness adds the minimal handler measured side by side with another build
bench: deps
	@$(MAKE) --no-print-directory swift-bench CONFIG=release

swift-bench:
	$(SWIFT) build $(SWIFT_FLAGS) --product snapharness
	bash scripts/bench.sh $(BIN) bench-results

## soak: endurance run (not part of `make test`): 500 sequential restore+invoke cycles, then 50 rounds of 8 copies
soak: build
	@$(MAKE) --no-print-directory swift-soak

swift-soak:
	$(BIN) soak Examples/hello --sequential 500 --rounds 50 --concurrency 8

## install: a release build with its runtime files and CRIU under PREFIX (default /usr/local): PREFIX/bin/snapharness
##          and PREFIX/lib/snapharness/; the installed copy needs nothing from the checkout
install: deps
	@$(MAKE) --no-print-directory swift-install CONFIG=release

swift-install:
	$(SWIFT) build $(SWIFT_FLAGS) --product snapharness
	bash scripts/install.sh $(BIN) $(PREFIX)

clean:
	rm -rf .build

## distclean: also drop the provisioned CRIU and Python packages
distclean: clean
	rm -rf .deps
