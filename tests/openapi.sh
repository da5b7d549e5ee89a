#!/bin/sh
# tests/openapi.sh -- validate doc/openapi.yaml against the official
# OpenAPI 3.1 schema, with @seriousme/openapi-schema-validator from npm
# (Debian 12 packages no OpenAPI 3.1 validator), and prove that the
# validator can fail: broken copies of the document (a response without
# its description, a $ref to nothing, a misspelt field, a parameter
# without "in", a status code that is none) must each be rejected.  Its
# info.version must be the package's.
# tests/contract.sh checks the document against the running server.
#
# The validator: $OPENAPI_VALIDATOR (a validate-api command) if set, else
# the one scripts/quickstart.sh test installs into tests/tools/openapi,
# else one installed on first use into the build tree (tests/tmp.npm-openapi,
# as tests/docker.sh does with dockerfile-utils).  Skipped (77) without
# node, or when it is nowhere and npm cannot install it.
# Run by "make check", or by hand from the source tree: sh tests/openapi.sh
set -u

# The package and the exact version used (scripts/quickstart.sh installs
# the same: keep the two in step).
pkg=@seriousme/openapi-schema-validator
version=2.11.0

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
builddir=${AVATAR_API_BUILDDIR:-$top_srcdir}
doc=$top_srcdir/doc/openapi.yaml
[ -f "$doc" ] || { echo "ERROR: $doc not found"; exit 99; }

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.openapi.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# has_version DIR: DIR (an npm prefix) holds $pkg@$version.
has_version() {
	grep -q "\"version\": *\"$version\"" \
		"$1/node_modules/$pkg/package.json" 2>/dev/null
}

validator=""
if [ -n "${OPENAPI_VALIDATOR:-}" ]; then
	validator=$OPENAPI_VALIDATOR
elif ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node not found (Debian package nodejs), cannot run $pkg"
	exit 77
elif has_version "$top_srcdir/tests/tools/openapi"; then
	validator=$top_srcdir/tests/tools/openapi/node_modules/.bin/validate-api
else
	cache=${AVATAR_API_TMPDIR:-$builddir/tests}/tmp.npm-openapi
	if ! has_version "$cache"; then
		if ! command -v npm >/dev/null 2>&1; then
			echo "SKIP: $pkg@$version not in tests/tools/openapi" \
				"(scripts/quickstart.sh test installs it) and no npm" \
				"(Debian package npm) to install it"
			exit 77
		fi
		echo "installing $pkg@$version into $cache"
		if ! npm install --prefix "$cache" --no-audit --no-fund \
			--no-package-lock --prefer-offline --loglevel=error \
			"$pkg@$version" >"$tmp/npm.log" 2>&1; then
			sed 's/^/  npm: /' "$tmp/npm.log" | tail -n 10
			echo "SKIP: npm install $pkg@$version failed"
			exit 77
		fi
	fi
	validator=$cache/node_modules/.bin/validate-api
fi
echo "validator: $validator ($pkg@$version)"

fails=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# validate FILE: the validator's verdict on FILE, its report in $tmp/out.
validate() {
	"$validator" "$1" >"$tmp/out" 2>&1
}

if validate "$doc"; then
	pass "doc/openapi.yaml is a valid OpenAPI 3.1 document"
else
	sed 's/^/  /' "$tmp/out" | head -n 60
	fail "doc/openapi.yaml is not a valid OpenAPI 3.1 document"
fi
case $(sed -n 's/^openapi: *//p' "$doc") in
3.1.*) pass "doc/openapi.yaml declares OpenAPI 3.1" ;;
*) fail "doc/openapi.yaml does not declare openapi: 3.1.x" ;;
esac
# info.version is the package's (make check exports AVATAR_API_VERSION).
if [ -n "${AVATAR_API_VERSION:-}" ]; then
	v=$(sed -n 's/^  version: *//p' "$doc" | head -n 1)
	if [ "$v" = "$AVATAR_API_VERSION" ]; then
		pass "info.version is the package's, $v"
	else
		fail "info.version is '$v', the package is $AVATAR_API_VERSION"
	fi
fi

# broken WHAT SED-SCRIPT: a copy of the document edited by SED-SCRIPT
# must change and be rejected.
broken() {
	sed -e "$2" "$doc" >"$tmp/broken.yaml"
	if cmp -s "$doc" "$tmp/broken.yaml"; then
		fail "self-test ($1): the edit changed nothing"
	elif validate "$tmp/broken.yaml"; then
		fail "self-test: the validator accepted a copy with $1"
	else
		pass "self-test: the validator rejects a copy with $1" \
			"($(grep -m 1 -o '"message": *"[^"]*"\|Can'"'"'t resolve [^"]*' \
				"$tmp/out" || echo 'rejected'))"
	fi
}

broken "a response without its description" \
	'/^      description: The process runs\.$/d'
broken "a \$ref to a schema that does not exist" \
	"s|#/components/schemas/AvatarRecord'|#/components/schemas/AvatarRecrod'|"
broken "a misspelt field (operationID)" \
	's/^      operationId: getHealthz$/      operationID: getHealthz/'
broken "a parameter without \"in\"" \
	'/^      in: path$/d'
broken "a status code that is none (2000)" \
	"s/^        '200':\$/        '2000':/"
broken "openapi: 3.1 spelt as a number" \
	's/^openapi: 3\.1\.0$/openapi: 3.1/'

if [ "$fails" -ne 0 ]; then
	echo "openapi.sh: $fails failure(s)"
	exit 1
fi
echo "openapi.sh: all checks pass"
