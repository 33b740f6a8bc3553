#!/bin/bash
# Install the Debian packages the lab needs; quiet when all are present.
set -eu
. "$(dirname "$0")/common.sh"

PKGS="qemu-system-x86 busybox-static gcc gcc-multilib make ccache flex bison bc
libelf-dev libssl-dev cpio xz-utils python3 python3-docutils gdb gdbserver criu
gnuplot-nox shellcheck git patch kmod file"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
have=$(base_version)

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
apt_install() {
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		--no-install-recommends "$@"
}

if [ -n "$missing" ]; then
	step "apt-get update" $SUDO apt-get update -qq || true
	# shellcheck disable=SC2086
	step "installing packages:$missing" apt_install $missing ||
		die "package install failed:$missing (see build/log)"
fi

if [ "$have" != "$BASE_PIN" ]; then
	if ! step "installing $BASE_PKG=$BASE_PIN" apt_install "$BASE_PKG=$BASE_PIN"; then
		warn "$BASE_PKG $BASE_PIN (the version the series was made against) is not available"
		step "installing newest $BASE_PKG" apt_install "$BASE_PKG" ||
			die "base kernel not available: $BASE_PKG cannot be installed"
		warn "USING $BASE_PKG $(base_version) INSTEAD OF $BASE_PIN: patches may not apply"
	fi
fi
[ -f "$BASE_TARBALL" ] || die "base kernel not available: $BASE_TARBALL missing"
