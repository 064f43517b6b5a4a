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

.PHONY: all build deps run test test-deploy test-asan test-tsan test-valgrind bench fuzz clean

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

# Sanitizer runs. test-asan and test-tsan build the whole tree instrumented
# (AURA_SANITIZE) in a directory of their own; test-valgrind runs the unit
# suites of the ordinary build under memcheck. Suppressions, each with why
# it is not ours, are in tests/sanitizers/. The programs the integration
# tests start write their reports under <build>/sanitizer-reports/, and a
# report there fails the test (tests/CMakeLists.txt).
SANITIZERS_DIR = $(CURDIR)/tests/sanitizers
ASAN_BUILD_DIR ?= build-asan
TSAN_BUILD_DIR ?= build-tsan
# Not -Werror: at -O1 with instrumentation GCC warns of truncations it
# cannot rule out; the ordinary build is the one that keeps warnings at zero.
SANITIZE_CMAKE = cmake -S . -B $(1) $(CMAKE_FLAGS) -DAURA_WERROR=OFF \
	-DCMAKE_BUILD_TYPE=Debug -DAURA_SANITIZE=$(2) >/dev/null \
	&& cmake --build $(1) -j $(JOBS)
# Unit suites, fuzz corpora and integration tests: not the web tests (node,
# not our C) nor the chaos run (a minute of load whose timing an
# instrumented build upsets).
ASAN_TESTS = -R '^(unit|fuzz|integration|sanitizer)\.'
# The threaded suites (the render step's encoder threads among them) and
# the integration tests that drive the gateway's HTTP threads and hub; the
# other media suites, single-threaded and slow under TSan, are test-asan's.
TSAN_TESTS = -R '^unit\.test_(gateway_(hub|bus|sse|client_limits)|broker_.*|worker_pipeline|media_render)$$|^integration\.test_(job_stream|reconnect|access)$$'

test-asan: deps
	@$(call SANITIZE_CMAKE,$(ASAN_BUILD_DIR),address)
	@cd $(ASAN_BUILD_DIR) && \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	LSAN_OPTIONS=suppressions=$(SANITIZERS_DIR)/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j $(JOBS) $(ASAN_TESTS)

# suppress_equal_addresses=0: that check, made before the suppressions are
# read, scans a list that grew with each message the broker sends without
# copying (tsan.supp), until the broker missed its deadlines.
test-tsan: deps
	@$(call SANITIZE_CMAKE,$(TSAN_BUILD_DIR),thread)
	@cd $(TSAN_BUILD_DIR) && CK_FORK=no \
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppress_equal_addresses=0:suppressions=$(SANITIZERS_DIR)/tsan.supp \
	ctest --output-on-failure -j $(JOBS) $(TSAN_TESTS)

# Every unit suite but test_media_tts, whose bound on the time between two
# progress calls (100 ms) valgrind's slowdown always breaks; test-asan runs
# it. A suite's memcheck output is kept beside it, in <suite>.valgrind.log.
VALGRIND_SKIP = test_media_tts
VALGRIND = valgrind -q --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --suppressions=$(SANITIZERS_DIR)/valgrind.supp

test-valgrind: build
	@find $(BUILD_DIR)/tests -maxdepth 1 -type f -name 'test_*' -perm -u+x \
	| grep -v $(foreach suite,$(VALGRIND_SKIP),-e '/$(suite)$$') | sort \
	| CK_FORK=no xargs -P $(JOBS) -I {} sh -c '$(VALGRIND) {} >{}.valgrind.log 2>&1 \
	&& echo "valgrind: {} passed" \
	|| { cat {}.valgrind.log; echo "valgrind: {} FAILED"; exit 1; }'

# Benchmarks print figures; they are not tests. tests/bench/report.py runs
# them and writes their tables into docs/BENCHMARKS.md, leaving the prose
# around the tables alone. BENCH=media,sse runs some of them (broker,
# media, sse, sse-pinned). nginx + Nchan is installed for bench_sse to
# compare with.
BENCH ?=
bench: build
	@./deploy/install-deps.sh --bench
	@python3 tests/bench/report.py --bench-dir $(BUILD_DIR)/bench \
		--bin-dir $(BUILD_DIR)/bin --report docs/BENCHMARKS.md --only "$(BENCH)"

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
