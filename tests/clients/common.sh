# Shared by the client suites; tests/Makefile prepends it (and hostchan.sh)
# to each clients-*.sh.

# suite_init NAME: a fresh work dir W=/tmp/NAME and an empty results file R.
suite_init() {
	W=/tmp/$1
	R=$W/results
	rm -rf "$W"
	mkdir -p "$W"
	: >"$R"
}

t() { # t OK|FAIL NAME [DIAGNOSTIC]: a test line with a stable name
	if [ "$1" = OK ]; then echo "ok - $2" >>"$R"; else echo "not ok - $2" >>"$R"; fi
	[ -z "${3:-}" ] || echo "# $3" >>"$R"
}
