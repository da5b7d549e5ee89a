#!/bin/sh
# tests/compose-config.sh -- check docker-compose.yaml offline, with no
# container engine: "docker-compose config -q" (Compose's own schema and
# interpolation; it contacts no engine) and tests/deploy_check.py (the two
# tiers' environment, published ports, health checks, depends_on,
# read_only, cap_drop, no-new-privileges, restart policy and limits).
# Broken copies must fail both.  tests/compose.sh brings the pair up for
# real ("make compose-check").
#
# Runs whichever of the two it has; skipped (77) with neither
# docker-compose (Debian package docker-compose) nor PyYAML (python3-yaml).
# Run by "make check", or by hand from the source tree:
# sh tests/compose-config.sh
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
file=$top_srcdir/docker-compose.yaml
checker=$top_srcdir/tests/deploy_check.py
. "$top_srcdir/tests/deploy-lib.sh"

compose=""
if command -v docker-compose >/dev/null 2>&1; then
	compose=docker-compose
elif docker compose version >/dev/null 2>&1; then
	compose="docker compose"
fi
python=$(yaml_python)
if [ -z "$compose" ] && [ -z "$python" ]; then
	echo "SKIP: neither docker-compose (Debian package docker-compose) nor python3 with PyYAML (python3-yaml): cannot check docker-compose.yaml"
	exit 77
fi

deploy_setup compose-config.sh


# compose_ok FILE: Compose's own check of FILE; its messages in
# $tmp/compose.out.  No engine is contacted, whatever DOCKER_HOST says.
compose_ok() {
	# shellcheck disable=SC2086 # "docker compose" is two words
	env -u DOCKER_HOST -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME \
		$compose -p avatar-api-check -f "$1" config -q >"$tmp/compose.out" 2>&1
}

# structure_ok FILE: deploy_check.py compose FILE; its lines in $tmp/check.out.
structure_ok() {
	"$python" "$checker" compose "$1" >"$tmp/check.out" 2>&1
}

if [ -n "$compose" ]; then
	echo "compose: $($compose version 2>/dev/null | head -n 1)"
	if compose_ok "$file"; then
		pass "$compose config -q accepts docker-compose.yaml"
	else
		sed 's/^/  /' "$tmp/compose.out"
		fail "$compose config -q rejects docker-compose.yaml"
	fi
else
	echo "NOT RUN: docker-compose config -q (no docker-compose; Debian package docker-compose)"
fi
if [ -n "$python" ]; then
	if structure_ok "$file"; then
		pass "deploy_check.py: $(grep -c '^PASS' "$tmp/check.out") checks of docker-compose.yaml"
	else
		grep -v '^PASS' "$tmp/check.out" | sed 's/^/  /'
		fail "deploy_check.py compose: $(grep -c '^FAIL' "$tmp/check.out") failed check(s)"
	fi
else
	echo "NOT RUN: deploy_check.py (no python3 with PyYAML; Debian package python3-yaml)"
fi

# The checks must catch broken copies.  broken WHAT SED-SCRIPT COMPOSE
# EXPECTED: docker-compose.yaml edited by SED-SCRIPT (in the source
# directory's place, so that "build: ." still resolves) must be rejected by
# Compose when COMPOSE is "rejects", and by deploy_check.py with a FAIL:
# line matching EXPECTED unless that is empty.
broken() {
	sed -e "$2" "$file" >"$tmp/docker-compose.yaml"
	if cmp -s "$file" "$tmp/docker-compose.yaml"; then
		fail "self-test ($1): the edit changed nothing"
		return
	fi
	if [ -n "$compose" ] && [ "$3" = rejects ]; then
		if compose_ok "$tmp/docker-compose.yaml"; then
			fail "self-test: $compose config -q accepts $1"
		else
			pass "self-test: $compose config -q rejects $1 ($(grep -v '^ *$' "$tmp/compose.out" | tail -n 1))"
		fi
	fi
	if [ -n "$python" ] && [ -n "$4" ]; then
		structure_ok "$tmp/docker-compose.yaml"
		status=$?
		if [ $status -eq 1 ] && grep -q "^FAIL: $4" "$tmp/check.out"; then
			pass "self-test: deploy_check.py catches $1 ($(grep "^FAIL: $4" "$tmp/check.out" | head -n 1))"
		else
			grep '^FAIL' "$tmp/check.out" | sed 's/^/  /'
			fail "self-test: deploy_check.py misses $1 (exit $status, no FAIL: $4)"
		fi
	fi
}
# Compose's schema: an unknown key, a bad condition, a bad CPU count.
broken "an unknown service key" 's/^  read_only: true/  read_only: true\n  readonly: true/' \
	rejects 'm2: no unknown service key'
broken "a wrong depends_on condition" 's/condition: service_healthy/condition: service_ready/' \
	rejects 'm1 depends_on m2 with condition service_healthy'
broken "cpus: lots" 's/cpus: "1.0"/cpus: "lots"/' rejects 'm1: CPU and memory limits'
# The structure: what Compose accepts but the two tiers need.
broken "restart: sometimes" 's/restart: unless-stopped/restart: sometimes/' \
	accepts 'm2: restart policy'
broken "a writable root" 's/^  read_only: true/  read_only: false/' \
	accepts 'm1: read_only: true'
broken "capabilities kept" '/^  cap_drop:/,/^    - ALL/d' \
	accepts 'm2: cap_drop: \[ALL\]'
broken "no health check" '/^  healthcheck:/,/^    retries: 3/d' \
	accepts 'm1: healthcheck runs avatar-api --healthcheck'
broken "m1 relaying to m2's 8080" 's/^      M2_PORT: "3000"/      M2_PORT: "8080"/' \
	accepts 'm1 relays to http://m2:3000/v1/avatar'
broken "m1 started before m2 is healthy" 's/condition: service_healthy/condition: service_started/' \
	accepts 'm1 depends_on m2 with condition service_healthy'

finish
