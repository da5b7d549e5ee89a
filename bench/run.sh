#!/bin/bash
# bench/run.sh -- throughput, latency, CPU and memory of avatar-api, next to
# nginx serving the same bytes, measured with wrk on this machine.
#
#   bench/run.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--only KEY,...] [--quick]
#                [-o DIR]
#
# The gzip targets send "Accept-Encoding: gzip" on every request (wrk -H);
# the table gives, for every target, the bytes of one response on the
# wire (headers + body), so that identity and gzip rows compare.
#
# It builds avatar-api if needed (autoreconf, configure, make), installs the
# Debian packages it lacks (wrk, nginx, util-linux for taskset, curl and the
# build dependencies) with apt-get, through sudo when not root, then runs the
# targets interleaved: for each round, every target once.  A run starts the
# server, waits for a 200 on GET /v1/user, warms up with wrk for 1 s (not
# counted), reads the server's CPU time from /proc, runs
# "wrk --latency -dSECONDS", reads the CPU time and peak RSS again, and stops
# the server with SIGTERM (avatar-api must exit 0).  It prints a markdown
# table of the medians over the rounds.  The raw wrk outputs, server logs
# and the table are kept in bench/results/DATE-TIME/ (see -o).
#
# The relay and chain targets also run reference servers that live outside
# the project (rawrelay, hyper-relay, hyper-m2: ../shared/anchors on the
# development machine), from the built folder that AVATAR_API_ANCHORS names;
# without it those targets are skipped, or refused when asked for by name.
#
# Run "bench/run.sh --help" for the targets and options.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/run.sh [OPTION]...
Benchmark GET /v1/user of avatar-api, and of nginx serving the same bytes,
with wrk; print a markdown table of the medians over the rounds.

  -d SECONDS      length of each measured wrk run (default 10)
  -r ROUNDS       rounds; each round runs every target once (default 3)
  -c CONNS        wrk connections for all targets but epoll-10k (default 100)
  --only KEYS     run only these targets: keys separated by commas or spaces
                  (the option may be repeated)
  --quick         smoke run: -d 2 -r 1 (a later -d or -r still wins)
  -o DIR          keep the raw results in DIR/DATE-TIME
                  (default bench/results)
  -h, --help      print this help and exit

Targets (KEY: name in the table: what runs):
  epoll-pinned:  avatar-api epoll 1 thread (pinned):
                 taskset -c 0 avatar-api --threads 1;
                 taskset -c 1 wrk -t1 -cCONNS --latency
  tpc-pinned:    avatar-api thread-per-connection (pinned):
                 the same with --mode thread-per-connection
  nginx-pinned:  nginx (pinned, 1 worker): worker_processes 1, on CPU 0
  gzip-pinned:   avatar-api epoll 1 thread, gzip (pinned): epoll-pinned
                 with wrk -H 'Accept-Encoding: gzip' (the gzip body)
  nginx-gzip-pinned:
                 nginx (1 worker, on CPU 0) with gzip_static on, serving
                 avatar-api's own gzip body from a .gz file; wrk -H
                 'Accept-Encoding: gzip'
  epoll-whole:   avatar-api epoll, whole machine: no pinning, one thread per
                 online CPU; wrk -t2 -cCONNS --latency
  nginx-whole:   nginx, whole machine: worker_processes auto, no pinning
  epoll-10k:     avatar-api epoll, 10000 connections: no pinning,
                 --max-connections 20000; wrk -t2 -c10000 --latency
  relay-pinned:  avatar-api as a relay (microservice1) in front of an
                 upstream avatar-api (microservice2) on CPU 1:
                 taskset -c 0 avatar-api --threads 1 --upstream URL;
                 taskset -c 1 wrk -t1 -cCONNS --latency
  relay-tpc-pinned:
                 relay-pinned in thread-per-connection mode
  nginx-relay-pinned:
                 nginx (1 worker, on CPU 0) as a reverse proxy in front of
                 the same upstream, with kept-alive upstream connections
  rawrelay-pinned (anchor):
                 rawrelay, the floor of a relay (one C epoll loop, keep-alive
                 upstream pool), in front of the same upstream:
                 M2_URL=http://127.0.0.1:UP/v1/user taskset -c 0 rawrelay PORT
  hyper-relay-pinned (anchor):
                 the Rust hyper + reqwest relay, 1 tokio worker, in front of
                 the same upstream: TOKIO_WORKER_THREADS=1 M2_URL=...
                 taskset -c 0 hyper-relay PORT
  chain-whole:   the two-tier chain on the whole machine, nothing pinned:
                 wrk -t2 -cCONNS -> avatar-api --upstream URL (relay) ->
                 avatar-api --path /v1/avatar (the fixture), both with one
                 thread per online CPU
  hyper-chain-whole (anchor):
                 the same chain in Rust: wrk -t2 -cCONNS -> hyper-relay ->
                 hyper-m2 (anchor-hyper serving avatar-api's own body on
                 /v1/avatar), tokio's default worker threads in both
  accesslog-pinned:
                 epoll-pinned with --access-log to a file in the run's
                 scratch directory (removed at the end)
For the relay targets only the relay's CPU time and memory are counted; the
upstream (started once for all relay runs, pinned to CPU 1 with wrk) is not.
For the chain targets both tiers are counted: the CPU column is the CPU of
the relay and of its upstream together per request, peak RSS their sum.
The table's "bytes per response" is one response of the target to the same
request as wrk's, measured with curl: headers + body, as sent on the wire.

Environment: AVATAR_API_BASELINE=FILE adds the targets base-epoll-pinned,
base-tpc-pinned, base-gzip-pinned, base-relay-pinned, base-relay-tpc-pinned
and base-chain-whole
(both tiers that binary): the same runs with that binary (an older build,
say), interleaved with the others, for a before/after table (a build
without gzip answers base-gzip-pinned's requests with the identity body:
what the same requests cost before).
AVATAR_API_ANCHORS=DIR adds the anchor targets (rawrelay-pinned,
hyper-relay-pinned, hyper-chain-whole): DIR is a built copy of the
reference servers (../shared/anchors/setup.sh DIR on the development
machine); run.sh takes DIR/rawrelay/rawrelay,
DIR/hyper-relay/target/release/hyper-relay and
DIR/hyper/target/release/anchor-hyper (as hyper-m2) from it and starts them
itself, on its own ports.  Without it they are skipped (one line says so),
and --only refuses them.
AVATAR_API_BIN=FILE benchmarks that binary instead of building
the one in this tree (make bench sets it).
EOF
}

die() {
	echo "bench: $*" >&2
	exit 1
}

usage_error() {
	echo "bench: $* (see --help)" >&2
	exit 64
}

note() {
	echo "bench: $*" >&2
}

# ---------------------------------------------------------------------------
# Options

command_line="bench/run.sh"
for a in "$@"; do
	if [[ $a =~ ^[A-Za-z0-9_./,=:+@%-]+$ ]]; then
		command_line+=" $a"
	else
		command_line+=" $(printf '%q' "$a")"
	fi
done

# The anchor targets run the reference servers of AVATAR_API_ANCHORS; the
# base-* targets the binary of AVATAR_API_BASELINE.
ANCHOR_TARGETS="rawrelay-pinned hyper-relay-pinned hyper-chain-whole"
BASE_TARGETS="base-epoll-pinned base-tpc-pinned base-gzip-pinned base-relay-pinned"
BASE_TARGETS+=" base-relay-tpc-pinned base-chain-whole"
ALL_TARGETS="epoll-pinned tpc-pinned nginx-pinned gzip-pinned nginx-gzip-pinned"
ALL_TARGETS+=" epoll-whole nginx-whole epoll-10k"
ALL_TARGETS+=" relay-pinned relay-tpc-pinned nginx-relay-pinned"
ANCHORS=""
if [ -n "${AVATAR_API_ANCHORS:-}" ]; then
	ANCHORS=$(cd "$AVATAR_API_ANCHORS" 2>/dev/null && pwd) ||
		die "AVATAR_API_ANCHORS=$AVATAR_API_ANCHORS is no directory"
	ALL_TARGETS+=" rawrelay-pinned hyper-relay-pinned"
fi
ALL_TARGETS+=" chain-whole"
[ -z "$ANCHORS" ] || ALL_TARGETS+=" hyper-chain-whole"
ALL_TARGETS+=" accesslog-pinned"
if [ -n "${AVATAR_API_BASELINE:-}" ]; then
	ALL_TARGETS+=" $BASE_TARGETS"
fi
BIG_CONNS=10000
duration=10
rounds=3
conns=100
only=""
outdir=""

need_arg() {
	if [ $# -lt 2 ] || [ -z "$2" ]; then
		usage_error "$1 needs an argument"
	fi
}

positive() { # NAME VALUE
	case $2 in
	'' | *[!0-9]* | 0*) usage_error "$1: expected a positive integer, not '$2'" ;;
	esac
}

while [ $# -gt 0 ]; do
	case $1 in
	-d | -r | -c | -o | --only)
		need_arg "$@"
		case $1 in
		-d) duration=$2 ;;
		-r) rounds=$2 ;;
		-c) conns=$2 ;;
		-o) outdir=$2 ;;
		--only) only+=" ${2//,/ }" ;;
		esac
		shift 2
		;;
	--only=*)
		v=${1#--only=}
		only+=" ${v//,/ }"
		shift
		;;
	--quick)
		duration=2
		rounds=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "bench: unknown option '$1'" >&2
		usage >&2
		exit 64
		;;
	esac
done
positive -d "$duration"
positive -r "$rounds"
positive -c "$conns"

targets=""
if [ -n "${only// /}" ]; then
	for t in $only; do
		case " $ALL_TARGETS " in
		*" $t "*) ;;
		*)
			case " $ANCHOR_TARGETS " in *" $t "*)
				usage_error "--only: $t runs the reference servers (rawrelay," \
					"hyper-relay, hyper-m2): set AVATAR_API_ANCHORS=DIR, a folder" \
					"where they are built (../shared/anchors/setup.sh DIR)" ;;
			esac
			case " $BASE_TARGETS " in *" $t "*)
				usage_error "--only: $t runs an older build: set" \
					"AVATAR_API_BASELINE=FILE" ;;
			esac
			usage_error "--only: unknown target '$t' (known: $ALL_TARGETS)"
			;;
		esac
		case " $targets " in
		*" $t "*) ;;
		*) targets+=" $t" ;;
		esac
	done
	# Always in the order of the table.
	ordered=""
	for t in $ALL_TARGETS; do
		case " $targets " in *" $t "*) ordered+=" $t" ;; esac
	done
	targets=${ordered# }
else
	targets=$ALL_TARGETS
	if [ -z "$ANCHORS" ]; then
		note "AVATAR_API_ANCHORS is not set: skipping ${ANCHOR_TARGETS// /, }" \
			"(they need the reference servers built: see --help)"
	fi
fi

has_target() { # PATTERN: is a target matching it selected?
	local t
	for t in $targets; do
		# shellcheck disable=SC2254 # the pattern is meant to match
		case $t in $1) return 0 ;; esac
	done
	return 1
}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ -n "$outdir" ] || outdir=$ROOT/bench/results

# The reference servers, as built in AVATAR_API_ANCHORS.
RAWRELAY=$ANCHORS/rawrelay/rawrelay
HYPER_RELAY=$ANCHORS/hyper-relay/target/release/hyper-relay
HYPER_M2=$ANCHORS/hyper/target/release/anchor-hyper
need_anchor() { # TARGET FILE
	if has_target "$1" && [ ! -x "$2" ]; then
		die "$1: no executable $2 (AVATAR_API_ANCHORS=$ANCHORS); build the" \
			"anchors there (../shared/anchors/setup.sh DIR) or leave $1 out with --only"
	fi
}
need_anchor rawrelay-pinned "$RAWRELAY"
need_anchor hyper-relay-pinned "$HYPER_RELAY"
need_anchor hyper-chain-whole "$HYPER_RELAY"
need_anchor hyper-chain-whole "$HYPER_M2"

# ---------------------------------------------------------------------------
# Packages and build

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
	sudo_cmd=(sudo)
fi

apt_install() { # PACKAGE...
	command -v apt-get >/dev/null ||
		die "missing: $* (no apt-get here: install them by hand)"
	if [ ${#sudo_cmd[@]} -gt 0 ] && ! command -v sudo >/dev/null; then
		die "missing: $* (not root and no sudo: install them by hand)"
	fi
	note "installing:$(printf ' %s' "$@")"
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
		die "apt-get update failed"
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "$@" || die "apt-get install failed"
}

find_nginx() {
	command -v nginx 2>/dev/null ||
		{ [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } ||
		true
}

missing=()
# Tools, looked for as commands (a package may be unpacked but not
# configured, which is enough for the binary).
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v taskset >/dev/null || missing+=(util-linux)
if has_target 'nginx-*' && [ -z "$(find_nginx)" ]; then
	missing+=(nginx)
fi
# Build dependencies, as scripts/quickstart.sh installs them.
if [ -z "${AVATAR_API_BIN:-}" ] && command -v dpkg-query >/dev/null; then
	for p in build-essential autoconf automake pkg-config \
		libmicrohttpd-dev libjansson-dev zlib1g-dev check; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
fi
if [ ${#missing[@]} -gt 0 ]; then
	apt_install "${missing[@]}"
fi
if has_target '*-pinned' && ! taskset -c 0,1 true 2>/dev/null; then
	die "the pinned targets need CPUs 0 and 1 (server on 0, wrk on 1);" \
		"leave them out with --only"
fi
NGINX=""
if has_target 'nginx-*'; then
	NGINX=$(find_nginx)
	[ -n "$NGINX" ] || die "nginx is still missing after apt-get"
fi

if [ -n "${AVATAR_API_BIN:-}" ]; then
	BIN=$AVATAR_API_BIN
else
	jobs=$(nproc 2>/dev/null || echo 2)
	# The tree's own build, as in scripts/quickstart.sh; once configured,
	# make reruns autoconf and configure itself when they change.
	if [ ! -x configure ]; then
		autoreconf -fi >&2 || die "autoreconf failed"
	fi
	if [ ! -f Makefile ]; then
		./configure >&2 || die "configure failed"
	fi
	make -j"$jobs" >&2 || die "the build failed"
	BIN=$ROOT/src/avatar-api
fi
[ -x "$BIN" ] || die "no avatar-api binary at $BIN"
[ -z "${AVATAR_API_BASELINE:-}" ] || [ -x "$AVATAR_API_BASELINE" ] ||
	die "no avatar-api binary at AVATAR_API_BASELINE=$AVATAR_API_BASELINE"
DATA=$ROOT/data/users.json
[ -r "$DATA" ] || die "no fixture at $DATA"

# ---------------------------------------------------------------------------
# Limits: the 10000-connection target needs an open-file limit above
# 10000 for the server and for wrk (ulimit is per process, both inherit
# ours); --max-connections 20000 wants about 21000.

if has_target epoll-10k; then
	nofile=$(ulimit -n)
	if [ "$nofile" != unlimited ] && [ "$nofile" -lt 65536 ]; then
		ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	fi
	nofile=$(ulimit -n)
	if [ "$nofile" != unlimited ]; then
		if [ "$nofile" -lt $((BIG_CONNS + 1000)) ]; then
			die "the open-file limit is $nofile (hard limit $(ulimit -Hn)) and cannot be raised to" \
				"65536; epoll-10k needs at least $((BIG_CONNS + 1000)).  Raise the hard limit" \
				"(limits.conf, LimitNOFILE=, docker run --ulimit nofile=65536) or leave" \
				"epoll-10k out with --only"
		elif [ "$nofile" -lt 21000 ]; then
			note "the open-file limit is $nofile (hard limit $(ulimit -Hn)), below the ~21000" \
				"that --max-connections 20000 needs: avatar-api will lower its connection" \
				"limit to fit (a warning in its log); $BIG_CONNS connections still fit"
		fi
	fi
fi
nofile=$(ulimit -n)
[ "$nofile" = unlimited ] && nofile=1048576

# ---------------------------------------------------------------------------
# Scratch directory, results, clean-up

RUN=$(mktemp -d "${TMPDIR:-/tmp}/avatar-bench.XXXXXX")
stamp=$(date +%Y%m%d-%H%M%S)
RESULTS=$outdir/$stamp
mkdir -p "$RESULTS" || die "cannot create $RESULTS"
TSV=$RESULTS/runs.tsv

SRV_PID=""  # the server running now (nginx: the master)
SRV_PIDS="" # it and its children (nginx's workers)
M2_PID=""   # the chain targets' second tier, started with their server
M2_PORT=""
UP_PID=""   # the upstream of the relay targets
UP_PORT=""
BG_PID=""   # the mid-run /metrics probe of epoll-10k
WRK_PID=""  # wrk, while it runs

server_state() { # PID: its state letter, empty once it is reaped
	local line
	read -r line 2>/dev/null <"/proc/$1/stat" || return 0
	line=${line##*) }
	echo "${line%% *}"
}

wait_gone() { # PID TENTHS: wait until PID has exited (or is a zombie)
	local i=0 st
	while [ "$i" -lt "$2" ]; do
		st=$(server_state "$1")
		case $st in '' | Z | X) return 0 ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# Stop the server, then a chain's second tier: SIGTERM, then SIGKILL (to it
# and its children) after 10 s.  Sets stop_rc to the first non-zero exit
# status, 0 if none.  The anchors have no SIGTERM handler: for them
# (T_TERM_OK=1) death by SIGTERM (143) counts as a clean stop.
stop_server() {
	local p pid rc
	stop_rc=0
	for pid in "$SRV_PID" "$M2_PID"; do
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_gone "$pid" 100; then
			note "pid $pid did not stop within 10 s of SIGTERM: killing it"
			for p in $SRV_PIDS; do
				kill -KILL "$p" 2>/dev/null || true
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rc=0
		wait "$pid" 2>/dev/null || rc=$?
		[ "$rc" != 143 ] || [ "${T_TERM_OK:-0}" != 1 ] || rc=0
		[ "$stop_rc" != 0 ] || stop_rc=$rc
	done
	SRV_PID=""
	M2_PID=""
	SRV_PIDS=""
}

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	trap - EXIT INT TERM
	if [ -n "$WRK_PID" ]; then
		kill -TERM "$WRK_PID" 2>/dev/null || true
		wait "$WRK_PID" 2>/dev/null || true
	fi
	if [ -n "$BG_PID" ]; then
		kill "$BG_PID" 2>/dev/null || true
		wait "$BG_PID" 2>/dev/null || true
	fi
	stop_server || true
	if [ -n "$UP_PID" ]; then
		kill -TERM "$UP_PID" 2>/dev/null || true
		wait "$UP_PID" 2>/dev/null || true
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated"; exit 143' TERM

# ---------------------------------------------------------------------------
# Helpers

# A free TCP port on 127.0.0.1, below the ephemeral range (so that wrk's
# own client ports never take it): a random one that nothing answers on.
# A race with another program is caught by the server failing to start,
# and start_server then tries another port.
read -r eph_lo eph_hi </proc/sys/net/ipv4/ip_local_port_range || eph_lo=32768
if [ "$eph_lo" -gt 12000 ]; then
	port_lo=10000 port_hi=$((eph_lo - 1))
else
	port_lo=$((eph_hi + 1)) port_hi=65535
fi
pick_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((port_lo + (RANDOM * 32768 + RANDOM) % (port_hi - port_lo + 1)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
		: "$i"
	done
	die "found no free port in $port_lo-$port_hi"
}

http_code() { # URL
	curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true
}

# The pid and its direct children (nginx's workers), from the ppid field
# of /proc/*/stat.
proc_tree() { # PID
	local f line rest
	local -a fields
	echo "$1"
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		rest=${line##*) }
		read -r -a fields <<<"$rest"
		if [ "${fields[1]}" = "$1" ]; then
			echo "${line%% *}"
		fi
	done
}

# "TOTAL USER": utime+stime+cutime+cstime and utime+cutime alone, in clock
# ticks, summed over the pids: the whole thread group of each (threads that
# have exited included) and the children it has reaped.
cpu_ticks() { # PID...
	local p line rest total=0 user=0
	local -a f
	for p; do
		read -r line 2>/dev/null <"/proc/$p/stat" || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		total=$((total + f[11] + f[12] + f[13] + f[14]))
		user=$((user + f[11] + f[13]))
	done
	echo "$total $user"
}

peak_rss_kb() { # PID...: sum of VmHWM
	local p total=0 v
	for p; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || true)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

CLK_TCK=$(getconf CLK_TCK)

# Run wrk in the background and wait for it: a signal to this script then
# interrupts the wait and runs the trap at once.  (wrk catches SIGINT and
# exits 0, and bash does not run its own SIGINT trap after a foreground
# child that handled the signal itself.)
run_wrk() { # OUT WRK-COMMAND...: append wrk's output to OUT
	local out=$1 rc=0
	shift
	"$@" >>"$out" 2>&1 &
	WRK_PID=$!
	wait "$WRK_PID" || rc=$?
	WRK_PID=""
	return "$rc"
}

# ---------------------------------------------------------------------------
# Targets

# Sets T_NAME, T_KIND (avatar, nginx, rawrelay or hyper-relay), T_PIN (1:
# server on CPU 0, wrk on CPU 1), T_ARGS (avatar-api flags), T_WORKERS
# (nginx), T_WRK_T, T_CONNS, T_CONF (the nginx template), T_GZIP_STATIC (its
# gzip_static: on or off), T_AE (the Accept-Encoding wrk and curl send;
# empty: none), T_M2 (a chain's second tier, started with the server:
# avatar or hyper; empty: none), T_ENV (env arguments of an anchor),
# T_TERM_OK (1: an anchor, which SIGTERM kills), T_SAME_BODY (1: the body
# must be avatar-api's, byte for byte).
target_setup() { # KEY
	T_ARGS=()
	T_WORKERS=""
	T_CONF=nginx.conf
	T_GZIP_STATIC=off
	T_AE=""
	T_BIN=$BIN
	T_M2=""
	# tokio's default worker count unless the target sets one.
	T_ENV=(-u TOKIO_WORKER_THREADS)
	T_TERM_OK=0
	T_SAME_BODY=0
	case $1 in
	base-*)
		target_setup "${1#base-}"
		T_NAME="baseline: $T_NAME"
		T_BIN=$AVATAR_API_BASELINE
		;;
	epoll-pinned)
		T_NAME="avatar-api epoll 1 thread (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--threads 1)
		;;
	accesslog-pinned)
		T_NAME="avatar-api epoll 1 thread, access log (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--threads 1 --access-log "$RUN/access.log")
		;;
	tpc-pinned)
		T_NAME="avatar-api thread-per-connection (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--mode thread-per-connection)
		;;
	nginx-pinned)
		T_NAME="nginx (pinned, 1 worker)"
		T_KIND=nginx T_PIN=1 T_WRK_T=1 T_CONNS=$conns T_WORKERS=1
		;;
	gzip-pinned)
		T_NAME="avatar-api epoll 1 thread, gzip (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--threads 1)
		T_AE=gzip
		;;
	nginx-gzip-pinned)
		T_NAME="nginx gzip_static (pinned, 1 worker)"
		T_KIND=nginx T_PIN=1 T_WRK_T=1 T_CONNS=$conns T_WORKERS=1
		T_GZIP_STATIC=on T_AE=gzip
		;;
	epoll-whole)
		T_NAME="avatar-api epoll, whole machine"
		T_KIND=avatar T_PIN=0 T_WRK_T=2 T_CONNS=$conns
		;;
	nginx-whole)
		T_NAME="nginx, whole machine"
		T_KIND=nginx T_PIN=0 T_WRK_T=2 T_CONNS=$conns T_WORKERS=auto
		;;
	epoll-10k)
		T_NAME="avatar-api epoll, $BIG_CONNS connections"
		T_KIND=avatar T_PIN=0 T_WRK_T=2 T_CONNS=$BIG_CONNS
		T_ARGS=(--max-connections 20000)
		;;
	relay-pinned)
		T_NAME="avatar-api relay, epoll 1 thread (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--threads 1 --upstream "http://127.0.0.1:$UP_PORT/v1/user")
		T_SAME_BODY=1
		;;
	relay-tpc-pinned)
		T_NAME="avatar-api relay, thread-per-connection (pinned)"
		T_KIND=avatar T_PIN=1 T_WRK_T=1 T_CONNS=$conns
		T_ARGS=(--mode thread-per-connection
			--upstream "http://127.0.0.1:$UP_PORT/v1/user")
		T_SAME_BODY=1
		;;
	nginx-relay-pinned)
		T_NAME="nginx relay (pinned, 1 worker)"
		T_KIND=nginx T_PIN=1 T_WRK_T=1 T_CONNS=$conns T_WORKERS=1
		T_CONF=nginx-relay.conf
		;;
	rawrelay-pinned)
		T_NAME="rawrelay, the floor: 1 epoll loop (pinned)"
		T_KIND=rawrelay T_PIN=1 T_WRK_T=1 T_CONNS=$conns T_TERM_OK=1
		T_SAME_BODY=1
		;;
	hyper-relay-pinned)
		T_NAME="hyper-relay, 1 tokio worker (pinned)"
		T_KIND=hyper-relay T_PIN=1 T_WRK_T=1 T_CONNS=$conns T_TERM_OK=1
		T_SAME_BODY=1
		T_ENV=(TOKIO_WORKER_THREADS=1)
		;;
	chain-whole)
		T_NAME="chain avatar-api → avatar-api, whole machine"
		T_KIND=avatar T_PIN=0 T_WRK_T=2 T_CONNS=$conns T_M2=avatar
		T_SAME_BODY=1
		;;
	hyper-chain-whole)
		T_NAME="chain hyper-relay → hyper, whole machine"
		T_KIND=hyper-relay T_PIN=0 T_WRK_T=2 T_CONNS=$conns T_M2=hyper
		T_TERM_OK=1 T_SAME_BODY=1
		;;
	*) die "internal: unknown target $1" ;;
	esac
}

nginx_conf() { # PORT WORKERS: write RUN/nginx/nginx.conf
	local m wc nginx_v
	local -a drop=()
	rm -rf "$RUN/nginx"
	mkdir -p "$RUN/nginx/tmp"
	wc=$((T_CONNS * 2 + 64))
	[ "$wc" -ge 1024 ] || wc=1024
	# nginx only changes user when started as root.
	[ "$(id -u)" = 0 ] || drop+=(-e '/^user /d')
	nginx_v=$("$NGINX" -V 2>&1)
	for m in proxy fastcgi uwsgi scgi; do
		case $nginx_v in
		*"--without-http_${m}_module"*)
			drop+=(-e "/^[[:space:]]*${m}_temp_path /d")
			;;
		esac
	done
	sed -e "s|@RUN@|$RUN|g" \
		-e "s|@PORT@|$1|g" \
		-e "s|@WORKERS@|$2|g" \
		-e "s|@USER@|$(id -un)|g" \
		-e "s|@NOFILE@|$nofile|g" \
		-e "s|@WORKER_CONNECTIONS@|$wc|g" \
		-e "s|@UPSTREAM_PORT@|$UP_PORT|g" \
		-e "s|@GZIP_STATIC@|$T_GZIP_STATIC|g" \
		"${drop[@]}" \
		"$ROOT/bench/$T_CONF" >"$RUN/nginx/nginx.conf"
}

# Wait until PID answers 200 on URL, for 10 s at most; fails if it does not
# or if PID exits first.
wait_200() { # PID URL
	local i code=""
	for i in $(seq 1 100); do
		code=$(http_code "$2")
		[ "$code" = 200 ] && return 0
		case $(server_state "$1") in '' | Z | X) return 1 ;; esac
		sleep 0.1
		: "$i"
	done
	return 1
}

# Start the target's server on a free port, wait for 200 on /v1/user; for
# a chain, its second tier first, on another free port, serving /v1/avatar.
# Sets PORT, SRV_PID, SRV_PIDS (both tiers for a chain), M2_PORT, M2_PID.
# LOG: the output of both.
start_server() { # LOG
	local log=$1 try up=""
	# setsid: in a session of its own, the server does not get the
	# terminal's Ctrl-C; the trap stops it.  (A background job of a script
	# is no process group leader, so setsid execs in the same process, and
	# so do env and taskset: the pid is the server's.)
	local -a pin=(setsid) cmd
	[ "$T_PIN" = 1 ] && pin+=(taskset -c 0)
	for try in 1 2 3; do
		if [ -n "$T_M2" ]; then
			# The chain's second tier: unpinned, default threads.
			M2_PORT=$(pick_port)
			if [ "$T_M2" = avatar ]; then
				cmd=(setsid "$T_BIN" --data "$DATA" --address 127.0.0.1
					--port "$M2_PORT" --path /v1/avatar)
			else
				# hyper-m2, serving avatar-api's own body: every chain
				# relays the same bytes.
				cmd=(setsid env "${T_ENV[@]}" "$HYPER_M2" "$RUN/body.json" "$M2_PORT")
			fi
			echo "\$ ${cmd[*]}" >>"$log"
			"${cmd[@]}" >>"$log" 2>&1 &
			M2_PID=$!
			if ! wait_200 "$M2_PID" "http://127.0.0.1:$M2_PORT/v1/avatar"; then
				stop_server
				note "$T_NAME: its second tier did not answer 200 on port $M2_PORT" \
					"(exit $stop_rc; try $try): $(tail -n 2 "$log" | tr '\n' ' ')"
				continue
			fi
			up="http://127.0.0.1:$M2_PORT/v1/avatar"
		else
			up="http://127.0.0.1:$UP_PORT/v1/user"
		fi
		PORT=$(pick_port)
		case $T_KIND in
		avatar)
			cmd=("${pin[@]}" "$T_BIN" --data "$DATA" --address 127.0.0.1
				--port "$PORT" "${T_ARGS[@]}")
			[ -z "$T_M2" ] || cmd+=(--upstream "$up")
			;;
		nginx)
			nginx_conf "$PORT" "$T_WORKERS"
			cmd=("${pin[@]}" "$NGINX" -p "$RUN/nginx/" -c "$RUN/nginx/nginx.conf"
				-e "$RUN/nginx/error.log")
			;;
		rawrelay)
			# Single-threaded by design; the upstream in M2_URL, as in the
			# anchors' start.sh.
			cmd=("${pin[@]}" env "M2_URL=$up" "$RAWRELAY" "$PORT")
			;;
		hyper-relay)
			cmd=("${pin[@]}" env "${T_ENV[@]}" "M2_URL=$up" "$HYPER_RELAY" "$PORT")
			;;
		esac
		echo "\$ ${cmd[*]}" >>"$log"
		"${cmd[@]}" >>"$log" 2>&1 &
		SRV_PID=$!
		if wait_200 "$SRV_PID" "http://127.0.0.1:$PORT/v1/user"; then
			# nginx's workers are up once it answers.
			SRV_PIDS=$(proc_tree "$SRV_PID" | tr '\n' ' ')
			[ -z "$M2_PID" ] || SRV_PIDS+=$(proc_tree "$M2_PID" | tr '\n' ' ')
			return 0
		fi
		stop_server
		if [ "$T_KIND" = nginx ] && [ -f "$RUN/nginx/error.log" ]; then
			cat "$RUN/nginx/error.log" >>"$log"
		fi
		note "$T_NAME did not answer 200 on port $PORT (exit $stop_rc; try $try):" \
			"$(tail -n 2 "$log" | tr '\n' ' ')"
	done
	die "$T_NAME did not start; see $log"
}

# One measured run of target KEY in round R; appends a line to runs.tsv.
run_one() { # KEY R
	local key=$1 r=$2 base out log ticks0 ticks1 user0 user1 hwm rc status url p alive mid=""
	local sizes hbytes bbytes expect
	local -a wpin=() wrk ae=()
	target_setup "$key"
	base=$RESULTS/r$r-$key
	log=$base.server.log
	out=$base.wrk.txt
	start_server "$log"
	url="http://127.0.0.1:$PORT/v1/user"
	[ -z "$T_AE" ] || ae=(-H "Accept-Encoding: $T_AE")
	# One response to the request wrk sends: its headers to show, and its
	# size on the wire (curl's header bytes, status line and blank line
	# included, and its body bytes as received: no --compressed).
	sizes=$(curl -s "${ae[@]}" -D "$base.headers.txt" -o "$RUN/resp-body" \
		-w '%{size_header} %{size_download}' "$url") || die "curl $url failed"
	read -r hbytes bbytes <<<"$sizes"
	expect=$RUN/body.json
	[ -z "$T_AE" ] || expect=$RUN/body.json.gz
	if [ "$T_KIND" = nginx ] || [ "$T_SAME_BODY" = 1 ]; then
		# Same bytes as avatar-api.
		cmp -s "$RUN/resp-body" "$expect" ||
			die "$T_NAME: the body differs from avatar-api's ($base.headers.txt)"
	fi
	if [ -n "$T_AE" ] && [ "${key#base-}" = "$key" ] &&
		! grep -qi '^content-encoding: *gzip' "$base.headers.txt"; then
		die "$T_NAME: no Content-Encoding: gzip in the answer ($base.headers.txt);" \
			"leave the gzip targets out with --only"
	fi
	[ "$T_PIN" = 1 ] && wpin=(taskset -c 1)
	wrk=("${wpin[@]}" wrk "-t$T_WRK_T" "-c$T_CONNS" "${ae[@]}")

	# Warm-up, not counted.
	: >"$base.warmup.txt"
	run_wrk "$base.warmup.txt" "${wrk[@]}" -d1s "$url" || true

	if [ "$key" = epoll-10k ]; then
		# How many connections the server holds in the middle of the run.
		(
			sleep "$(awk -v d="$duration" 'BEGIN { print d / 2 }')"
			curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" |
				awk '$1 == "avatar_api_connections" { print $2 }'
		) >"$base.connections.txt" 2>/dev/null &
		BG_PID=$!
	fi
	# shellcheck disable=SC2086 # SRV_PIDS is a list
	read -r ticks0 user0 < <(cpu_ticks $SRV_PIDS)
	echo "\$ $(printf '%q ' "${wrk[@]}")-d${duration}s --latency $url" >"$out"
	rc=0
	run_wrk "$out" "${wrk[@]}" "-d${duration}s" --latency "$url" || rc=$?
	# shellcheck disable=SC2086
	read -r ticks1 user1 < <(cpu_ticks $SRV_PIDS)
	# shellcheck disable=SC2086
	hwm=$(peak_rss_kb $SRV_PIDS)
	alive=1
	for p in $SRV_PIDS; do
		case $(server_state "$p") in '' | Z | X) alive=0 ;; esac
	done
	if [ -n "$BG_PID" ]; then
		wait "$BG_PID" 2>/dev/null || true
		BG_PID=""
		mid=$(head -n 1 "$base.connections.txt")
	fi
	stop_server
	status=ok
	if [ "$rc" != 0 ]; then
		note "r$r $key: wrk exited $rc (see $out)"
		status="wrk-exit-$rc"
	fi
	if [ "$stop_rc" != 0 ]; then
		note "r$r $key: the server exited $stop_rc after SIGTERM (see $log)"
		status="server-exit-$stop_rc"
	fi
	if [ "$alive" = 0 ]; then
		note "r$r $key: the server (or a worker) died during the run (see $log)"
		status="server-died"
	fi
	if [ "$T_KIND" = nginx ] && [ -f "$RUN/nginx/error.log" ]; then
		cp "$RUN/nginx/error.log" "$base.nginx-error.log"
	fi
	# round key status rps p50_ms p99_ms requests cpu_us_per_req rss_kb
	# non2xx connect read write timeout connections_mid_run user_us_per_req
	# header_bytes body_bytes (curl's one response) wrk_bytes_per_req
	# (wrk's "read" total over its requests: 3 significant digits)
	awk -v r="$r" -v key="$key" -v st="$status" -v dt="$((ticks1 - ticks0))" \
		-v du="$((user1 - user0))" -v hb="$hbytes" -v bb="$bbytes" \
		-v hz="$CLK_TCK" -v hwm="$hwm" -v mid="${mid:--}" '
		function ms(v,   n, u) {
			n = v + 0
			u = v
			sub(/^[0-9.]+/, "", u)
			if (u == "us") return n / 1000
			if (u == "ms") return n
			if (u == "s") return n * 1000
			if (u == "m") return n * 60000
			if (u == "h") return n * 3600000
			return -1
		}
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		# wrk prints sizes in units of 1024: "1.20MB read".
		function bytes(v,   n, u) {
			n = v + 0
			u = v
			sub(/^[0-9.]+/, "", u)
			if (u == "B") return n
			if (u == "KB") return n * 1024
			if (u == "MB") return n * 1048576
			if (u == "GB") return n * 1073741824
			if (u == "TB") return n * 1099511627776
			return -1
		}
		/ requests in / { req = $1; rd_bytes = bytes($5) }
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx or 3xx responses:/ { non = $NF }
		/Socket errors:/ { gsub(/,/, ""); c = $4; rd = $6; w = $8; t = $10 }
		END {
			if (req == "" || rps == "") { st = (st == "ok" ? "no-wrk-result" : st) }
			cpu = req > 0 ? dt / hz * 1e6 / req : 0
			user = req > 0 ? du / hz * 1e6 / req : 0
			wb = req > 0 && rd_bytes >= 0 ? rd_bytes / req : -1
			printf "%s\t%s\t%s\t%.2f\t%.4f\t%.4f\t%d\t%.3f\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.3f\t%d\t%d\t%.0f\n",
				r, key, st, rps, p50, p99, req, cpu, hwm, non, c, rd, w, t, mid, user, hb, bb, wb
		}' "$out" >>"$TSV"
	if [ "$status" = ok ] && ! tail -n 1 "$TSV" | cut -f 3 | grep -qx ok; then
		note "r$r $key: no result in $out"
	fi
	printf 'bench: round %d/%d  %-44s %s\n' "$r" "$rounds" "$T_NAME" \
		"$(tail -n 1 "$TSV" | awk -F '\t' '{ printf "%s  %.0f req/s  p99 %.2f ms  %.2f us/req  %d B/resp", $3, $4, $6, $8, $17 + $18 }')" >&2
}

# ---------------------------------------------------------------------------
# The body nginx serves: avatar-api's own answer to GET /v1/user.

# nginx-gzip-pinned serves avatar-api's answer to the same request with
# "Accept-Encoding: gzip" (curl without --compressed: the gzip bytes
# themselves), so that both send the very same bytes; a build without gzip
# sends the identity body instead, and the .gz is then made with gzip -9 -n
# (zlib level 9, as avatar-api's --compression on).

target_setup epoll-whole
start_server "$RESULTS/body.server.log"
curl -s -D "$RESULTS/avatar-api.headers.txt" -o "$RUN/body.json" \
	"http://127.0.0.1:$PORT/v1/user" || die "cannot fetch /v1/user"
curl -s -H 'Accept-Encoding: gzip' -D "$RESULTS/avatar-api.gzip.headers.txt" \
	-o "$RUN/body.json.gz" "http://127.0.0.1:$PORT/v1/user" ||
	die "cannot fetch /v1/user with Accept-Encoding: gzip"
stop_server
[ "$stop_rc" = 0 ] || die "avatar-api exited $stop_rc after SIGTERM (see $RESULTS/body.server.log)"
[ -s "$RUN/body.json" ] || die "empty body from avatar-api"
if grep -qi '^content-encoding: *gzip' "$RESULTS/avatar-api.gzip.headers.txt"; then
	gzip -dc <"$RUN/body.json.gz" | cmp -s - "$RUN/body.json" ||
		die "avatar-api's gzip body does not decompress to its identity body" \
			"(see $RESULTS/avatar-api.gzip.headers.txt)"
	gz_source="avatar-api's own gzip body"
else
	gzip -9 -n -c "$RUN/body.json" >"$RUN/body.json.gz" || die "gzip failed"
	gz_source="gzip -9 -n of the identity body (this avatar-api sent no gzip)"
	! has_target nginx-gzip-pinned || note "nginx-gzip-pinned: $gz_source"
fi
cp "$RUN/body.json" "$RUN/body.json.gz" "$RESULTS/"

# ---------------------------------------------------------------------------
# The relay targets' upstream: avatar-api serving the fixture on CPU 1 (with
# wrk), one thread, started once for all their runs.

if has_target '*relay*'; then
	UP_PORT=$(pick_port)
	setsid taskset -c 1 "$BIN" --data "$DATA" --address 127.0.0.1 \
		--port "$UP_PORT" --threads 1 >"$RESULTS/upstream.log" 2>&1 &
	UP_PID=$!
	for i in $(seq 1 100); do
		[ "$(http_code "http://127.0.0.1:$UP_PORT/v1/user")" = 200 ] && break
		sleep 0.1
		: "$i"
	done
	[ "$(http_code "http://127.0.0.1:$UP_PORT/v1/user")" = 200 ] ||
		die "the relay targets' upstream did not start (see $RESULTS/upstream.log)"
fi
# Not "--help | grep -q": grep quitting at the first match can kill the
# writer with SIGPIPE, which pipefail turns into a failure.
bin_help=$("$BIN" --help) || die "$BIN --help failed"
if { has_target relay-pinned || has_target chain-whole; } &&
	[[ $bin_help != *--upstream* ]]; then
	die "this avatar-api has no relay mode (--upstream); leave relay-pinned and chain-whole out with --only"
fi

# ---------------------------------------------------------------------------
# Machine and versions, for the README.

cpu_model=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
machine="$(nproc) CPUs ($(nproc --all) present), ${cpu_model:-unknown CPU}, $(uname -sr)"
# "avatar-api 0.1.0 (libmicrohttpd 0.9.75, jansson 2.14)"
versions=$("$BIN" --version | awk 'NR == 1 { v = $0; next }
	{ l = l (l == "" ? "" : ", ") $0 }
	END { print v (l == "" ? "" : " (" l ")") }')
if [ -n "$NGINX" ]; then
	versions+="; $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
fi
# wrk -v exits 1.
versions+="; $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print "wrk " $2 }')"

{
	echo "Command: \`$command_line\`"
	echo "(-d $duration -r $rounds -c $conns; targets: $targets)"
	if has_target nginx-gzip-pinned; then
		echo "nginx-gzip-pinned serves: $gz_source ($(wc -c <"$RUN/body.json.gz") bytes; identity: $(wc -c <"$RUN/body.json") bytes)"
	fi
	echo "Machine: $machine"
	echo "Versions: $versions"
	if has_target 'rawrelay-*' || has_target 'hyper-*'; then
		echo "Anchors: $ANCHORS (rawrelay, hyper-relay, hyper-m2 = anchor-hyper)"
	fi
} >"$RESULTS/header.txt"
note "$machine; results in $RESULTS"

# ---------------------------------------------------------------------------
# The runs, interleaved.

printf 'round\ttarget\tstatus\trps\tp50_ms\tp99_ms\trequests\tcpu_us_per_req\tpeak_rss_kb\tnon2xx\tconnect\tread\twrite\ttimeout\tconnections_mid_run\tuser_us_per_req\theader_bytes\tbody_bytes\twrk_bytes_per_req\n' >"$TSV"
for r in $(seq 1 "$rounds"); do
	for key in $targets; do
		run_one "$key" "$r"
		sleep 1
	done
done

# ---------------------------------------------------------------------------
# The table: medians over the rounds that went well.

values() { # KEY COLUMN: the values of the good runs, sorted
	awk -F '\t' -v k="$1" -v c="$2" 'NR > 1 && $2 == k && $3 == "ok" { print $c }' "$TSV" |
		sort -g
}
median() {
	awk '{ a[NR] = $1 } END {
		if (NR == 0) print "";
		else if (NR % 2) print a[(NR + 1) / 2];
		else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

failed=0
{
	cat "$RESULTS/header.txt"
	echo
	echo "| target | req/s (median) | req/s (min–max) | p50 latency | p99 latency | server CPU per request | of which user space | peak RSS | bytes per response (headers + body) | non-2xx | socket errors (connect/read/write/timeout) |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for key in $targets; do
		target_setup "$key"
		n=$(values "$key" 4 | wc -l)
		bad=$(awk -F '\t' -v k="$key" 'NR > 1 && $2 == k && $3 != "ok"' "$TSV" | wc -l)
		[ "$bad" = 0 ] || failed=1
		if [ "$n" = 0 ]; then
			echo "| $T_NAME | failed | | | | | | | | | |"
			continue
		fi
		rps=$(values "$key" 4 | median)
		lo=$(values "$key" 4 | head -n 1)
		hi=$(values "$key" 4 | tail -n 1)
		p50=$(values "$key" 5 | median)
		p99=$(values "$key" 6 | median)
		cpu=$(values "$key" 8 | median)
		user=$(values "$key" 16 | median)
		rss=$(values "$key" 9 | median)
		non=$(values "$key" 10 | median)
		sc=$(values "$key" 11 | median)
		sr=$(values "$key" 12 | median)
		sw=$(values "$key" 13 | median)
		st=$(values "$key" 14 | median)
		hb=$(values "$key" 17 | median)
		bb=$(values "$key" 18 | median)
		awk -v name="$T_NAME" -v rps="$rps" -v lo="$lo" -v hi="$hi" -v p50="$p50" \
			-v p99="$p99" -v cpu="$cpu" -v user="$user" -v rss="$rss" -v non="$non" \
			-v hb="$hb" -v bb="$bb" -v err="$sc/$sr/$sw/$st" 'BEGIN {
			printf "| %s | %.0f | %.0f–%.0f | %.2f ms | %.2f ms | %.2f µs | %.2f µs | %.1f MiB | %d (%d + %d) | %s | %s |\n",
				name, rps, lo, hi, p50, p99, cpu, user, rss / 1024, hb + bb, hb, bb, non, err }'
	done
	echo
	echo "Medians over $rounds round(s) of ${duration} s, after 1 s of warm-up; the targets ran interleaved."
	echo "Server CPU per request: utime+stime of the server (nginx: master and workers) from /proc/PID/stat over the wrk run, divided by the requests wrk completed; of which user space: utime alone (the rest is the kernel's work for the server: TCP, system calls)."
	if has_target '*relay*'; then
		echo "Relay targets (relay-pinned, relay-tpc-pinned, nginx-relay-pinned, rawrelay-pinned, hyper-relay-pinned): the relay's CPU alone; their shared upstream (avatar-api --threads 1, on CPU 1 with wrk) is not counted."
	fi
	if has_target '*chain*'; then
		echo "Chain targets (chain-whole, hyper-chain-whole): the CPU of both tiers, the relay's and its upstream's, per request; peak RSS is their sum too."
	fi
	echo "Peak RSS: VmHWM from /proc/PID/status (nginx: master plus workers)."
	echo "Bytes per response: one answer of the target to wrk's request (the gzip targets send Accept-Encoding: gzip), fetched with curl before the run: its header bytes (status line and blank line included) + its body bytes as sent; runs.tsv also has wrk's own average (read total / requests)."
	if has_target epoll-10k; then
		mids=$(awk -F '\t' 'NR > 1 && $2 == "epoll-10k" { printf "%s%s", sep, $15; sep = ", " }' "$TSV")
		echo "epoll-10k: open connections in the middle of each run (avatar_api_connections, incl. the probe's own): ${mids:-none}."
	fi
	if [ "$failed" = 1 ]; then
		echo
		echo "Failed runs (left out of the medians):"
		awk -F '\t' 'NR > 1 && $3 != "ok" { printf "- round %s, %s: %s\n", $1, $2, $3 }' "$TSV"
	fi
} >"$RESULTS/table.md"
ln -sfn "$stamp" "$outdir/latest" 2>/dev/null || true

echo
cat "$RESULTS/table.md"
echo
echo "Raw results: $RESULTS"
exit "$failed"
