# twitchd: a thin wrapper over CMake. `make test` and `make run` are the two
# commands README.md promises; both install missing Debian packages first.
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
CONFIG ?=

.PHONY: all deps build test unit asan fuzz fuzz-long bench run sim check-banned format clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The whole suite: banned-function check, unit and integration tests, a short
# fuzz run, and the same tests again under ASan+UBSan.
test: deps
	bash scripts/test.sh

unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTW_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

fuzz: deps
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-long: deps
	bash scripts/fuzz.sh 600

bench: build
	bash scripts/bench.sh $(BUILD)

# Builds and starts twitchd. Without CONFIG (and so without credentials) it
# starts the built-in simulator and runs the bot against it.
run: build
	bash scripts/run.sh $(BUILD) $(CONFIG)

check-banned:
	@bash scripts/check-banned.sh

format:
	find src include tests bench examples -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
