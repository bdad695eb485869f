# Thin wrapper over CMake. `make run` and `make test` are the two commands in the README.
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc)

.PHONY: all setup run test unit integration fuzz bench clean asan

all: $(BUILD)/Makefile
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

asan: $(BUILD_ASAN)/Makefile
	@$(MAKE) --no-print-directory -C $(BUILD_ASAN) -j$(JOBS)

$(BUILD_ASAN)/Makefile:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPD_SANITIZE=ON -DCMAKE_C_COMPILER=clang

fuzz:
	cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DPD_FUZZ=ON -DCMAKE_C_COMPILER=clang
	@$(MAKE) --no-print-directory -C $(BUILD_FUZZ) -j$(JOBS)

setup:
	scripts/setup.sh

run: setup all
	scripts/run.sh

test: setup
	scripts/test.sh

bench: setup all
	bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
