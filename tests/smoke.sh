#!/bin/sh
# tests/smoke.sh [BASE_URL] -- smoke checks, with curl, against a running
# avatar-api serving the bundled data/users.json (default BASE_URL
# http://127.0.0.1:8080; the environment's BASE_URL is used when no
# argument is given).  Prints one PASS or FAIL line per check and exits 1
# when any check fails, 2 when it cannot run.
#
#   tests/smoke.sh
#   tests/smoke.sh http://127.0.0.1:3000
#
# Needs only curl, sed, awk and grep.  When jq is installed the list is also
# parsed as JSON by jq.  tests/smoke-run.sh runs it on the built server.
set -u

base=${1:-${BASE_URL:-http://127.0.0.1:8080}}
base=${base%/}
case $base in
http://*) ;;
*)
	echo "usage: $0 [http://HOST:PORT]" >&2
	exit 2
	;;
esac
if ! command -v curl >/dev/null 2>&1; then
	echo "smoke.sh: curl not found" >&2
	exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/avatar-api-smoke.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' HUP INT TERM

passed=0
failed=0
pass() {
	echo "PASS: $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
# check WHAT COMMAND...: PASS or FAIL by the command's status (its
# output is dropped).
check() {
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}

# fetch METHOD PATH [CURL_ARG...]: one request.  Sets $code (000 when the
# request failed); the headers, CR stripped, go to $tmp/h, the body to $tmp/b.
fetch() {
	method=$1
	path=$2
	shift 2
	rm -f "$tmp/h" "$tmp/b" "$tmp/h.raw"
	: >"$tmp/b"
	if [ "$method" = HEAD ]; then
		set -- --head "$@"
	else
		set -- -X "$method" "$@"
	fi
	code=$(curl -sS --max-time 5 -D "$tmp/h.raw" -o "$tmp/b" \
		-w '%{http_code}' "$@" "$base$path" 2>"$tmp/err") || code=000
	tr -d '\r' <"$tmp/h.raw" >"$tmp/h" 2>/dev/null || : >"$tmp/h"
	if [ "$code" = 000 ]; then
		echo "  curl: $(cat "$tmp/err")"
	fi
	if [ "$method" = HEAD ]; then
		: >"$tmp/b" # curl --head writes the headers as the output
	fi
}

# header NAME: the value of the last NAME header of the last fetch.
header() {
	awk -v name="$1" '
		BEGIN { name = tolower(name) ":" }
		tolower(substr($0, 1, length(name))) == name {
			v = substr($0, length(name) + 1)
			sub(/^[ \t]+/, "", v)
			sub(/[ \t]+$/, "", v)
			last = v
			found = 1
		}
		END { if (found) print last }' "$tmp/h"
}

# expect_status WHAT WANT: the status of the last fetch.
expect_status() {
	if [ "$code" = "$2" ]; then
		pass "$1: status $2"
	else
		fail "$1: status $code, expected $2"
	fi
}

# expect_header WHAT NAME VALUE: exact header value.
expect_header() {
	got=$(header "$2")
	if [ "$got" = "$3" ]; then
		pass "$1: $2: $3"
	else
		fail "$1: $2: '$got', expected '$3'"
	fi
}

# expect_body WHAT TEXT: exact body.
expect_body() {
	if [ "$(cat "$tmp/b")" = "$2" ] && [ "$(wc -c <"$tmp/b")" -eq "${#2}" ]; then
		pass "$1: body $2"
	else
		fail "$1: body '$(head -c 200 "$tmp/b")', expected '$2'"
	fi
}

# expect_length WHAT: Content-Length is the size of the body received.
expect_length() {
	len=$(header Content-Length)
	size=$(wc -c <"$tmp/b" | tr -d ' ')
	if [ -n "$len" ] && [ "$len" = "$size" ]; then
		pass "$1: Content-Length $len matches the body"
	else
		fail "$1: Content-Length '$len', body of $size bytes"
	fi
}

# ids: the "id" values of the body, space-separated.
ids() {
	grep -o '"id":"[^"]*"' "$tmp/b" | sed 's/^"id":"\(.*\)"$/\1/' |
		tr '\n' ' ' | sed 's/ $//'
}

echo "smoke: $base"
want_ids="1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"

# The list.
fetch GET /v1/user
expect_status "GET /v1/user" 200
expect_header "GET /v1/user" Content-Type application/json
expect_header "GET /v1/user" Engine C/libmicrohttpd
expect_header "GET /v1/user" Location /v1/user
date=$(header Date)
check "GET /v1/user: Date '$date' is an HTTP date" \
	expr "$date" : '[A-Z][a-z][a-z], [0-3][0-9] [A-Z][a-z][a-z] [0-9][0-9][0-9][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT$'
expect_length "GET /v1/user"
list_length=$(header Content-Length)
got_ids=$(ids)
body_shape=$(head -c 2 "$tmp/b")$(tail -c 2 "$tmp/b")
if [ "$body_shape" = '[{}]' ] && [ "$got_ids" = "$want_ids" ] &&
	[ "$(grep -o '"name":"' "$tmp/b" | wc -l)" -eq 20 ]; then
	pass "GET /v1/user: a JSON array of the 20 records, ids 1..20 in order"
else
	fail "GET /v1/user: expected [{...}] with ids 1..20 in order, got '$body_shape' with ids '$got_ids'"
fi
if command -v jq >/dev/null 2>&1; then
	check "GET /v1/user: jq parses it: 20 objects with string id, name, avatar, createdAt" \
		jq -e 'type == "array" and length == 20 and
			([.[].id] == [range(1; 21) | tostring]) and
			all(.[]; (.name | type) == "string" and (.avatar | type) == "string"
				and (.createdAt | type) == "string")' "$tmp/b"
fi
cp "$tmp/b" "$tmp/list"

# One record.
fetch GET /v1/user/7
expect_status "GET /v1/user/7" 200
expect_header "GET /v1/user/7" Content-Type application/json
expect_header "GET /v1/user/7" Engine C/libmicrohttpd
expect_header "GET /v1/user/7" Location /v1/user/7
expect_length "GET /v1/user/7"
record=$(cat "$tmp/b")
if [ "$(ids)" = 7 ] && [ "$(head -c 1 "$tmp/b")$(tail -c 1 "$tmp/b")" = '{}' ] &&
	grep -qF "$record" "$tmp/list"; then
	pass "GET /v1/user/7: the record with id 7, as in the list"
else
	fail "GET /v1/user/7: body '$(head -c 200 "$tmp/b")'"
fi

# HEAD: same status and headers, no body.  curl -v reports bytes after a
# HEAD answer as "Excess found"; and a GET on the same connection must then
# get the whole list intact.
fetch HEAD /v1/user
expect_status "HEAD /v1/user" 200
expect_header "HEAD /v1/user" Content-Type application/json
expect_header "HEAD /v1/user" Content-Length "$list_length"
out=$(curl -v -sS --max-time 5 --head "$base/v1/user" -o /dev/null \
	--next -v -sS --max-time 5 "$base/v1/user" -o "$tmp/b" \
	-w '%{http_code} %{num_connects}' 2>"$tmp/verbose")
if grep -q 'Excess found' "$tmp/verbose"; then
	fail "HEAD /v1/user: the answer has a body: $(grep 'Excess found' "$tmp/verbose")"
elif [ "$out" = "200 0" ] && cmp -s "$tmp/b" "$tmp/list"; then
	pass "HEAD /v1/user: no body (a GET on the same connection gets the whole list)"
else
	fail "HEAD /v1/user: the GET after it on the same connection: '$out' (want '200 0' and the list)"
fi

# Errors.
fetch GET /nope
expect_status "GET /nope" 404
expect_header "GET /nope" Content-Type application/json
expect_body "GET /nope" '{"error":"not found"}'
fetch GET /v1/user/999
expect_status "GET /v1/user/999" 404
expect_body "GET /v1/user/999" '{"error":"user not found"}'
fetch POST /v1/user -d ''
expect_status "POST /v1/user" 405
expect_header "POST /v1/user" Allow "GET, HEAD, OPTIONS"
expect_body "POST /v1/user" '{"error":"method not allowed"}'

# Validators, gzip, caching, OPTIONS.
fetch GET /v1/user
etag=$(header ETag)
case $etag in
'"'*'"') pass "GET /v1/user: ETag $etag" ;;
*) fail "GET /v1/user: ETag '$etag', expected a quoted strong tag" ;;
esac
expect_header "GET /v1/user" Cache-Control no-cache
expect_header "GET /v1/user" Vary Accept-Encoding
fetch GET /v1/user -H "If-None-Match: $etag"
expect_status "GET /v1/user, If-None-Match: its ETag" 304
expect_header "GET /v1/user, If-None-Match: its ETag" ETag "$etag"
fetch GET /v1/user -H 'If-Match: "stale"'
expect_status "GET /v1/user, If-Match: another tag" 412
expect_header "GET /v1/user, If-Match: another tag" Cache-Control no-store
fetch GET /v1/user -H 'Accept-Encoding: gzip'
expect_status "GET /v1/user, Accept-Encoding: gzip" 200
expect_header "GET /v1/user, Accept-Encoding: gzip" Content-Encoding gzip
expect_length "GET /v1/user, Accept-Encoding: gzip"
if command -v gzip >/dev/null && gzip -dc <"$tmp/b" >"$tmp/b.json" 2>/dev/null &&
	[ "$(head -c 1 "$tmp/b.json")" = "[" ]; then
	pass "GET /v1/user, Accept-Encoding: gzip: the body inflates to the list"
else
	fail "GET /v1/user, Accept-Encoding: gzip: the body does not inflate to the list"
fi
fetch OPTIONS /v1/user
expect_status "OPTIONS /v1/user" 204
expect_header "OPTIONS /v1/user" Allow "GET, HEAD, OPTIONS"

# Health.
fetch GET /healthz
expect_status "GET /healthz" 200
expect_header "GET /healthz" Content-Type application/json
expect_body "GET /healthz" '{"status":"ok"}'
fetch HEAD /healthz
expect_status "HEAD /healthz" 200
fetch POST /healthz -d ''
expect_status "POST /healthz" 405
expect_header "POST /healthz" Allow "GET, HEAD, OPTIONS"

# Metrics, in Prometheus text format 0.0.4.
fetch GET /metrics
expect_status "GET /metrics" 200
expect_header "GET /metrics" Content-Type "text/plain; version=0.0.4; charset=utf-8"
m=$tmp/b
missing=""
for family in avatar_api_requests_total avatar_api_connections \
	avatar_api_users avatar_api_reloads_total \
	avatar_api_last_reload_success_timestamp_seconds avatar_api_build_info; do
	if ! grep -q "^# TYPE $family " "$m" || ! grep -q "^${family}[{ ]" "$m"; then
		missing="$missing $family"
	fi
done
if [ -z "$missing" ]; then
	pass "GET /metrics: all six metric families, each with # TYPE and a sample"
else
	fail "GET /metrics: missing or without # TYPE:$missing"
fi
bad=$(grep -v -e '^#' -e '^$' "$m" | grep -v -E \
	'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|[-+]Inf|NaN)( -?[0-9]+)?$' |
	head -n 3)
if [ -z "$bad" ] && [ -s "$m" ]; then
	pass "GET /metrics: every sample line is well formed"
else
	fail "GET /metrics: malformed lines: $bad"
fi
# We sent at least one GET /v1/user (200) and one GET /nope (404).
counter() {
	grep "^avatar_api_requests_total{" "$m" | grep "route=\"$1\"" |
		grep "status=\"$2\"" | awk '{ print $NF }' | head -n 1
}
for rs in list:200 other:404; do
	v=$(counter "${rs%:*}" "${rs#*:}")
	if [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v >= 1) }'; then
		pass "GET /metrics: avatar_api_requests_total{route=\"${rs%:*}\",status=\"${rs#*:}\"} $v"
	else
		fail "GET /metrics: avatar_api_requests_total{route=\"${rs%:*}\",status=\"${rs#*:}\"} is '$v', expected >= 1"
	fi
done
users=$(grep '^avatar_api_users ' "$m" | awk '{ print $2 }')
check "GET /metrics: avatar_api_users is 20 (got '$users')" [ "$users" = 20 ]
check "GET /metrics: avatar_api_build_info{version=...,libmicrohttpd=...,jansson=...} 1" \
	grep -Eq '^avatar_api_build_info\{.*version="[^"]+".*\} 1$' "$m"
for label in libmicrohttpd jansson; do
	check "GET /metrics: avatar_api_build_info has a $label label" \
		grep -Eq "^avatar_api_build_info\{.*$label=\"[^\"]+\"" "$m"
done

if [ "$failed" -eq 0 ]; then
	echo "smoke: all $passed checks pass"
	exit 0
fi
echo "smoke: $failed of $((passed + failed)) checks failed"
exit 1
