#!/bin/sh
# tests/promtool.sh -- `promtool check metrics` on the /metrics text of the
# freshly built server: epoll mode, thread-per-connection mode, relay mode
# (in front of the first) and on an --admin-port listener; and the metrics
# that must be there (the duration histogram, process_*, the acceptor's).
# Skipped (77) without promtool (Debian package prometheus) or curl.
#
# From "make check" (AVATAR_API_BIN and AVATAR_API_FIXTURE set by the
# Makefile), or by hand: AVATAR_API_BIN=src/avatar-api sh tests/promtool.sh
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99

# promtool: on the PATH, or the one scripts/quickstart.sh test took out of
# Debian's prometheus package into tests/tools (without the server).
promtool=$(command -v promtool 2>/dev/null) ||
	promtool=$top_srcdir/tests/tools/promtool
if [ ! -x "$promtool" ]; then
	echo "SKIP: promtool not found (scripts/quickstart.sh test puts Debian's" \
		"in tests/tools), cannot check the /metrics text"
	exit 77
fi
if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: curl not found, cannot check the /metrics text"
	exit 77
fi
bin=${AVATAR_API_BIN:-src/avatar-api}
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
if [ ! -x "$bin" ]; then
	echo "ERROR: $bin is not built"
	exit 99
fi

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.promtool.XXXXXX") || exit 99
pids=""
cleanup() {
	for p in $pids; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

random_port() {
	od -An -N2 -tu2 /dev/urandom | awk '{ print 20000 + $1 % 30000 }'
}

# start NAME ARGS...: start the server with ARGS on a free loopback port
# (the server exits 69 when it is taken: then try another), and wait
# until it answers /healthz.  Sets $port; NAME names its stderr file.
start() {
	name=$1
	shift
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$(random_port)
		extra=
		if [ "$name" = admin ]; then
			# The admin port too may be taken: a new one each try.
			admin=$(random_port)
			extra="--admin-port $admin"
		fi
		# shellcheck disable=SC2086 # extra: words
		"$bin" --address 127.0.0.1 --port "$port" "$@" $extra \
			2>"$tmp/$name.err" &
		pid=$!
		pids="$pids $pid"
		i=0
		while [ $i -lt 100 ]; do
			kill -0 "$pid" 2>/dev/null || break
			if [ "$(curl -s -o /dev/null -w '%{http_code}' \
				--max-time 1 "http://127.0.0.1:$port/healthz")" = 200 ]
			then
				return 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "FAIL: $name did not answer within 10 s"
			exit 1
		fi
		wait "$pid"
		status=$?
		if [ $status -ne 69 ]; then
			echo "FAIL: $name exited $status"
			sed 's/^/  server: /' "$tmp/$name.err"
			exit 1
		fi
	done
	echo "FAIL: no free port for $name after 10 attempts"
	exit 1
}

fails=0

# check NAME URL: traffic first (a 200, a 404, a 405), then the scrape of
# URL, which promtool must pass and which must hold the metrics below.
check() {
	name=$1
	url=$2
	base=${url%/metrics}
	curl -s -o /dev/null "http://127.0.0.1:$port/v1/user"
	curl -s -o /dev/null "http://127.0.0.1:$port/nope"
	curl -s -o /dev/null -X POST "http://127.0.0.1:$port/healthz"
	if ! curl -sf -o "$tmp/$name.txt" "$url"; then
		echo "FAIL: $name: GET $url failed"
		fails=$((fails + 1))
		return
	fi
	if "$promtool" check metrics <"$tmp/$name.txt" >"$tmp/$name.lint" 2>&1; then
		echo "ok: $name: promtool check metrics"
	else
		echo "FAIL: $name: promtool check metrics:"
		sed 's/^/  /' "$tmp/$name.lint"
		fails=$((fails + 1))
	fi
	for want in \
		'# TYPE avatar_api_request_duration_seconds histogram' \
		'avatar_api_request_duration_seconds_bucket{route="list",status_class="2xx",le="+Inf"} ' \
		'avatar_api_request_duration_seconds_count{route="other",status_class="4xx"} ' \
		'# TYPE process_cpu_seconds_total counter' \
		'process_resident_memory_bytes ' 'process_virtual_memory_bytes ' \
		'process_open_fds ' 'process_max_fds ' 'process_start_time_seconds ' \
		'avatar_api_connections_closed_total{reason="timeout"} ' \
		'# TYPE avatar_api_accept_errors_total counter'
	do
		if ! grep -qF "$want" "$tmp/$name.txt"; then
			echo "FAIL: $name: no '$want' in $base/metrics"
			fails=$((fails + 1))
		fi
	done
}

start epoll --data "$fixture" --threads 2
up_port=$port
check epoll "http://127.0.0.1:$port/metrics"

start tpc --data "$fixture" --mode thread-per-connection
check thread-per-connection "http://127.0.0.1:$port/metrics"

start relay --upstream "http://127.0.0.1:$up_port/v1/user"
check relay "http://127.0.0.1:$port/metrics"
if ! grep -qF '# TYPE avatar_api_upstream_duration_seconds histogram' \
	"$tmp/relay.txt"; then
	echo "FAIL: relay: no upstream metrics"
	fails=$((fails + 1))
fi

start admin --data "$fixture"
check admin "http://127.0.0.1:$admin/metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
if [ "$code" != 404 ]; then
	echo "FAIL: admin: the main port answered $code for /metrics, not 404"
	fails=$((fails + 1))
fi

[ $fails = 0 ] || exit 1
echo "PASS: promtool check metrics in epoll, thread-per-connection, relay" \
	"and admin-port modes"
