# clients-gdb TARGET: Debian's gdbserver runs TARGET (fsgs_gdb_target) on
# the host channel (/dev/ttyS1); Debian's gdb on the host drives it
# (tests/host/clients-gdb, script fsgs_gdb.gdb). TARGET prints what it sees
# after each resume against the contract; this script numbers those KTAP
# lines and checks gdbserver's end. tests/Makefile prepends hostchan.sh.
TARGET=${1:-fsgs_gdb_target}
suite_init clients-gdb

if hc_open clients-gdb; then
	t OK "host channel"
	timeout 300 gdbserver --once "$HC_TTY" "/tests/$TARGET" >"$W/target.out" 2>"$W/gdbserver.err" &
	pid=$!
	# Tell the host to start relaying only once gdbserver owns the port.
	n=0
	until grep -q "Remote debugging using" "$W/gdbserver.err" || [ "$n" -ge 100 ]; do
		usleep 200000
		n=$((n + 1))
	done
	hc_say "@@HC-RELAY"
	# A serial line never hangs up: once the target is gone, gdb has
	# nothing more to say, and gdbserver --once would wait forever.
	n=0
	until grep -q "Child exited\|Child terminated" "$W/gdbserver.err" || [ "$n" -ge 1500 ]; do
		usleep 200000
		n=$((n + 1))
	done
	sleep 2
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	grep -q "Child exited with status" "$W/gdbserver.err" && rc=0 || rc=1
	cat "$W/target.out" >>"$R"
	[ "$rc" = 0 ] && ok=OK || ok=FAIL
	t "$ok" "gdbserver session" "$(grep Child "$W/gdbserver.err"); $(grep -c . "$W/target.out") target lines"
	# A register write gdbserver could not do is a failure, not a warning.
	if grep -q "Warning\|rror" "$W/gdbserver.err"; then ok=FAIL; else ok=OK; fi
	t "$ok" "gdbserver without warnings"
	sed 's/^/# gdbserver: /' "$W/gdbserver.err" >>"$R"
else
	t FAIL "host channel" "no answer on $HC_TTY"
fi

echo "TAP version 13"
echo "1..$(grep -c -e '^ok - ' -e '^not ok - ' "$R")"
awk '/^(ok|not ok) - / { sub(/ - /, " " ++n " - "); print; next }
     /^#/ { print; next } { print "# " $0 }' "$R"
! grep -q '^not ok' "$R"
