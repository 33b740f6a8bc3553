#!/bin/bash
# Make the kernel source tree for $KERNEL ready:
#   base:    build/src-base, a pristine unpack of the Debian tarball.
#   patched: build/linux. A developer tree (git, tag 'base', see 'make tree')
#            is used as it is. Otherwise it is (re-)unpacked and the series
#            applied with patch -p1 whenever patches/ changed (stamp file).
set -eu
. "$(dirname "$0")/common.sh"

echo "lab: base $BASE_PKG $(base_version) (pinned $BASE_PIN), series ${SERIES_VERSION:-$(series_hash)}"
[ "$(base_version)" = "$BASE_PIN" ] ||
	warn "BASE IS $BASE_PKG $(base_version), NOT THE PINNED $BASE_PIN"

# series_list: patch files in series order (empty when there is no series).
series_list() {
	[ -f "$TOP/patches/series" ] || return 0
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series"
}

# unpack DIR: fresh copy of the base tarball in DIR.
unpack() {
	[ -f "$BASE_TARBALL" ] || die "base kernel not available: $BASE_TARBALL (run 'make deps')"
	rm -rf "$1" "$1.tmp"
	mkdir -p "$1.tmp"
	step "unpacking $BASE_PKG $(base_version) into ${1#"$TOP"/}" \
		tar -xJf "$BASE_TARBALL" -C "$1.tmp" --strip-components=1
	mv "$1.tmp" "$1"
}

# apply DIR git|patch: apply the series in order, stop at the first failure.
apply() {
	local p
	for p in $(series_list); do
		[ -f "$TOP/patches/$p" ] || die "patch does not exist: patches/$p (listed in patches/series)"
		if [ "$2" = git ]; then
			git -C "$1" am -q --keep-cr "$TOP/patches/$p" >"$BUILD/log/apply.log" 2>&1 || {
				sed 's/^/    | /' "$BUILD/log/apply.log" >&2
				git -C "$1" am --abort >/dev/null 2>&1 || true
				die "patch does not apply: patches/$p"
			}
		else
			patch -d "$1" -p1 -s -N --no-backup-if-mismatch <"$TOP/patches/$p" \
				>"$BUILD/log/apply.log" 2>&1 || {
				sed 's/^/    | /' "$BUILD/log/apply.log" >&2
				die "patch does not apply: patches/$p"
			}
		fi
	done
	echo "lab: applied $(series_list | wc -l) patch(es) from patches/series"
}

mkdir -p "$BUILD/log"
case ${1:-$KERNEL} in
base)
	stamp=$BUILD/src-base.stamp
	want="base $(base_version)"
	if [ ! -d "$BUILD/src-base" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		unpack "$BUILD/src-base"
		echo "$want" >"$stamp"
	fi
	;;
patched)
	if [ -e "$BUILD/linux/.git" ] && [ -n "$(git -C "$BUILD/linux" tag -l base)" ]; then
		echo "lab: build/linux is a developer tree: using it as it is ($(git -C "$BUILD/linux" rev-list --count base..HEAD) commit(s) on base)"
		exit 0
	fi
	stamp=$BUILD/linux.stamp
	want="$(base_version) $(series_hash)"
	if [ ! -d "$BUILD/linux" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		[ -d "$BUILD/linux" ] && echo "lab: patches/ changed: re-creating build/linux"
		unpack "$BUILD/linux"
		apply "$BUILD/linux" patch
		echo "$want" >"$stamp"
	fi
	;;
tree)
	# 'make tree': build/linux as a git repo, base commit tagged 'base',
	# one commit per patch on top.
	if [ -e "$BUILD/linux/.git" ] && [ -n "$(git -C "$BUILD/linux" tag -l base)" ]; then
		echo "lab: build/linux is already a developer tree (tag 'base'); nothing to do"
		exit 0
	fi
	unpack "$BUILD/linux"
	rm -f "$BUILD/linux.stamp"
	g() { git -C "$BUILD/linux" "$@"; }
	g init -q -b main
	g config user.name "$(git -C "$TOP" config user.name || echo 'FSGS Semantics Project')"
	g config user.email "$(git -C "$TOP" config user.email || echo 'fsgs-project@example.org')"
	# Debian's .gitignore ignores '/*': add everything by force.
	step "committing the base tree" g add -f -A .
	g commit -q -m "Linux $(sed -n 's/^VERSION = //p' "$BUILD/linux/Makefile").$(sed -n 's/^PATCHLEVEL = //p' "$BUILD/linux/Makefile").$(sed -n 's/^SUBLEVEL = //p' "$BUILD/linux/Makefile") (Debian $BASE_PKG $(base_version))"
	g tag base
	apply "$BUILD/linux" git
	echo "lab: build/linux: base + $(g rev-list --count base..HEAD) commit(s); edit, commit, then 'make export'"
	;;
esac
