#!/bin/bash
# Build the guest test programs into build/tests, always from the patched
# tree (build/linux) with its UAPI headers, so KERNEL=base runs the very
# same binaries: the upstream x86 selftests (every one that builds, static)
# and our own programs in tests/.
set -eu
. "$(dirname "$0")/common.sh"

KHDR=$BUILD/obj/patched/usr/include
[ -d "$KHDR" ] || die "no UAPI headers in ${KHDR#"$TOP"/} (the patched kernel is configured by 'make')"
OUT=$BUILD/tests
mkdir -p "$OUT"
CC=gcc
command -v ccache >/dev/null && CC="ccache gcc"

# -k: a selftest that does not build is reported as not built by the guest
# runner, it does not stop the lab.
x86() {
	make -C "$BUILD/linux/tools/testing/selftests/x86" -k -j"${JOBS:-$(nproc)}" \
		OUTPUT="$OUT" CC="$CC -static" KHDR_INCLUDES="-isystem $KHDR" || true
}
step "building x86 selftests (static) from build/linux" x86
grep -E 'error:' "$LAST_LOG" | sed 's/^/lab:   not built: /' | head -5 || true
step "building tests/ programs" make -C "$TOP/tests" OUT="$OUT" KHDR="$KHDR" CC="$CC" ||
	die "building tests/ failed"
step "building bench/ programs" make -C "$TOP/bench" OUT="$OUT" LINUX="$BUILD/linux" KHDR="$KHDR" CC="$CC" ||
	die "building bench/ failed"
