# IMS core: pcscf, scscf and the lab hss. GNU make, C11.
#
#   make            build build/pcscf and build/scscf (warnings are errors)
#   make deps       install missing Debian packages (as root) or print the apt-get line
#   make run        deps + build + start the lab on 127.0.0.1 with config/*.yaml
#   make test       deps + build + unit + e2e, then the same under ASan/UBSan, then the fuzz
#                   harnesses for a few seconds each
#   make bench      benchmarks (figures, no pass/fail)
#   make soak       30 min at half the measured capacity: RSS/FDs, latency, failures (SOAK_MINUTES)
#   make fuzz       fuzz harnesses
#   make format     clang-format every C file
#   make k8s-config copy config/*.yaml into k8s/ (kustomize reads nothing outside k8s/)
#   make clean

VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)
PKGS      := sofia-sip-ua libmicrohttpd jansson yaml-0.1 openssl libxml-2.0 libmnl sqlite3 hiredis libnghttp2
BUILD     ?= build
SAN       ?=

CC        ?= gcc
# Library headers are system headers so their own warnings do not fail our -Werror build.
# Evaluated on first use, once: the targets that install packages (run, test, bench, fuzz) run
# deps and then a new make, so on a fresh machine pkg-config is asked only after the install.
# tests/e2e/t_fresh.sh checks that order.
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(patsubst -I%,-isystem %,$$(shell pkg-config --cflags $$(PKGS) 2>/dev/null)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $$(PKGS) 2>/dev/null) -lpthread -lm)$(PKG_LIBS)
# The install step; t_fresh.sh puts a recorder in its place.
DEPS_SCRIPT ?= scripts/deps.sh

CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -Wformat=2 -Wno-format-nonliteral -fno-common -MMD -MP \
             -I. $(PKG_CFLAGS)
ifeq ($(SAN),1)
BUILD     := build/asan
CFLAGS    += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS   += -fsanitize=address,undefined
endif

# FUZZ=1 (scripts/fuzz.sh): everything again with clang, instrumented for libFuzzer and under
# ASan/UBSan, in build/fuzz; `make FUZZ=1 fuzzers` links each tests/fuzz/fuzz_*.c against it.
ifeq ($(FUZZ),1)
BUILD     := build/fuzz
CC        := clang
CFLAGS    += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
             -fno-omit-frame-pointer
LDFLAGS   += -fsanitize=fuzzer,address,undefined
endif

# The plain build allocates through jemalloc (common/util/heap.c says why); the sanitizer and
# fuzz builds keep glibc's allocator, which ASan replaces.
ifeq ($(SAN)$(FUZZ),)
PKGS      += jemalloc
endif

DIAM_SRC   := $(sort $(wildcard diameter/*.c))
# The pcscf's library takes its policy sub-folder too (cscf/pcscf/policy/: Rx and N5).
PCSCF_SRC  := $(sort $(filter-out cscf/pcscf/main.c,$(wildcard cscf/pcscf/*.c cscf/pcscf/policy/*.c)))
SCSCF_TOP  := $(sort $(filter-out cscf/scscf/main.c,$(wildcard cscf/scscf/*.c)))
HSS_SRC    := $(sort $(filter-out diameter/hss/main.c,$(wildcard diameter/hss/*.c)))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
FWD_SRC    := $(sort $(wildcard tests/e2e/fwdproxy/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# The libraries follow the folders: one per folder of common/ and of cscf/scscf/, listed from the
# top layer down (the link order; scripts/check-includes.sh holds the same order as a rule).
COMMON_DIRS := program sip ipsec auth store ops util
SCSCF_DIRS  := routing registration core
LIBCOMMON := $(foreach d,$(COMMON_DIRS),$(BUILD)/libcommon_$(d).a)
LIBDIAM   := $(BUILD)/libdiameter.a
LIBHSS    := $(BUILD)/libhss.a
LIBPCSCF  := $(BUILD)/libpcscf.a
LIBSCSCF  := $(BUILD)/libscscf.a $(foreach d,$(SCSCF_DIRS),$(BUILD)/libscscf_$(d).a)
FD_LIBS   := -lfdcore -lfdproto
PROGRAMS  := $(BUILD)/pcscf $(BUILD)/scscf $(BUILD)/hss
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzzers/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: all check-includes deps run test test-build test-run test-run-unit test-run-e2e unit e2e test-plain test-asan test-fuzz bench soak fuzz fuzzers format k8s-config clean
# Keep objects that only feed a test binary, so a second make rebuilds nothing.
.SECONDARY:
MAKEFLAGS += --no-print-directory

all: check-includes $(PROGRAMS) $(TOOL_BINS) $(BUILD)/fwdproxy

# The include rule (a folder includes only itself, the layers below it and common's public
# headers): every build checks it, so a new upward include or cycle fails at once.
check-includes:
	+@scripts/check-includes.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The version string lives in one object that is rebuilt every time.
$(BUILD)/obj/common/util/version.o: common/util/version.c FORCE
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCSCF_VERSION='"$(VERSION)"' -c -o $@ $<

.PHONY: FORCE
FORCE:

# folder_lib LIB FOLDER: the static library of one folder's sources.
define folder_lib
$(1): $$(call obj,$$(sort $$(wildcard $(2)/*.c)))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(COMMON_DIRS),$(eval $(call folder_lib,$(BUILD)/libcommon_$(d).a,common/$(d))))
$(foreach d,$(SCSCF_DIRS),$(eval $(call folder_lib,$(BUILD)/libscscf_$(d).a,cscf/scscf/$(d))))

$(LIBDIAM): $(call obj,$(DIAM_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBHSS): $(call obj,$(HSS_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBPCSCF): $(call obj,$(PCSCF_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libscscf.a: $(call obj,$(SCSCF_TOP))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/pcscf: $(call obj,cscf/pcscf/main.c) $(LIBPCSCF) $(LIBDIAM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS)

$(BUILD)/scscf: $(call obj,cscf/scscf/main.c) $(LIBSCSCF) $(LIBDIAM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS)

$(BUILD)/hss: $(call obj,diameter/hss/main.c) $(LIBHSS) $(LIBDIAM) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS)

# Test-only proxy on the common core (see tests/e2e/fwdproxy/).
$(BUILD)/fwdproxy: $(call obj,$(FWD_SRC)) $(LIBCOMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBSCSCF) $(LIBPCSCF) $(LIBHSS) $(LIBDIAM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS) -lcmocka

fuzzers: $(FUZZ_BINS)

$(BUILD)/fuzzers/%: $(BUILD)/obj/tests/fuzz/%.o $(LIBSCSCF) $(LIBPCSCF) $(LIBHSS) $(LIBDIAM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS) -lcmocka

# The test PCRF (t_policy_rx.sh) runs freeDiameter through diameter/fd_setup.c.
$(BUILD)/tools/pcrf: $(BUILD)/obj/tests/tools/pcrf.o $(LIBDIAM) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(FD_LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# '+' so that make -n still installs and recurses: what it then prints is what would be built.
deps:
	+@$(DEPS_SCRIPT)

run: deps
	+$(MAKE) all
	scripts/run-lab.sh $(BUILD)

unit: all $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

e2e: all
	@tests/e2e/run.sh $(BUILD)

# make test builds on every core first (test-build); then test-run runs the unit tests and the
# e2e scripts, two at a time (UNIT_JOBS, E2E_JOBS; see scripts/run-unit.sh, tests/e2e/run.sh).
# test-run builds nothing: every make that builds makes version.o anew, and with it every link.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

test-build: all $(UNIT_BINS)

test-run-unit:
	@scripts/run-unit.sh $(UNIT_BINS)

test-run-e2e:
	@tests/e2e/run.sh $(BUILD)

test-run: test-run-unit test-run-e2e

test-plain:
	$(MAKE) -j$(TEST_JOBS) test-build
	$(MAKE) test-run

# At debug level, so the sanitizers also check what only debug lines evaluate.
test-asan:
	$(MAKE) -j$(TEST_JOBS) SAN=1 test-build
	E2E_LOG_LEVEL=debug $(MAKE) SAN=1 test-run

# The libFuzzer harnesses for a few seconds each on top of their seeds (make fuzz: a minute each).
test-fuzz:
	+@$(DEPS_SCRIPT) fuzz
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-3} scripts/fuzz.sh

# test-plain, test-asan and test-fuzz, overlapped where that costs no check anything:
# scripts/test-plain.sh runs the plain unit tests and e2e scripts while the ASan build and its
# unit tests, then the fuzz build and a few seconds of each harness, run at nice 19 beside them
# (scripts/test-background.sh; the e2e scripts that run alone start after it; t_flood is run by
# hand, tests/e2e/run.sh build t_flood). Then the ASan e2e
# scripts: not those marked "# e2e: once" (build-free) or "# e2e: plain" (t_flood: it measures
# the plain build) (E2E_SKIP_ONCE), and the pool three at a time: two left 40-50% of the machine
# idle after its first 100 s (342 s against 263 s for the same scripts, docs/BENCHMARKS.md).
test: deps
	+$(MAKE) -j$(TEST_JOBS) test-build
	+@$(DEPS_SCRIPT) fuzz
	@TEST_JOBS=$(TEST_JOBS) scripts/test-plain.sh
	E2E_LOG_LEVEL=debug E2E_SKIP_ONCE=1 E2E_JOBS=$${E2E_ASAN_JOBS:-3} $(MAKE) SAN=1 test-run-e2e

bench: deps
	+$(MAKE) all
	@scripts/bench.sh $(BUILD)

soak: deps
	+$(MAKE) all
	@scripts/soak.sh $(BUILD)

fuzz: deps
	+@$(DEPS_SCRIPT) fuzz
	@scripts/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The kustomize base's ConfigMap and the lab overlay's subscriber Secret are made from copies of
# config/; tests/e2e/t_k8s.sh fails when a copy differs from its original.
k8s-config:
	cp config/pcscf.yaml config/scscf.yaml config/hss.yaml k8s/base/config/
	cp config/subscribers.yaml k8s/overlays/lab/subscribers.yaml

clean:
	rm -rf build run

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
