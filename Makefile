# Thin wrapper around Meson; see README.md. Every target that builds first makes sure the Debian
# packages are present (scripts/deps.sh installs them as root, or prints the command).
BUILD      ?= build
ASAN_BUILD ?= build-asan
FAULTS_BUILD ?= build-faults
PYTHON     ?= /usr/bin/python3
MESON_OPTS ?=
PORT       ?= 8000
PYTEST     = $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: all deps build test unit integration deploy-check cluster-test test-faults asan run bench \
        format format-check tidy fuzz clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# Every test: unit (cmocka, fuzz corpus replay), then integration against real etcd and nodes.
test: build
	meson test -C $(BUILD) --suite unit --print-errorlogs
	HS_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) tests/integration
	HS_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) tests/cluster
	HS_BUILD_DIR=$(abspath $(BUILD)) tests/deploy/check_compose.sh

cluster-test: build
	HS_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) tests/cluster

# Fault-injection scenarios (tests/faults/README.md): a separate build with the hs_fault()
# hooks compiled in (-Dfault_injection=true; never in release builds), whole clusters broken
# on purpose (SIGKILL nodes, gateways, healers, the etcd leader; flipped bytes) and the
# consistency checker. About 5-10 minutes.
test-faults: deps
	[ -f $(FAULTS_BUILD)/build.ninja ] || meson setup $(FAULTS_BUILD) $(MESON_OPTS) \
	    -Dfault_injection=true
	meson configure $(FAULTS_BUILD) -Dfault_injection=true
	meson compile -C $(FAULTS_BUILD) hybridstore
	HS_BUILD_DIR=$(abspath $(FAULTS_BUILD)) $(PYTEST) tests/faults

# The deployment files: docker-compose 1.29 validation, nginx -t, the topology booted natively.
deploy-check: build
	HS_BUILD_DIR=$(abspath $(BUILD)) tests/deploy/check_compose.sh

unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

integration: build
	HS_BUILD_DIR=$(abspath $(BUILD)) $(PYTEST) tests/integration

# Unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (leaks fail the test too).
asan: deps
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) $(MESON_OPTS) -Dbuildtype=debug \
	    -Db_sanitize=address,undefined
	meson compile -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs

run: build
	$(BUILD)/hybridstore cluster --dir ./data --port $(PORT)

bench: build
	$(BUILD)/hybridstore bench codec
	$(PYTHON) tools/bench_node.py $(abspath $(BUILD))
	$(PYTHON) tools/bench_matrix.py $(abspath $(BUILD))
	$(PYTHON) tools/bench_cpu.py $(abspath $(BUILD))

fuzz: deps
	[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzzers=true \
	    -Db_sanitize=address,undefined -Db_lundef=false
	meson compile -C build-fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

tidy: build
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'src/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
