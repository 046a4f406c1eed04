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
WASM_TARGET := wasm32-wasip1
WASM_BUDGET := 200000
DEBIAN_PACKAGES := rustc-web cargo-web rust-web-src lld-22 wasi-libc binaryen
# Size: no Debug formatting and no panic locations in the module (panics still log their
# message), and std built for size. Unstable flags, hence RUSTC_BOOTSTRAP on both routes.
WASM_RUSTFLAGS := -Zfmt-debug=none -Zlocation-detail=none
SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock

.PHONY: help wasm test demo bench lint clean toolchain schema

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

wasm: $(WASM) ## Build dist/switchyard.wasm (release, LTO, wasm-opt when available)

$(WASM): $(SOURCES)
	@mkdir -p dist
	@if rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET); then \
	  RUSTC_BOOTSTRAP=1 RUSTFLAGS="$(WASM_RUSTFLAGS)" CARGO_TARGET_DIR=target/wasm-rustup \
	  $(CARGO) build --release --lib --target $(WASM_TARGET); \
	  cp target/wasm-rustup/$(WASM_TARGET)/release/switchyard.wasm $@.tmp; \
	else \
	  $(MAKE) --no-print-directory toolchain; \
	  RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS="-L /usr/lib/wasm32-wasi $(WASM_RUSTFLAGS)" \
	  CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-22 CARGO_TARGET_DIR=target/wasm \
	  /usr/bin/cargo build --release --lib --target $(WASM_TARGET) \
	    -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size; \
	  cp target/wasm/$(WASM_TARGET)/release/switchyard.wasm $@.tmp; \
	fi
	@if command -v wasm-opt >/dev/null; then \
	  wasm-opt -Oz --strip-debug --strip-producers --enable-bulk-memory --enable-sign-ext \
	    --enable-nontrapping-float-to-int --enable-mutable-globals $@.tmp -o $@.tmp; fi
	@size=$$(stat -c %s $@.tmp); echo "$@: $$size bytes (budget $(WASM_BUDGET))"; \
	  [ $$size -le $(WASM_BUDGET) ] || { echo "$@ is over its size budget" >&2; rm -f $@.tmp; exit 1; }
	@mv $@.tmp $@

toolchain: ## Install Debian's wasm toolchain when no rustup target is available
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(WASM) ## Run every test: unit, schema, module in wasmtime, real Envoy
	$(CARGO) test --all-features --locked

schema: ## Regenerate schema/switchyard.schema.json from the config types
	UPDATE_SCHEMA=1 $(CARGO) test --all-features --locked --test schema

lint: ## rustfmt and clippy, warnings are errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets --all-features --locked -- -D warnings

bench: ## Benchmarks (see BENCHMARKS.md)
	@echo "benchmarks arrive with the performance work; nothing to run yet" >&2; exit 1

demo: $(WASM) ## Real Envoy with the filter and demo upstreams on loopback
	@echo "the Envoy demo arrives with the Envoy integration; nothing to run yet" >&2; exit 1

clean: ## Remove build outputs
	rm -rf target dist
