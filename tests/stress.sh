#!/bin/bash
# tests/stress.sh -- lifecycle checks of the built server under load, on
# 127.0.0.1 only ("make stress"; not part of make check: it takes about a
# minute).
#
#   1. SIGTERM during "wrk -t2 -c100 -d10s" on /v1/user: the server must
#      exit 0 within 5 s of the signal and wrk must see no non-2xx answer.
#   2. 200 SIGHUP reloads (two valid fixtures of the same size, swapped in
#      by rename) during a wrk run: no non-2xx, no socket error, VmRSS
#      after a warm-up vs at the end grows < 2%, and /metrics counts
#      avatar_api_reloads_total{result="ok"} 200.
#   3. Start-up errors: port in use -> 69, address not available
#      (192.0.2.1) -> 69, port 80 as uid 65534 -> 77 (skipped when
#      net.ipv4.ip_unprivileged_port_start <= 80 or when not root).
#
# "tests/stress.sh --valgrind" instead runs the server under valgrind
# (memcheck) with a short wrk load and a SIGTERM, and fails on any error
# or definite leak ("make valgrind" runs it after the test suites).
#
# Environment: AVATAR_API_BIN (default src/avatar-api), AVATAR_API_FIXTURE
# (default data/users.json), AVATAR_API_TMPDIR (scratch, default $TMPDIR).
# Exit: 0 all passed, 1 a check failed, 77 wrk (or curl) missing, 99 a
# setup error.
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
bin=${AVATAR_API_BIN:-$top_srcdir/src/avatar-api}
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
mode=stress
if [ "${1:-}" = --valgrind ]; then
	mode=valgrind
fi

for tool in wrk curl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found (Debian package $tool)"
		exit 77
	fi
done
if [ "$mode" = valgrind ] && ! command -v valgrind >/dev/null 2>&1; then
	echo "SKIP: valgrind not found (Debian package valgrind)"
	exit 77
fi
if [ ! -x "$bin" ]; then
	echo "ERROR: $bin is not built"
	exit 99
fi

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.stress.XXXXXX") || exit 99
chmod 0755 "$tmp" || exit 99
pids=""
# shellcheck disable=SC2317  # (called through the trap)
cleanup() {
	local p
	for p in $pids; do
		kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

failures=0
fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}
ok() {
	echo "ok: $*"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# alive PID: running and not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] &&
		[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}

# A port from the ephemeral range, drawn at random (not scanned, so that
# parallel runs rarely collide); the server itself says whether it is free.
random_port() {
	od -An -N2 -tu2 /dev/urandom | awk '{ print 20000 + $1 % 30000 }'
}

# start_server LOG [PREFIX...] -- ARGS...: start "PREFIX... $bin ARGS
# --port P" with stderr to LOG and wait (up to 60 s) for its "Listening on"
# line; P is a random port, another one is tried when the server exits 69
# (port in use).  Sets srv_pid and port.  Returns 1 if it did not come up.
start_server() {
	local log=$1 i try
	shift
	local prefix=()
	while [ "$1" != -- ]; do
		prefix+=("$1")
		shift
	done
	shift
	for ((try = 0; try < 20; try++)); do
		port=$(random_port)
		"${prefix[@]}" "$bin" "$@" --port "$port" 2>"$log" &
		srv_pid=$!
		pids="$pids $srv_pid"
		for ((i = 0; i < 600; i++)); do
			grep -q "Listening on http://127\.0\.0\.1:$port " "$log" && return 0
			alive "$srv_pid" || break
			sleep 0.1
		done
		wait "$srv_pid"
		[ $? = 69 ] || break
	done
	echo "server did not start; its stderr:"
	sed 's/^/  | /' "$log"
	return 1
}

# wait_exit PID MS: wait up to MS ms for PID (a child) to exit; sets
# exit_code (or "timeout") and exit_ms (time waited).
wait_exit() {
	local t0 t
	t0=$(now_ms)
	while alive "$1"; do
		t=$(now_ms)
		if [ $((t - t0)) -gt "$2" ]; then
			exit_code=timeout
			exit_ms=$((t - t0))
			return
		fi
		sleep 0.01
	done
	exit_ms=$(($(now_ms) - t0))
	wait "$1"
	exit_code=$?
}

# wrk_stats FILE: set wrk_requests, wrk_non2xx, wrk_connect, wrk_read,
# wrk_write, wrk_timeout from wrk's report (absent lines mean 0).
wrk_stats() {
	wrk_requests=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$1")
	wrk_non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1")
	local se
	se=$(sed -n 's/^ *Socket errors: *//p' "$1")
	wrk_connect=$(echo "$se" | sed -n 's/.*connect \([0-9]*\).*/\1/p')
	wrk_read=$(echo "$se" | sed -n 's/.*read \([0-9]*\).*/\1/p')
	wrk_write=$(echo "$se" | sed -n 's/.*write \([0-9]*\).*/\1/p')
	wrk_timeout=$(echo "$se" | sed -n 's/.*timeout \([0-9]*\).*/\1/p')
	: "${wrk_requests:=?}" "${wrk_non2xx:=0}" "${wrk_connect:=0}"
	: "${wrk_read:=0}" "${wrk_write:=0}" "${wrk_timeout:=0}"
	echo "  wrk: $wrk_requests requests ($(sed -n 's/^Requests\/sec: *//p' "$1") req/s)," \
		"non-2xx $wrk_non2xx, socket errors: connect $wrk_connect," \
		"read $wrk_read, write $wrk_write, timeout $wrk_timeout"
}

rss_kb() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------------
# 1. SIGTERM during a wrk run (stress) or under valgrind.
sigterm_under_load() {
	local prefix=() dur=10 after=3 bound=5000 what="SIGTERM during wrk"
	if [ "$mode" = valgrind ]; then
		prefix=(valgrind --error-exitcode=1 --leak-check=full
			--errors-for-leak-kinds=definite --track-fds=no
			--log-file="$tmp/valgrind.log")
		if [ -f "$top_srcdir/tests/valgrind.supp" ]; then
			prefix+=(--suppressions="$top_srcdir/tests/valgrind.supp")
		fi
		dur=10 after=5 bound=30000 what="valgrind: server under wrk, then SIGTERM"
	fi
	echo "== $what"
	start_server "$tmp/term.log" "${prefix[@]}" -- --data "$fixture" \
		--address 127.0.0.1 || {
		fail "$what: server did not start"
		return
	}
	timeout 60 wrk -t2 -c100 -d"${dur}s" --timeout 5s \
		"http://127.0.0.1:$port/v1/user" >"$tmp/wrk-term.out" 2>&1 &
	local wrk_pid=$!
	pids="$pids $wrk_pid"
	sleep "$after"
	kill -TERM "$srv_pid"
	wait_exit "$srv_pid" 60000
	wait "$wrk_pid"
	echo "  server: exit $exit_code, ${exit_ms} ms after SIGTERM; its log:"
	sed 's/^/  | /' "$tmp/term.log"
	wrk_stats "$tmp/wrk-term.out"
	if [ "$exit_code" = 0 ] && [ "$exit_ms" -le "$bound" ]; then
		ok "$what: exit 0 within $bound ms"
	else
		fail "$what: exit $exit_code after $exit_ms ms (want 0 within $bound ms)"
	fi
	if [ "$wrk_non2xx" = 0 ] && [ "$wrk_requests" != "?" ] && [ "$wrk_requests" -gt 0 ]; then
		ok "$what: no non-2xx response"
	else
		fail "$what: non-2xx $wrk_non2xx, requests $wrk_requests"
		sed 's/^/  | /' "$tmp/wrk-term.out"
	fi
	# wrk always has a request outstanding on each connection, and counts
	# a read error for a connection that ends (EOF or reset) before the
	# whole answer (by Content-Length) is in: a truncated answer, or a
	# request the server dropped unanswered, shows up there.  An answer
	# with "Connection: close" makes wrk reconnect without an error; once
	# the listening socket is closed those reconnections are refused, and
	# wrk counts each refused one as a connect or (non-blocking connect,
	# then write) a write error until its -d time is up.
	if [ "$wrk_read" = 0 ]; then
		ok "$what: no read error, so no answer was cut short"
	elif grep -q 'closed at the deadline' "$tmp/term.log"; then
		fail "$what: $wrk_read read errors and connections closed at the deadline"
	else
		# Every accepted connection ended on its own after a
		# "Connection: close" answer (no deadline closure).  What is left
		# are wrk's reconnections made after those answers that were still
		# in the accept queue when the listening socket was shut: reset
		# with their request unread.  (Seen under valgrind, where the
		# acceptor is slow; a client that keeps partial answers counted 0
		# bytes on every such connection.)
		echo "  NOTE: $wrk_read read errors: reconnections reset in the accept queue at the stop (request never read), not cut answers"
	fi
	if grep -q 'closed at the deadline' "$tmp/term.log"; then
		echo "  NOTE: $(grep -o 'stopped;.*' "$tmp/term.log")"
	fi
	if [ "$mode" = valgrind ]; then
		echo "  valgrind summary:"
		sed -n '/HEAP SUMMARY/,$p' "$tmp/valgrind.log" | sed 's/^==[0-9]*== /  | /'
		if grep -q 'ERROR SUMMARY: 0 errors' "$tmp/valgrind.log"; then
			ok "$what: valgrind clean"
		else
			fail "$what: valgrind reports errors"
			sed 's/^/  | /' "$tmp/valgrind.log"
		fi
	fi
}

# ---------------------------------------------------------------------
# 2. 200 SIGHUP reloads during a wrk run.
reloads_under_load() {
	local total=200 warm=20 i n t0 rss0="" rss1 wrk_pid data="$tmp/users.json"
	local what="200 reloads during wrk"
	echo "== $what"
	# Two valid fixtures of the same size: B renames user 1.
	cp "$fixture" "$tmp/a.json" || exit 99
	sed 's/"BillyStoltenberg"/"BillyStoltenbery"/' "$fixture" >"$tmp/b.json" || exit 99
	if cmp -s "$tmp/a.json" "$tmp/b.json" ||
		[ "$(wc -c <"$tmp/a.json")" != "$(wc -c <"$tmp/b.json")" ]; then
		echo "ERROR: cannot make a second fixture of the same size"
		exit 99
	fi
	cp "$tmp/a.json" "$data" || exit 99
	start_server "$tmp/hup.log" -- --data "$data" --address 127.0.0.1 || {
		fail "$what: server did not start"
		return
	}
	timeout 120 wrk -t2 -c100 -d30s --timeout 5s \
		"http://127.0.0.1:$port/v1/user" >"$tmp/wrk-hup.out" 2>&1 &
	wrk_pid=$!
	pids="$pids $wrk_pid"
	sleep 3
	t0=$(now_ms)
	for ((i = 1; i <= total; i++)); do
		if [ $((i % 2)) = 1 ]; then
			cp "$tmp/b.json" "$data.new"
		else
			cp "$tmp/a.json" "$data.new"
		fi
		mv -f "$data.new" "$data"
		kill -HUP "$srv_pid"
		# One signal at a time: a second SIGHUP still pending would merge
		# with the first.  Wait for this one's log line.
		for ((n = 0; n < 500; n++)); do
			[ "$(grep -c 'SIGHUP: reload' "$tmp/hup.log")" -ge "$i" ] && break
			sleep 0.01
		done
		if [ "$n" = 500 ]; then
			fail "$what: reload $i not logged within 5 s"
			break
		fi
		if [ "$i" = "$warm" ]; then
			rss0=$(rss_kb "$srv_pid")
		fi
	done
	rss1=$(rss_kb "$srv_pid")
	echo "  $((i - 1)) reloads in $(($(now_ms) - t0)) ms"
	if ! alive "$wrk_pid"; then
		fail "$what: wrk ended before the last reload (make its run longer)"
	fi
	curl -s --max-time 5 "http://127.0.0.1:$port/metrics" >"$tmp/metrics" ||
		fail "$what: cannot read /metrics"
	wait "$wrk_pid"
	wrk_stats "$tmp/wrk-hup.out"
	if [ "$wrk_non2xx" = 0 ] && [ "$wrk_connect$wrk_read$wrk_write$wrk_timeout" = 0000 ] &&
		[ "$wrk_requests" != "?" ] && [ "$wrk_requests" -gt 0 ]; then
		ok "$what: no non-2xx, no socket error"
	else
		fail "$what: wrk saw errors"
		sed 's/^/  | /' "$tmp/wrk-hup.out"
	fi
	echo "  VmRSS after $warm reloads (and 3 s of load): ${rss0:-?} kB, after $total: $rss1 kB"
	if [ -n "$rss0" ] && [ $((rss1 * 100)) -lt $((rss0 * 102)) ]; then
		ok "$what: RSS grew by $((rss1 - rss0)) kB (< 2%)"
	else
		fail "$what: RSS grew from ${rss0:-?} to $rss1 kB (>= 2%)"
	fi
	n=$(sed -n 's/^avatar_api_reloads_total{result="ok"} //p' "$tmp/metrics")
	echo "  /metrics: $(grep '^avatar_api_reloads_total' "$tmp/metrics" | tr '\n' ' ')"
	if [ "$n" = "$total" ]; then
		ok "$what: avatar_api_reloads_total{result=\"ok\"} $n"
	else
		fail "$what: avatar_api_reloads_total{result=\"ok\"} is '$n', want $total"
	fi
	if grep -q 'reload failed' "$tmp/hup.log"; then
		fail "$what: a reload failed:"
		grep 'reload failed' "$tmp/hup.log" | head -5
	fi
	# Keep this server: part 3 needs a port in use.
	busy_port=$port
	busy_pid=$srv_pid
}

# ---------------------------------------------------------------------
# 3. Start-up errors.
expect_exit() {
	local what=$1 want=$2 code
	shift 2
	timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
	code=$?
	echo "  $what: exit $code: $(head -1 "$tmp/err")"
	if [ "$code" = "$want" ]; then
		ok "$what: exit $want"
	else
		fail "$what: exit $code, want $want"
		sed 's/^/  | /' "$tmp/err"
	fi
}

startup_errors() {
	local start
	echo "== start-up errors"
	if [ -z "${busy_port:-}" ]; then
		start_server "$tmp/busy.log" -- --data "$fixture" --address 127.0.0.1 || exit 99
		busy_port=$port
		busy_pid=$srv_pid
	fi
	expect_exit "port in use" 69 "$bin" --data "$fixture" --address 127.0.0.1 \
		--port "$busy_port"
	grep -qi 'in use' "$tmp/err" || fail "port in use: message does not say 'in use'"
	expect_exit "address 192.0.2.1 not available" 69 "$bin" --data "$fixture" \
		--address 192.0.2.1 --port 8080
	start=$(sysctl -n net.ipv4.ip_unprivileged_port_start 2>/dev/null ||
		cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null)
	if [ -n "$start" ] && [ "$start" -le 80 ]; then
		echo "SKIP: port 80 as nobody: net.ipv4.ip_unprivileged_port_start is $start, so port 80 needs no privilege"
	elif [ "$(id -u)" != 0 ]; then
		echo "SKIP: port 80 as nobody: not root, cannot switch to uid 65534"
	elif ! command -v setpriv >/dev/null 2>&1; then
		echo "SKIP: port 80 as nobody: setpriv not found (Debian package util-linux)"
	else
		# The fixture must be readable by nobody: use a copy in $tmp (0755).
		cp "$fixture" "$tmp/nobody.json" && chmod 0644 "$tmp/nobody.json"
		expect_exit "port 80 as uid 65534" 77 setpriv --reuid=65534 \
			--regid=65534 --clear-groups "$bin" --data "$tmp/nobody.json" \
			--address 127.0.0.1 --port 80
	fi
}

if [ "$mode" = valgrind ]; then
	sigterm_under_load
else
	sigterm_under_load
	reloads_under_load
	startup_errors
	if [ -n "${busy_pid:-}" ]; then
		kill -TERM "$busy_pid"
		wait_exit "$busy_pid" 10000
		if [ "$exit_code" = 0 ]; then
			ok "reload server: exit 0 after SIGTERM ($exit_ms ms)"
		else
			fail "reload server: exit $exit_code after SIGTERM"
		fi
	fi
fi

if [ "$failures" -gt 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "all checks passed"
exit 0
