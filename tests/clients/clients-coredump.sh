# clients-coredump CRASH NOTES: core dumps of a multi-threaded process
# holding one FS/GS state class per thread (fsgs_crash), checked by our ELF
# note reader (fsgs_corenotes) in the guest and by gdb on the host (the
# cores travel over the host channel; tests/host/clients-coredump).
# Prints KTAP. tests/Makefile prepends hostchan.sh.
# shellcheck disable=SC3045 # busybox ash: ulimit -c
CRASH=${1:-fsgs_crash}
NOTES=${2:-fsgs_corenotes}
suite_init clients-coredump
echo "$W/core.%p" >/proc/sys/kernel/core_pattern
ulimit -c unlimited

hc=0
if hc_open clients-coredump; then hc=1; t OK "host channel"; else t FAIL "host channel" "no answer on $HC_TTY"; fi

for kind in segv abrt; do
	d=$W/$kind
	mkdir -p "$d"
	(cd "$d" && exec "$CRASH" "$kind" "$d/expect") >>"$R" 2>"$d/stderr"
	rc=$?
	case $kind in segv) want=139 ;; abrt) want=134 ;; esac
	[ "$rc" = "$want" ] && ok=OK || ok=FAIL
	t "$ok" "$kind exit status" "$CRASH died with exit status $rc (want $want)"
	set -- "$W"/core.*
	if [ "$#" = 1 ] && [ -s "$1" ]; then
		mv "$1" "$d/core"
		t OK "$kind core file" "$(wc -c <"$d/core") bytes"
	else
		t FAIL "$kind core file" "want one core file in $W, found: $*"
		: >"$d/core"
	fi
	"$NOTES" "$d/core" "$d/expect" "$kind" >>"$R" 2>&1
	if [ "$hc" = 1 ]; then
		gzip -c "$d/core" >"$d/core.gz" 2>/dev/null
		if hc_send "$d/expect" "$kind.expect" && hc_send "$d/core.gz" "$kind.core.gz"; then
			t OK "$kind core sent to the host"
		else
			t FAIL "$kind core sent to the host"
		fi
	fi
	sed 's/^/# stderr: /' "$d/stderr" >>"$R"
done
[ "$hc" = 1 ] && hc_say "@@HC-BYE"

echo "TAP version 13"
echo "1..$(grep -c -e '^ok - ' -e '^not ok - ' "$R")"
awk '/^(ok|not ok) - / { sub(/ - /, " " ++n " - "); print; next }
     /^#/ { print; next } { print "# " $0 }' "$R"
! grep -q '^not ok' "$R"
