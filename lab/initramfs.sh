#!/bin/bash
# Build the guest initramfs (uncompressed cpio: nothing to decompress under
# TCG) from busybox-static, lab/init, tests/suites, the test binaries that
# tests/suites names (ALL=1: every binary in build/tests) and tests/guest-files.
set -eu
. "$(dirname "$0")/common.sh"

BB=$(command -v busybox || true)
if [ -z "$BB" ] || ! file -L "$BB" | grep -q 'statically linked'; then
	die "static busybox missing (package busybox-static; run 'make deps')"
fi
ROOT=$BUILD/initramfs-root
OUT=$BUILD/initramfs.cpio
rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,lab,tests,proc,sys,dev,tmp,etc,root}
cp "$BB" "$ROOT/bin/busybox"
cp "$TOP/lab/init" "$ROOT/init"
cp "$TOP/lab/ktap-run" "$ROOT/lab/"
cp "$TOP/tests/suites" "$ROOT/lab/suites"
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
echo "root:x:0:" >"$ROOT/etc/group"

# Test binaries: those named in tests/suites (plus the demo), or all.
words=" demo $(sed 's/#.*//' "$TOP/tests/suites" | tr -s '[:space:]' '\n' | tr '\n' ' ') "
for f in "$BUILD"/tests/*; do
	if [ ! -f "$f" ] || [ ! -x "$f" ]; then continue; fi
	case "${ALL:-0}$words" in
	1*) ;;
	*" ${f##*/} "*) ;;
	*) continue ;;
	esac
	cp "$f" "$ROOT/tests/"
done

# copy_in HOSTPATH [GUESTPATH]: a file, and its shared libraries if dynamic.
copy_in() {
	local dst=$ROOT${2:-$1} lib
	[ -e "$1" ] || die "tests/guest-files: $1 does not exist on the host"
	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst"
	if file -L "$1" | grep -q 'dynamically linked'; then
		for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
			[ -e "$ROOT$lib" ] || copy_in "$lib"
		done
	fi
}
while read -r src dst; do
	copy_in "$src" "$dst"
done < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/tests/guest-files")

(cd "$ROOT" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "lab: initramfs: $(find "$ROOT/tests" -type f | wc -l) test binaries, $(($(stat -c %s "$OUT") / 1048576)) MiB"
