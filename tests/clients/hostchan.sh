# shellcheck shell=sh
# shellcheck disable=SC3045 # busybox ash: read -t, ulimit -c
# Guest side of the host channel (/dev/ttyS1; protocol in hostchan.py).
# tests/Makefile prepends this file to each clients-* guest script.

HC_TTY=/dev/ttyS1

# hc_open SUITE: raw mode, keep the port open on fd 3, greet the host until
# it answers (at most HC_WAIT seconds). Fails when nobody is listening.
hc_open() {
	[ -c "$HC_TTY" ] || return 1
	stty -F "$HC_TTY" raw -echo 2>/dev/null || return 1
	exec 3<>"$HC_TTY"
	n=0
	while [ "$n" -lt "${HC_WAIT:-20}" ]; do
		printf '@@HC-HELLO %s\n' "$1" >&3
		while read -r -t 1 hc_line <&3; do
			case $hc_line in *@@HC-GO*) return 0 ;; esac
		done
		n=$((n + 1))
	done
	return 1
}

# hc_send FILE [NAME]: one file to the host, wait for its receipt.
hc_send() {
	printf '@@HC-FILE %s %s\n' "${2:-${1##*/}}" "$(wc -c <"$1")" >&3
	cat "$1" >&3
	while read -r -t 60 hc_line <&3; do
		case $hc_line in *"@@HC-GOT ${2:-${1##*/}}"*) return 0 ;; esac
	done
	return 1
}

hc_say() { printf '%s\n' "$*" >&3; }
