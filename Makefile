# The two commands: `make demo` and `make test`. Both install what is missing.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build test unit bpf-test e2e demo demo-down bench clean

deps:
	bash scripts/install-deps.sh

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# Every test: unit (no root), BPF program tests (BPF_PROG_RUN), e2e (netns).
test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 900

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

bpf-test: build
	cd $(BUILD) && ctest --output-on-failure -L bpf

e2e: build
	cd $(BUILD) && ctest --output-on-failure -L e2e

demo: build
	bash scripts/demo.sh

demo-down:
	bash scripts/xvr-lab down demo
	bash scripts/xvr-lab down demomn

bench: build
	bash bench/run-all.sh

clean:
	rm -rf $(BUILD)
