#!/bin/bash
# Configure (tinyconfig + configs/*.config, + configs/debug/*.config when
# DEBUG=1) and build bzImage for $KERNEL out of tree in build/obj/$KERNEL
# (DEBUG=1: build/obj/$KERNEL-debug); install the UAPI headers for the tests.
set -eu
. "$(dirname "$0")/common.sh"

[ -f "$SRC/Makefile" ] || die "no kernel source in ${SRC#"$TOP"/} (run 'make')"
JOBS=${JOBS:-$(nproc)}
CC=gcc
command -v ccache >/dev/null && CC="ccache gcc"
mkdir -p "$OBJ"
kmake() { make -C "$SRC" O="$OBJ" -j"$JOBS" CC="$CC" HOSTCC="$CC" "$@"; }

# Configure when the fragments change (or there is no .config yet).
frags=$(ls "$TOP"/configs/*.config)
if [ "$DEBUG" = 1 ]; then frags="$frags $(ls "$TOP"/configs/debug/*.config)"; fi
# shellcheck disable=SC2086
cfghash=$(cat $frags | sha1sum | cut -c1-12)
if [ ! -f "$OBJ/.config" ] || [ "$(cat "$OBJ/.lab-config-hash" 2>/dev/null)" != "$cfghash" ]; then
	# shellcheck disable=SC2086
	cfg() {
		kmake tinyconfig &&
			(cd "$OBJ" && "$SRC/scripts/kconfig/merge_config.sh" -m .config $frags) &&
			kmake olddefconfig
	}
	step "configuring ${OBJ##*/} kernel (tinyconfig + ${frags//$TOP\//})" cfg
	echo "$cfghash" >"$OBJ/.lab-config-hash"
fi

# Every option a fragment asks for must survive olddefconfig.
lost=
for f in $frags; do
	while IFS= read -r l; do
		case $l in
		CONFIG_*=n) grep -qx "# ${l%=n} is not set" "$OBJ/.config" || ! grep -q "^${l%=n}=" "$OBJ/.config" || lost="$lost $l" ;;
		CONFIG_*) grep -qx "$l" "$OBJ/.config" || lost="$lost $l" ;;
		esac
	done <"$f"
done
[ -z "$lost" ] || die "config options lost in olddefconfig (missing dependency?):$lost"

if [ "${HEADERS_ONLY:-0}" = 1 ]; then
	step "installing $KERNEL UAPI headers" kmake headers
	exit 0
fi
step "building ${OBJ##*/} kernel ($(kmake -s kernelrelease 2>/dev/null), -j$JOBS)" kmake bzImage ||
	die "kernel build failed (${OBJ##*/}); last lines above"
step "installing $KERNEL UAPI headers" kmake headers
