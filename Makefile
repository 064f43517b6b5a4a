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

.PHONY: all build deps run test test-deploy bench fuzz clean

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

# The container deployment, end to end: image, compose stack, real jobs
# (tests/deploy/test-deploy.sh). Needs root: it starts a Docker engine.
test-deploy:
	@BUILD_DIR=$(BUILD_DIR) ./tests/deploy/test-deploy.sh

# Benchmarks print figures (docs/BENCHMARKS.md); they are not tests.
bench: build
	@$(BUILD_DIR)/bench/bench_broker --bin-dir=$(BUILD_DIR)/bin
	@$(BUILD_DIR)/bench/bench_media
	@$(BUILD_DIR)/bench/bench_sse --bin-dir=$(BUILD_DIR)/bin

# Fuzzing with clang's libFuzzer, ASan and UBSan, in a build directory of
# its own where the whole tree is instrumented; each target then runs
# FUZZ_SECONDS on a copy of its seed corpus (tests/fuzz/run.sh).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = request route web query proto subtitles
FUZZ_CFLAGS = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer

fuzz:
	@./deploy/install-deps.sh --fuzz
	@CC=clang cmake -S . -B $(FUZZ_BUILD_DIR) -DAURA_FUZZ=ON \
		-DCMAKE_C_FLAGS="$(FUZZ_CFLAGS)" >/dev/null
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target $(FUZZ_TARGETS:%=fuzz_%)
	@./tests/fuzz/run.sh $(FUZZ_BUILD_DIR)/fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD_DIR)

# The chaos run, long form: CHAOS_SECONDS of kills, a frozen worker and
# restarts under a stream of jobs, then every check and a summary table
# (tests/chaos/chaos.py, docs/RELIABILITY.md). CHAOS_SEED=N repeats a
# run's schedule.
CHAOS_SECONDS ?= 600
CHAOS_SEED ?=
.PHONY: chaos
chaos: build
	@AURA_BIN_DIR=$(BUILD_DIR)/bin AURA_TEST_TOOLS=$(BUILD_DIR)/tests \
		PYTHONDONTWRITEBYTECODE=1 CHAOS_SECONDS=$(CHAOS_SECONDS) CHAOS_SEED=$(CHAOS_SEED) \
		python3 tests/chaos/chaos.py --long
