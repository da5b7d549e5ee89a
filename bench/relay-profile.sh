#!/bin/bash
# bench/relay-profile.sh -- where a relayed request's time goes: system calls
# by kind (strace -c), context switches (perf stat) and CPU by library and
# function (perf record), of an avatar-api relay under wrk load.
#
#   bench/relay-profile.sh [BINARY] [OUTDIR]
#
# The upstream (BINARY --data data/users.json --path /v1/avatar, 1 thread) and
# wrk (-t1 -c100) run on CPU 1, the relay (--threads 1, epoll) on CPU 0; ports
# 18601 and 18602 on 127.0.0.1.  Three wrk runs: one under strace for 3 s,
# one under perf stat for 3 s then perf record -g for 2 s.  It prints the
# per-request figures; the raw outputs stay in OUTDIR (default a new
# directory under /tmp).  Needs wrk, strace and perf (linux-perf), and the
# right to trace (root, or kernel.perf_event_paranoid <= 1 and ptrace).
# bench/NOTES.md ("Issue 15") has what it showed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/src/avatar-api}
OUT=${2:-$(mktemp -d /tmp/relay-profile.XXXXXX)}
UP=18601
RELAY=18602
mkdir -p "$OUT"
for tool in wrk strace perf taskset curl; do
	command -v "$tool" >/dev/null ||
		{ echo "relay-profile: $tool is missing" >&2; exit 1; }
done

pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT

taskset -c 1 "$BIN" --data "$ROOT/data/users.json" --address 127.0.0.1 \
	--port $UP --threads 1 --path /v1/avatar >"$OUT/upstream.log" 2>&1 &
pids+=($!)
taskset -c 0 "$BIN" --address 127.0.0.1 --port $RELAY --threads 1 \
	--upstream "http://127.0.0.1:$UP/v1/avatar" >"$OUT/relay.log" 2>&1 &
relay=$!
pids+=($relay)
for _ in $(seq 50); do
	curl -sf -o /dev/null "http://127.0.0.1:$RELAY/v1/user" && break
	sleep 0.1
done
load() { # SECONDS FILE
	taskset -c 1 wrk -t1 -c100 -d"$1"s "http://127.0.0.1:$RELAY/v1/user" >"$2"
}
load 2 "$OUT/wrk-warmup.txt"

load 6 "$OUT/wrk-strace.txt" &
w=$!
sleep 1.5
timeout -s INT 3 strace -c -f -p $relay -o "$OUT/strace.txt" >/dev/null 2>&1 || true
wait $w

load 8 "$OUT/wrk-perf.txt" &
w=$!
sleep 1.5
perf stat -e context-switches,cpu-clock -p $relay -o "$OUT/perf-stat.txt" \
	-- sleep 3 >/dev/null 2>&1
perf record -q -e cpu-clock -g -p $relay -o "$OUT/perf.data" -- sleep 2 \
	>/dev/null 2>&1
wait $w

# The relay's client answers are half its sendmsg calls (the other half
# are its upstream requests).
answers=$(awk '$NF == "sendmsg" { print int($4 / 2) }' "$OUT/strace.txt")
echo "system calls per request (strace -c, $answers answers):"
awk -v n="$answers" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ {
	e = ($5 ~ /^[0-9]+$/) ? sprintf(" (%.2f failed)", $5 / n) : ""
	printf "  %-14s %.2f%s\n", $NF, $4 / n, e }' "$OUT/strace.txt"
rps=$(awk '/^Requests\/sec/ { print $2 }' "$OUT/wrk-perf.txt")
cs=$(awk '/context-switches/ { gsub(",", "", $1); print $1 }' "$OUT/perf-stat.txt")
awk -v cs="$cs" -v rps="$rps" 'BEGIN {
	printf "context switches per request: %.3f (%s a second at %s requests a second)\n",
		cs / 3 / rps, cs / 3, rps }'
echo "CPU by library (perf record -e cpu-clock, 2 s):"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none \
	2>/dev/null | grep '%' | head -6
echo "the top functions:"
perf report -i "$OUT/perf.data" --no-children --sort dso,sym --stdio -g none \
	2>/dev/null | grep '%' | head -15
echo "raw outputs: $OUT"
