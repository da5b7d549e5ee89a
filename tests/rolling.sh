#!/bin/bash
# tests/rolling.sh -- a rolling restart under load loses no request.
#
# Two avatar-api instances behind nginx, which stands in for a Kubernetes
# Service or any load balancer: an upstream block of both, kept-alive
# connections to them, and nginx's default retry of an idempotent request
# on another server when a connect fails.  wrk drives GET /v1/user
# through nginx while each instance in turn gets SIGTERM (with
# --shutdown-delay, as the manifests set it), exits, and is started again
# on its port.  Passes when wrk saw no socket error and no non-2xx
# answer, every instance exited 0, and each stop took at most the delay
# plus a second (idle keep-alive connections are closed at once, not
# after the drain).
#
#   make rolling [ROLLING_FLAGS="-d 2"]
#   AVATAR_API_BIN=src/avatar-api bash tests/rolling.sh [-d DELAY] [-c CONNS]
#
# Needs nginx and wrk (bench/run.sh installs both); exits 77, saying why,
# without them.  Loopback only.
set -u

delay=1
conns=50
while [ $# -gt 0 ]; do
	case $1 in
	-d) delay=$2; shift 2 ;;
	-c) conns=$2; shift 2 ;;
	*) echo "usage: $0 [-d DELAY] [-c CONNS]" >&2; exit 64 ;;
	esac
done

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
bin=${AVATAR_API_BIN:-$top_srcdir/src/avatar-api}
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for t in "$nginx" wrk curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: $t not found (bench/run.sh installs nginx and wrk)"
		exit 77
	fi
done
[ -x "$bin" ] || { echo "ERROR: $bin is not built"; exit 99; }

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.rolling.XXXXXX") || exit 99
pids=()
cleanup() {
	[ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
	for p in "${pids[@]}"; do
		{ kill -KILL "$p" && wait "$p"; } 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

code() { # URL
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1"
}

# start N PORT: instance N on PORT; sets pid[N].
declare -A pid
start() {
	"$bin" --address 127.0.0.1 --port "$2" --threads 1 --data "$fixture" \
		--shutdown-delay "$delay" 2>>"$tmp/avatar-$1.log" &
	pid[$1]=$!
	pids+=("$!")
	for _ in $(seq 1 100); do
		[ "$(code "http://127.0.0.1:$2/readyz")" = 200 ] && return 0
		sleep 0.05
	done
	echo "FAIL: instance $1 did not become ready on port $2"
	exit 1
}

port_a=$(free_port)
port_b=$(free_port)
port_lb=$(free_port)
start a "$port_a"
start b "$port_b"

mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx;
	proxy_temp_path $tmp/nginx;
	fastcgi_temp_path $tmp/nginx;
	uwsgi_temp_path $tmp/nginx;
	scgi_temp_path $tmp/nginx;
	upstream avatar {
		server 127.0.0.1:$port_a max_fails=0;
		server 127.0.0.1:$port_b max_fails=0;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$port_lb;
		location / {
			proxy_pass http://avatar;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
"$nginx" -c "$tmp/nginx.conf" -p "$tmp" 2>"$tmp/nginx-start.log" || {
	echo "FAIL: nginx did not start:"
	cat "$tmp/nginx-start.log"
	exit 1
}
for _ in $(seq 1 50); do
	[ "$(code "http://127.0.0.1:$port_lb/v1/user")" = 200 ] && break
	sleep 0.1
done

duration=$((4 * delay + 8))
wrk -t1 -c"$conns" -d"${duration}s" "http://127.0.0.1:$port_lb/v1/user" \
	>"$tmp/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 2

fails=0
# restart N PORT: SIGTERM, wait for exit 0 within delay + 1 s, start again.
restart() {
	local t0 t1 ms st
	t0=$(date +%s%N)
	kill -TERM "${pid[$1]}"
	wait "${pid[$1]}"
	st=$?
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	echo "instance $1: SIGTERM to exit $st in $ms ms (delay ${delay} s)"
	if [ "$st" != 0 ] || [ "$ms" -gt $((delay * 1000 + 1000)) ]; then
		echo "FAIL: instance $1 (exit $st, $ms ms)"
		fails=$((fails + 1))
	fi
	start "$1" "$2"
	sleep 1
}
restart a "$port_a"
restart b "$port_b"
wait "$wrk_pid"
cat "$tmp/wrk.txt"

if grep -q 'Socket errors' "$tmp/wrk.txt"; then
	echo "FAIL: wrk saw socket errors"
	fails=$((fails + 1))
fi
if grep -q 'Non-2xx' "$tmp/wrk.txt"; then
	echo "FAIL: wrk saw non-2xx answers"
	fails=$((fails + 1))
fi
if grep -q '\[error\]' "$tmp/nginx-error.log" 2>/dev/null; then
	echo "nginx's errors (retried on the other instance):"
	grep '\[error\]' "$tmp/nginx-error.log" | sed 's/^/  /' | head -5
fi
[ "$fails" = 0 ] || exit 1
echo "PASS: rolling restart of two instances under wrk -c$conns: no request lost"
