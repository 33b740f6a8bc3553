# The FSGS semantics lab. 'make' builds the patched kernel and shows the
# demo; 'make check' runs the whole matrix. Knobs: see README.md.
KERNEL        ?= patched
DEBUG         ?= 0
CONFIGS       ?= fsgsbase nofsgsbase nocpu
ifeq ($(DEBUG),1)
# KASAN + lockdep (configs/debug/) make the suites about 6 times slower in TCG
TIMEOUT       ?= 2700
endif
TIMEOUT       ?= 900
SUITE_TIMEOUT ?= 600
ACCEL         ?= tcg
SMP           ?= 2
MEM           ?= 1G
ONLY          ?=
V             ?= 0
JOBS          ?= $(shell nproc)
STRESS_SECONDS ?= 600
BASE_PIN      ?= 6.12.117-1~deb12u1
# Series version: project commit, hash of patches/, and the developer
# tree's position on 'base' when there is one (the demo prints it).
ifndef SERIES_VERSION
DEVTREE := $(if $(wildcard build/linux/.git),$(shell git --no-optional-locks -C build/linux describe --tags --match base --always 2>/dev/null))
SERIES_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo none)-series-$(shell cat patches/series patches/*.patch 2>/dev/null | sha1sum | cut -c1-8)$(if $(DEVTREE),-tree-$(DEVTREE))
endif
export KERNEL DEBUG CONFIGS TIMEOUT SUITE_TIMEOUT ACCEL SMP MEM ONLY V JOBS BASE_PIN \
	SERIES_VERSION STRESS_SECONDS

LAB := lab

.PHONY: all demo check bench stress shell deps source kernel headers tests initramfs \
	tree export export-check lint clean help

all: demo

demo: deps source kernel tests initramfs
	@$(LAB)/run.py demo

check: deps source kernel tests initramfs
	@$(LAB)/run.py check

# Benchmarks (bench/, README "Benchmarks"): both kernels, three boots and the
# host in one run; writes build/results/bench.{json,png,md} and the README table.
bench: deps
	@$(MAKE) --no-print-directory KERNEL=patched source kernel tests initramfs
	@$(MAKE) --no-print-directory KERNEL=base source kernel
	@KERNEL=patched bench/run.py

# Stress (README "Stress"): fsgs_fuzz and a context-switch load for
# STRESS_SECONDS in one boot of the first of CONFIGS; slab must not grow.
stress: deps source kernel tests
	@ALL=1 $(LAB)/initramfs.sh
	@$(LAB)/run.py stress

# The fuzzer's long run (README "Fuzzer"): suite fuzz-long, 10^6 operations
# in each of CONFIGS (one boot each); the suite skips in any other boot.
.PHONY: fuzz-long
fuzz-long: deps source kernel tests initramfs
	@ONLY=fuzz-long SUITE_TIMEOUT=7200 TIMEOUT=7500 $(LAB)/run.py check

shell: deps source kernel tests
	@ALL=1 $(LAB)/initramfs.sh
	@$(LAB)/run.py shell

deps:
	@$(LAB)/deps.sh

# The kernel under test ($(KERNEL), DEBUG=1: its debug build); the test
# binaries always come from the patched tree and its headers (of the normal
# build), so base, patched and debug kernels run the same binaries.
source:
	@KERNEL=patched $(LAB)/source.sh
ifeq ($(KERNEL),base)
	@KERNEL=base $(LAB)/source.sh
endif

kernel:
ifneq ($(KERNEL)$(DEBUG),patched0)
	@KERNEL=patched DEBUG=0 HEADERS_ONLY=1 $(LAB)/build-kernel.sh
endif
	@$(LAB)/build-kernel.sh

tests:
	@$(LAB)/build-tests.sh

initramfs:
	@$(LAB)/initramfs.sh

# Developer loop on the series (see README).
tree: deps
	@$(LAB)/source.sh tree

export:
	@$(LAB)/export.sh export

export-check:
	@$(LAB)/export.sh check

lint:
	shellcheck lab/*.sh lab/init lab/ktap-run .ci/run
	python3 -m py_compile lab/run.py bench/run.py bench/report.py

clean:
	rm -rf build/obj build/tests build/initramfs-root build/initramfs.cpio build/results build/log

help:
	@sed -n '/^## Knobs/,/^## [^K]/p' README.md
