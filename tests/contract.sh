#!/bin/sh
# tests/contract.sh -- the built server against doc/openapi.yaml, live:
# tests/contract.py starts avatar-api on free loopback ports (epoll,
# thread-per-connection, relay mode in front of the first, CORS with an
# admin port, relay to a closed port and to an upstream that never
# answers, a connection limit of 1), sends every documented operation and
# checks each answer against the document (status, required headers,
# header and body schemas, media type), then that every operation and
# status of the document was exercised.
#
# Skipped (77) without a python3 that has PyYAML and jsonschema (Debian
# packages python3-yaml and python3-jsonschema).  Run by "make check", or
# by hand from the source tree:
#   AVATAR_API_BIN=src/avatar-api sh tests/contract.sh
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
bin=${AVATAR_API_BIN:-$top_srcdir/src/avatar-api}
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
if [ ! -x "$bin" ]; then
	echo "ERROR: $bin is not built"
	exit 99
fi

# A python3 with both modules (Draft202012Validator: jsonschema 4.0 and
# later; Debian 12 has 4.10).
python=""
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import yaml; from jsonschema import Draft202012Validator' \
		>/dev/null 2>&1; then
		python=$p
		break
	fi
done
if [ -z "$python" ]; then
	echo "SKIP: no python3 with PyYAML and jsonschema 4 (Debian packages" \
		"python3-yaml and python3-jsonschema), cannot check the server" \
		"against doc/openapi.yaml"
	exit 77
fi
echo "python: $python, jsonschema $("$python" -c \
	'from importlib.metadata import version; print(version("jsonschema"))' \
	2>/dev/null || echo '?')"

exec "$python" "$top_srcdir/tests/contract.py" --bin "$bin" \
	--fixture "$fixture" --doc "$top_srcdir/doc/openapi.yaml" \
	--tmpdir "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}"
