# shellcheck shell=bash disable=SC2034
# Sourced by the lab's shell scripts: paths, knobs and two helpers.
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$TOP/build
BASE_PKG=linux-source-6.12
BASE_PIN=${BASE_PIN:-6.12.117-1~deb12u1}
BASE_TARBALL=/usr/src/$BASE_PKG.tar.xz
V=${V:-0}
KERNEL=${KERNEL:-patched}
case $KERNEL in
patched) SRC=$BUILD/linux ;;
base) SRC=$BUILD/src-base ;;
*) echo "lab: KERNEL must be 'patched' or 'base', not '$KERNEL'" >&2; exit 2 ;;
esac
OBJ=$BUILD/obj/$KERNEL
# DEBUG=1: the debug kernel (configs/debug/ on top), objects apart.
DEBUG=${DEBUG:-0}
if [ "$DEBUG" = 1 ]; then OBJ=$OBJ-debug; fi
export CCACHE_BASEDIR=$TOP CCACHE_NOHASHDIR=1

die() { echo "lab: error: $*" >&2; exit 1; }
warn() { echo "lab: WARNING: $*" >&2; }

# step "what" cmd...: one line when it starts, its duration when it ends.
# Output is kept in build/log/<name>.log and shown only on failure or V=1.
step() {
	local what=$1 name t0 rc=0
	shift
	name=$(echo "$what" | tr -c 'a-zA-Z0-9_\n' '-')
	mkdir -p "$BUILD/log"
	LAST_LOG=$BUILD/log/$name.log
	echo "lab: $what ..."
	t0=$(date +%s)
	if [ "$V" = 1 ]; then
		"$@" 2>&1 | tee "$LAST_LOG" || rc=${PIPESTATUS[0]}
	else
		"$@" >"$LAST_LOG" 2>&1 || rc=$?
	fi
	if [ "$rc" != 0 ]; then
		[ "$V" = 1 ] || tail -n 25 "$LAST_LOG" | sed 's/^/    | /' >&2
		echo "lab: error: $what failed after $(($(date +%s) - t0))s (log: ${LAST_LOG#"$TOP"/})" >&2
		return "$rc"
	fi
	echo "lab: $what done in $(($(date +%s) - t0))s"
}

# Base kernel version actually installed, printed by every run.
base_version() { dpkg-query -W -f='${Version}' "$BASE_PKG" 2>/dev/null; }

# Hash of the series (patches/series and the patch files): stamps the
# unpacked tree; the Makefile's SERIES_VERSION ends with it too.
series_hash() {
	(cd "$TOP" && cat patches/series patches/*.patch 2>/dev/null) | sha1sum | cut -c1-8
}
