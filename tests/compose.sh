#!/bin/sh
# tests/compose.sh -- bring docker-compose.yaml's two tiers up for real
# with podman-compose, and check them: the image builds from the
# Dockerfile, both containers get healthy, m2 serves the fixture on
# /v1/avatar, m1 relays it on /v1/user byte for byte, m1 answers 502
# (and stays healthy) while m2 is stopped and 200 again once it is back,
# the hardening reached the containers; then everything is removed.
#
# The compose file is used as it is, except for three things in a copy:
# the build context (this source tree), the image tag (unique, removed at
# the end) and the published ports (free ports on 127.0.0.1 instead of
# 8080 and 3000, so that it runs beside other servers).
#
# "make compose-check" runs it; make check does not (it builds an image,
# a few minutes, and needs the relay mode).  Skipped (77), saying why,
# without podman, podman-compose (Debian packages podman,
# podman-compose), curl, PyYAML or a local debian:bookworm image: the
# Dockerfile's base images must be in podman's storage, or pullable.
# Environment: PODMAN_ARGS, podman's global flags (default:
# --cgroup-manager cgroupfs when systemd is not running); PODMAN_ULIMITS,
# the --ulimit flags for the build and the containers (see below).
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
. "$top_srcdir/tests/deploy-lib.sh"
body=$top_srcdir/tests/data/users.body.json

missing=""
for t in podman podman-compose curl; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
python=$(yaml_python)
[ -n "$python" ] || missing="$missing python3-yaml"
if [ -n "$missing" ]; then
	echo "SKIP: missing:$missing (Debian packages podman podman-compose curl python3-yaml)"
	exit 77
fi
if [ -z "${PODMAN_ARGS+set}" ]; then
	PODMAN_ARGS=""
	[ -d /run/systemd/system ] || PODMAN_ARGS="--cgroup-manager cgroupfs"
fi
# shellcheck disable=SC2086 # PODMAN_ARGS is a list of flags
pm() { podman $PODMAN_ARGS "$@"; }
for base in debian:bookworm debian:bookworm-slim; do
	if ! pm image exists "$base"; then
		echo "SKIP: podman has no $base image (the Dockerfile's base) and this test pulls nothing: pull or import one first"
		exit 77
	fi
done

# podman's default open-file and process limits can exceed what it may
# set here (runc then fails with "error setting rlimits"): the open-file
# hard limit we run under, and 4096 processes (65536 failed here).
nofile=$(awk 'index($0, "Max open files") == 1 { print $(NF - 1) }' /proc/self/limits)
case $nofile in
'' | unlimited) nofile=65536 ;;
esac
ulimits=${PODMAN_ULIMITS:-"--ulimit nofile=$nofile:$nofile --ulimit nproc=4096:4096"}
# pc ARGS: podman-compose on the copy, as project $project.
pc() {
	podman-compose -p "$project" -f "$tmp/docker-compose.yaml" \
		--podman-args "$PODMAN_ARGS" \
		--podman-build-args "--format docker --network host $ulimits" \
		--podman-run-args "$ulimits" "$@"
}

project=avatar-api-check-$$
image=localhost/avatar-api:compose-check-$$
deploy_setup compose.sh
# shellcheck disable=SC2317 # run by the EXIT trap
deploy_cleanup() {
	pc down >"$tmp/down.log" 2>&1
	pm ps -aq --filter "label=io.podman.compose.project=$project" |
		while read -r id; do pm rm -f "$id" >/dev/null 2>&1; done
	pm network rm -f "${project}_default" >/dev/null 2>&1
	pm rmi -f "$image" >/dev/null 2>&1
}

# Two free loopback ports, for m1 and m2.
ports=$("$python" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
p1=${ports% *}
p2=${ports#* }

# The copy: the same services, built from this tree, published on $p1/$p2.
"$python" - "$top_srcdir/docker-compose.yaml" "$tmp/docker-compose.yaml" \
	"$top_srcdir" "$image" "$p1" "$p2" <<'EOF' || exit 99
import sys
import yaml
src, dst, top, image, p1, p2 = sys.argv[1:]
doc = yaml.safe_load(open(src))
doc = {"services": doc["services"]}  # merge keys resolved, x- dropped
for name, port, target in (("m1", p1, 8080), ("m2", p2, 3000)):
    svc = doc["services"][name]
    svc["build"]["context"] = top
    svc["image"] = image
    svc["ports"] = [f"127.0.0.1:{port}:{target}"]
yaml.safe_dump(doc, open(dst, "w"))
EOF

echo "podman-compose $(podman-compose version 2>/dev/null | sed -n 's/.*podman-compose version *//p' | head -n 1), podman $(podman --version | sed 's/.* //')"
echo "project $project: m1 on 127.0.0.1:$p1, m2 on 127.0.0.1:$p2"

# HTTP GET: get URL writes the body to $tmp/got and prints the status.
get() {
	curl -s -m 5 -o "$tmp/got" -D "$tmp/headers" -w '%{http_code}' "$1"
}
# healthy SERVICE: wait up to 30 s for its HEALTHCHECK to pass (podman
# runs health checks from systemd timers: without systemd, run it here).
healthy() {
	i=0
	while [ $i -lt 60 ]; do
		pm healthcheck run "${project}_$1_1" >/dev/null 2>&1 && return 0
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}
# ask URL STATUS WHAT: GET URL must answer STATUS (waits up to 10 s).
ask() {
	i=0
	while [ $i -lt 20 ]; do
		code=$(get "$1")
		[ "$code" = "$2" ] && break
		sleep 0.5
		i=$((i + 1))
	done
	if [ "$code" = "$2" ]; then
		pass "$3: GET $1 -> $code"
		return 0
	fi
	fail "$3: GET $1 -> $code, expected $2"
	return 1
}

start=$(date +%s)
pc build m2 >"$tmp/build.log" 2>&1
if pm image exists "$image"; then
	pass "the image builds from the Dockerfile ($(($(date +%s) - start)) s)"
else
	tail -n 30 "$tmp/build.log" | sed 's/^/  | /'
	fail "the image does not build"
	finish
fi
pc up -d >"$tmp/up.log" 2>&1
for s in m2 m1; do
	if healthy "$s"; then
		pass "$s is healthy (avatar-api --healthcheck)"
	else
		grep -i -B 2 -A 2 error "$tmp/up.log" | tail -n 20 | sed 's/^/  | /'
		pm logs "${project}_${s}_1" 2>&1 | tail -n 5 | sed 's/^/  | /'
		fail "$s does not get healthy"
	fi
done
[ "$fails" -eq 0 ] || finish

if ask "http://127.0.0.1:$p2/v1/avatar" 200 "m2" && cmp -s "$tmp/got" "$body"; then
	pass "m2: the body is the fixture ($(wc -c <"$tmp/got") bytes)"
else
	fail "m2: the body is not tests/data/users.body.json"
fi
ask "http://127.0.0.1:$p2/v1/user" 404 "m2 (its list is on /v1/avatar only)"
if ask "http://127.0.0.1:$p1/v1/user" 200 "m1" && cmp -s "$tmp/got" "$body"; then
	pass "m1: the body is the fixture, byte for byte"
else
	fail "m1: the body is not tests/data/users.body.json"
fi
if grep -qi '^content-type: application/json' "$tmp/headers" &&
	grep -qi '^engine: ' "$tmp/headers"; then
	pass "m1: its own Content-Type and Engine headers"
else
	sed 's/^/  | /' "$tmp/headers"
	fail "m1: headers"
fi

# The hardening, as the containers got it.
for s in m1 m2; do
	got=$(pm inspect --format '{{.Config.User}} ro={{.HostConfig.ReadonlyRootfs}} caps={{len .EffectiveCaps}} mem={{.HostConfig.Memory}} cpus={{.HostConfig.NanoCpus}} sec={{.HostConfig.SecurityOpt}}' "${project}_${s}_1" 2>&1)
	case $got in
	65532*' ro=true caps=0 mem=134217728 cpus=1000000000 sec='*no-new-privileges*)
		pass "$s: user, read-only root, no capabilities, limits: $got"
		;;
	*) fail "$s: hardening not applied ($got)" ;;
	esac
done

# m1 relays: with m2 stopped it must answer 502 and stay healthy.
pm stop -t 10 "${project}_m2_1" >/dev/null 2>&1
ask "http://127.0.0.1:$p1/v1/user" 502 "m1 with m2 stopped (relays, does not serve its own copy)"
if pm healthcheck run "${project}_m1_1" >/dev/null 2>&1; then
	pass "m1 stays healthy while m2 is down (/healthz is local)"
else
	fail "m1 reports unhealthy while m2 is down"
fi
pm start "${project}_m2_1" >/dev/null 2>&1
if healthy m2 && ask "http://127.0.0.1:$p1/v1/user" 200 "m1 once m2 is back" &&
	cmp -s "$tmp/got" "$body"; then
	pass "m1: the fixture again once m2 is back"
else
	fail "m1 does not recover once m2 is back"
fi

pc down >"$tmp/down.log" 2>&1
left=$(pm ps -aq --filter "label=io.podman.compose.project=$project" | wc -l)
if [ "$left" -eq 0 ]; then
	pass "podman-compose down removes both containers"
else
	fail "podman-compose down left $left container(s)"
fi
finish
