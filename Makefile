# Thin wrapper around CMake. `make run` and `make test` are the two commands
# of the quick start; both install missing Debian packages first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# CI builds treat warnings as errors.
ifneq ($(CI),)
CMAKE_FLAGS += -DAURA_WERROR=ON
endif

# cmake --build runs make underneath: keep its directory chatter out.
MAKEFLAGS += --no-print-directory

.PHONY: all build deps run test bench clean

all: build

deps:
	@./deploy/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	@AURA_BIN_DIR=$(BUILD_DIR)/bin ./deploy/run-local.sh

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

# Benchmarks print figures (docs/BENCHMARKS.md); they are not tests.
bench: build
	@$(BUILD_DIR)/bench/bench_broker --bin-dir=$(BUILD_DIR)/bin
	@$(BUILD_DIR)/bench/bench_media

clean:
	rm -rf $(BUILD_DIR)
