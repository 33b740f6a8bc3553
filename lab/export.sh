#!/bin/bash
# Developer loop on the series in build/linux (a git tree made by 'make tree':
# tag 'base' = pristine base, one commit per patch on top).
#   export.sh export  regenerate patches/*.patch and patches/series from base..HEAD
#   export.sh check   fail, naming commits/files, when build/linux holds work
#                     that patches/ does not (uncommitted or unexported)
# Patch files are stable: no numbers in the names (series gives the order),
# no signature, zero commit id, fixed abbreviation, so an unchanged commit
# exports to a byte-identical file.
set -eu
. "$(dirname "$0")/common.sh"

L=$BUILD/linux
if [ ! -e "$L/.git" ] || [ -z "$(git -C "$L" tag -l base)" ]; then
	die "build/linux is not a developer tree (no tag 'base'): run 'make tree' first"
fi
g() { git -C "$L" -c core.abbrev=12 -c diff.noprefix=false -c diff.mnemonicPrefix=false \
	-c diff.renames=true -c format.signature= "$@"; }

# fmt DIR: export base..HEAD into DIR as <slug>.patch + series.
fmt() {
	local f slug name
	g format-patch -q --no-signature --zero-commit -N --abbrev=12 --no-cover-letter \
		--no-thread -o "$1" base..HEAD >/dev/null
	: >"$1/series"
	for f in "$1"/[0-9][0-9][0-9][0-9]-*.patch; do
		[ -e "$f" ] || continue
		slug=${f##*/}
		slug=${slug#[0-9][0-9][0-9][0-9]-}
		name=$slug
		while grep -qx "$name" "$1/series"; do name=dup-$name; done
		mv "$f" "$1/$name"
		echo "$name" >>"$1/series"
	done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fmt "$tmp"
mkdir -p "$TOP/patches"

case ${1:-check} in
export)
	changed=0
	for f in $(cat "$tmp/series") series; do
		if ! cmp -s "$tmp/$f" "$TOP/patches/$f"; then
			cp "$tmp/$f" "$TOP/patches/$f"
			echo "lab: wrote patches/$f"
			changed=$((changed + 1))
		fi
	done
	for f in "$TOP"/patches/*.patch; do
		[ -e "$f" ] || continue
		grep -qx "${f##*/}" "$tmp/series" || { rm "$f" && echo "lab: removed patches/${f##*/}"; }
	done
	echo "lab: exported $(wc -l <"$tmp/series") commit(s) on base, $changed file(s) changed"
	;;
check)
	bad=0
	# Debian's .gitignore ignores '/*', so new files show only as ignored;
	# hidden files (tool caches such as .checkpatch-camelcase.*) are left out.
	dirty=$(git -C "$L" --no-optional-locks status --porcelain --ignored --untracked-files=all |
		grep -v -E '^.. (.*/)?\.[^/]*$' || true)
	if [ -n "$dirty" ]; then
		echo "lab: build/linux has uncommitted changes:"
		echo "$dirty" | sed 's/^/    /' | head -20
		bad=1
	fi
	n=0
	for c in $(git -C "$L" rev-list --reverse base..HEAD); do
		n=$((n + 1))
		f=$(sed -n "${n}p" "$tmp/series")
		if ! cmp -s "$tmp/$f" "$TOP/patches/$f"; then
			echo "lab: commit $(git -C "$L" log -1 --format='%h %s' "$c") is not exported (patches/$f differs or is missing)"
			bad=1
		fi
	done
	listed=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$TOP/patches/series" 2>/dev/null || true)
	for f in $({ echo "$listed"; cd "$TOP/patches" && ls -- *.patch 2>/dev/null; } | sort -u); do
		grep -qx "$f" "$tmp/series" ||
			{ echo "lab: patches/$f has no commit in build/linux"; bad=1; }
	done
	if [ "$(cat "$tmp/series")" != "$listed" ]; then
		echo "lab: patches/series does not list the commits of build/linux in order"
		bad=1
	fi
	[ "$bad" = 0 ] || die "export-check: build/linux holds work not in patches/ (commit it, then 'make export')"
	echo "lab: export-check: build/linux and patches/ agree ($n commit(s) on base)"
	;;
*) die "usage: export.sh export|check" ;;
esac
