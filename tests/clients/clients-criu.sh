# clients-criu TARGET: Debian's criu dumps, kills and restores TARGET
# (fsgs_criu_target), whose threads hold distinct null-selector FS/GS bases
# and check them in a loop; after the restore TARGET checks from inside
# (threads still running, no thread ever saw another state, its data and
# its GS intact). A second run adds a thread with real GDT TLS selectors.
# Prints KTAP. tests/Makefile prepends hostchan.sh (unused here).
TARGET=${1:-fsgs_criu_target}
suite_init clients-criu

# wait_for FILE SECONDS
wait_for() {
	n=0
	while [ ! -s "$1" ] && [ "$n" -lt $(($2 * 10)) ]; do
		usleep 100000
		n=$((n + 1))
	done
	[ -s "$1" ]
}

criu check >"$W/check.log" 2>&1 && ok=OK || ok=FAIL
t "$ok" "criu check" "$(criu --version | tr '\n' ' ')"
sed 's/^/# criu check: /' "$W/check.log" >>"$R"

# run LABEL [real]
run() {
	d=$W/$1
	mkdir -p "$d/img"
	setsid "/tests/$TARGET" "$d" ${2:+"$2"} </dev/null >"$d/out" 2>&1 &
	if ! wait_for "$d/ready" 60; then
		t FAIL "$1 target ready" "no $d/ready"
		return
	fi
	pid=$(cat "$d/ready")
	if criu dump -t "$pid" -D "$d/img" -o dump.log -v4 >/dev/null 2>&1 && ! kill -0 "$pid" 2>/dev/null; then
		t OK "$1 dump"
	else
		t FAIL "$1 dump" "criu dump failed or pid $pid still alive"
		grep -i 'error' "$d/img/dump.log" | head -20 | sed 's/^/# dump.log: /' >>"$R"
		kill -9 "$pid" 2>/dev/null
		return
	fi
	if criu restore -D "$d/img" -d -o restore.log -v4 >/dev/null 2>&1 && kill -0 "$pid" 2>/dev/null; then
		t OK "$1 restore"
	else
		t FAIL "$1 restore" "criu restore failed or pid $pid not running"
		grep -i 'error' "$d/img/restore.log" | head -20 | sed 's/^/# restore.log: /' >>"$R"
		return
	fi
	: >"$d/check"
	if wait_for "$d/result" 60; then
		sed "s/^\(ok\|not ok\) - criu /\1 - $1 /" "$d/result" >>"$R"
	else
		t FAIL "$1 result" "the restored process wrote no $d/result"
		kill -9 "$pid" 2>/dev/null
	fi
}

run null
run real real

echo "TAP version 13"
echo "1..$(grep -c -e '^ok - ' -e '^not ok - ' "$R")"
awk '/^(ok|not ok) - / { sub(/ - /, " " ++n " - "); print; next }
     /^#/ { print; next } { print "# " $0 }' "$R"
! grep -q '^not ok' "$R"
