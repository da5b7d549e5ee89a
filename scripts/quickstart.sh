#!/bin/bash
# quickstart.sh -- set up a Debian/Ubuntu machine, build, then run or test.
#
#   scripts/quickstart.sh run [FLAG...]   build and serve data/users.json on :8080
#   scripts/quickstart.sh test            build and run the whole test suite
#
# Missing build dependencies are installed with apt-get (through sudo
# when not root).  Safe to run again: it only does what is missing.
set -eu

usage() {
	echo "usage: $0 run [avatar-api flags...] | test" >&2
	exit 64
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
run | test) ;;
*) usage ;;
esac

cd "$(dirname "$0")/.."

# Build and test dependencies (Debian 12 / Ubuntu package names): the
# compiler and autotools, the two libraries, Check; curl for the smoke
# checks, systemd-analyze and groff for the unit and man page checks.
packages="build-essential autoconf automake pkg-config libmicrohttpd-dev
libjansson-dev zlib1g-dev check curl systemd groff-base"

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null |
		grep -q "install ok installed"
}

missing=""
for p in $packages; do
	installed "$p" || missing="$missing $p"
done
# node and npm check the k6 scripts and lint the Dockerfile.  Any node will
# do (some machines have NodeSource's, which bundles npm): install
# Debian's only when there is none.
if [ "$cmd" = test ] && ! command -v node >/dev/null; then
	missing="$missing nodejs npm"
fi
# CI (.ci/run) also lints and builds with clang after the tests.
# docker-compose and python3-yaml check docker-compose.yaml offline.
if [ "$cmd" = test ]; then
	for p in cppcheck clang-tidy clang docker-compose python3-yaml; do
		installed "$p" || missing="$missing $p"
	done
fi
# promtool checks the /metrics text (tests/promtool.sh).  Debian ships it
# only in the prometheus package, which would also install, enable and
# start a Prometheus server (96 MB with its web console): take the one
# static binary out of the package into tests/tools instead.
want_promtool=""
if [ "$cmd" = test ] && ! command -v promtool >/dev/null &&
	[ ! -x tests/tools/promtool ]; then
	want_promtool=1
fi
# kubectl renders deploy/kubernetes (kubectl kustomize, no cluster).  Any
# kubectl will do: install Debian's only when there is none.
if [ "$cmd" = test ] && ! command -v kubectl >/dev/null; then
	missing="$missing kubernetes-client"
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
if [ -n "$missing$want_promtool" ]; then
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi
if [ -n "$missing" ]; then
	echo "quickstart: installing:$missing"
	# shellcheck disable=SC2086 # word splitting of the list is wanted
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends $missing
fi
if [ -n "$want_promtool" ]; then
	echo "quickstart: taking promtool out of Debian's prometheus package"
	dl=$(mktemp -d)
	chmod 755 "$dl" # apt downloads as the _apt user
	if (cd "$dl" && apt-get download -q prometheus) &&
		dpkg-deb -x "$dl"/prometheus_*.deb "$dl/root" &&
		mkdir -p tests/tools &&
		cp "$dl/root/usr/bin/promtool" tests/tools/promtool; then
		echo "quickstart: tests/tools/promtool"
	else
		echo "quickstart: no promtool; tests/promtool.sh will be skipped"
	fi
	rm -rf "$dl"
fi

jobs=$(nproc 2>/dev/null || echo 2)
# Once configured, make's own rules rerun autoconf and configure when
# configure.ac or Makefile.am change.
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$jobs"

case $cmd in
run)
	exec ./src/avatar-api --data data/users.json "$@"
	;;
test)
	status=0
	make -j"$jobs" check || status=$?
	# Check's own summary line for each suite (the harness keeps them in
	# the logs), then the failures' details if any.
	for log in tests/check_*.log; do
		printf '%s: %s\n' "$(basename "$log" .log)" \
			"$(grep -E '^[0-9]+%: Checks:' "$log" || echo 'no summary')"
	done
	if [ "$status" != 0 ]; then
		grep -hE ':[EF]:' tests/check_*.log || true
	fi
	exit "$status"
	;;
esac
