#!/bin/sh
# tests/smoke-run.sh -- start the freshly built server on a free loopback
# port, run tests/smoke.sh against it, then stop it with SIGTERM and check
# that it exits 0.  Skipped (77) without curl.
#
# From "make check" (AVATAR_API_BIN and AVATAR_API_FIXTURE set by the
# Makefile), or by hand: AVATAR_API_BIN=src/avatar-api sh tests/smoke-run.sh
set -u

if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: curl not found (Debian package curl), cannot run the smoke checks"
	exit 77
fi

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
bin=${AVATAR_API_BIN:-src/avatar-api}
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
if [ ! -x "$bin" ]; then
	echo "ERROR: $bin is not built"
	exit 99
fi

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.smoke.XXXXXX") || exit 99
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# A port from the ephemeral range that nothing listens on, by the server's
# own account: it exits 69 (EX_UNAVAILABLE) when the port is taken, and we
# then try another.  Ports are drawn at random, not scanned, so parallel
# runs rarely collide.  AVATAR_API_SMOKE_PORT, if set, is tried first.
random_port() {
	od -An -N2 -tu2 /dev/urandom | awk '{ print 20000 + $1 % 30000 }'
}

# alive PID: running, and not a zombie that no "wait" reaped yet (some
# shells, such as dash, reap background jobs only in "wait").
alive() {
	if [ -r "/proc/$1/stat" ]; then
		[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ] &&
			[ -r "/proc/$1/stat" ]
	else
		kill -0 "$1" 2>/dev/null
	fi
}

# up: the server answers GET /v1/user.
up() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
		"http://127.0.0.1:$port/v1/user")" = 200 ]
}

started=0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	if [ $attempt = 1 ] && [ -n "${AVATAR_API_SMOKE_PORT:-}" ]; then
		port=$AVATAR_API_SMOKE_PORT
	else
		port=$(random_port)
	fi
	"$bin" --data "$fixture" --address 127.0.0.1 --port "$port" \
		--threads 2 2>"$tmp/server.err" &
	pid=$!
	# Up to 10 s: the first start of a fresh build can be slow under load.
	i=0
	while [ $i -lt 100 ]; do
		if ! alive "$pid"; then
			break
		fi
		if up; then
			started=1
			break
		fi
		sleep 0.1
		i=$((i + 1))
	done
	[ $started = 1 ] && break
	if alive "$pid"; then
		echo "FAIL: the server did not answer on port $port within 10 s"
		sed 's/^/  server: /' "$tmp/server.err"
		exit 1
	fi
	wait "$pid"
	status=$?
	pid=""
	if [ $status -ne 69 ]; then
		echo "FAIL: the server exited $status on port $port"
		sed 's/^/  server: /' "$tmp/server.err"
		exit 1
	fi
	echo "port $port is taken (attempt $attempt), trying another"
done
if [ $started != 1 ]; then
	echo "FAIL: no free port after 10 attempts"
	exit 1
fi
echo "server: pid $pid on port $port"

fails=0
if sh "$top_srcdir/tests/smoke.sh" "http://127.0.0.1:$port"; then
	:
else
	fails=$((fails + 1))
fi

# SIGTERM: a graceful stop within the server's 5 s drain, exit status 0.
# A watchdog kills it (status 137) if it is still there after 10 s.
kill -TERM "$pid"
(
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep 10 &
	sleeper=$!
	wait "$sleeper"
	kill -KILL "$pid" 2>/dev/null
) &
watchdog=$!
wait "$pid"
status=$?
pid=""
kill "$watchdog" 2>/dev/null
wait "$watchdog" 2>/dev/null
if [ $status -eq 0 ]; then
	echo "PASS: SIGTERM: the server stopped with exit status 0"
else
	echo "FAIL: SIGTERM: the server exited with status $status (137: killed after 10 s)"
	fails=$((fails + 1))
fi
echo "server stderr:"
sed 's/^/  /' "$tmp/server.err"

[ $fails -eq 0 ]
