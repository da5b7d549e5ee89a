#!/bin/sh
# tests/docker.sh -- check the Dockerfile without a Docker engine:
#
#  1. the rules the image depends on: two Debian 12 stages, apt-get with
#     --no-install-recommends and its lists removed, no build tools in the
#     runtime stage, a USER that is not root, EXPOSE 8080, STOPSIGNAL
#     SIGTERM, exec-form ENTRYPOINT, HEALTHCHECK with --healthcheck;
#  2. "dockerfile-utils lint" (npm dockerfile-utils@0.16.3, installed into
#     the build tree on first use) when node and npm are there;
#  3. the build stage for real: its configure/make RUN commands, as written
#     in the Dockerfile, run on a copy of the tree made by "make distdir"
#     with .dockerignore applied, staging into a scratch /out; then the
#     runtime stage's view of the result: ENTRYPOINT and the default
#     fixture exist there, the runtime apt-get install provides the
#     binary's libraries, and HEALTHCHECK's command reports a running
#     server as healthy and a stopped one as not.
#
# The build stage runs "make check", which runs this test again: the
# nested run (AVATAR_API_IN_DOCKER_BUILD set, as the Dockerfile's build
# stage does too) skips itself.  Parts whose tools are missing are skipped
# with a reason; the test is skipped (77) when no part can run.
set -u

if [ -n "${AVATAR_API_IN_DOCKER_BUILD:-}" ]; then
	echo "SKIP: inside the Docker build stage's own make check (AVATAR_API_IN_DOCKER_BUILD is set)"
	exit 77
fi

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
builddir=${AVATAR_API_BUILDDIR:-$(pwd)}
dockerfile=$top_srcdir/Dockerfile
dockerignore=$top_srcdir/.dockerignore
dockerfile_utils_version=0.16.3

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.docker.XXXXXX") || exit 99
server=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -n "$server" ]; then
		kill -KILL "$server" 2>/dev/null
		wait "$server" 2>/dev/null
	fi
	chmod -R u+w "$tmp" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

passed=0
failed=0
skipped=0
pass() {
	echo "PASS: $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
skip() {
	echo "SKIP: $*"
	skipped=$((skipped + 1))
}

finish() {
	if [ "$failed" -ne 0 ]; then
		echo "docker.sh: $failed check(s) failed, $passed passed"
		exit 1
	fi
	if [ "$passed" -eq 0 ]; then
		exit 77
	fi
	echo "docker.sh: all $passed checks pass ($skipped part(s) skipped)"
	exit 0
}

if [ ! -f "$dockerfile" ]; then
	fail "no Dockerfile in $top_srcdir"
	finish
fi

# ---------------------------------------------------------------------------
# 1. Static checks, on the Dockerfile's instructions: one per line as
# "STAGE<TAB>INSTRUCTION ARGUMENTS", continuation lines joined and comments
# dropped (as Docker does, also inside a continuation).  STAGE counts FROMs.

awk '
	function flush() {
		if (cur != "") {
			print stage "\t" cur
			cur = ""
		}
	}
	/^[ \t]*#/ { next }
	/^[ \t]*$/ { next }
	{
		line = $0
		sub(/\r$/, "", line)
		cont = sub(/\\[ \t]*$/, "", line)
		if (cur == "") {
			sub(/^[ \t]+/, "", line)
			cur = line
		} else {
			cur = cur " " line
		}
		if (!cont) {
			gsub(/[ \t]+/, " ", cur)
			if (toupper(cur) ~ /^FROM /)
				stage++
			flush()
		}
	}
	END { flush() }' "$dockerfile" >"$tmp/instructions"

last_stage=$(awk -F '\t' 'END { print $1 + 0 }' "$tmp/instructions")
build_stage=$(awk -F '\t' 'toupper($2) ~ /^FROM .* AS BUILD$/ { print $1; exit }' "$tmp/instructions")

# instr STAGE NAME: the arguments of each NAME instruction of STAGE.
instr() {
	awk -F '\t' -v stage="$1" -v name="$2" '
		$1 == stage && toupper(substr($2, 1, length(name) + 1)) == name " " {
			print substr($2, length(name) + 2)
		}' "$tmp/instructions"
}

# RUN commands split into simple commands, one per line.
commands() {
	sed -e 's/&&/\n/g' -e 's/||/\n/g' -e 's/;/\n/g' -e 's/|/\n/g' |
		sed -e 's/^ *//' -e 's/ *$//'
}

from_build=$(instr "${build_stage:-0}" FROM)
from_run=$(instr "$last_stage" FROM)
if [ -n "$build_stage" ] && [ "$build_stage" != "$last_stage" ] &&
	[ "$from_build" = "debian:bookworm AS build" ]; then
	pass "build stage: FROM debian:bookworm AS build"
else
	fail "build stage: want 'FROM debian:bookworm AS build' before the last stage, got '$from_build'"
fi
if [ "$from_run" = "debian:bookworm-slim" ]; then
	pass "runtime stage: FROM debian:bookworm-slim"
else
	fail "runtime stage: want 'FROM debian:bookworm-slim', got '$from_run'"
fi

awk -F '\t' 'toupper($2) ~ /^RUN / { print substr($2, 5) }' "$tmp/instructions" |
	commands | grep -E '^(.* )?apt-get( .*)? install( |$)' >"$tmp/installs"
if [ ! -s "$tmp/installs" ]; then
	fail "no apt-get install at all"
elif grep -v -e '--no-install-recommends' "$tmp/installs" >"$tmp/bad"; then
	fail "apt-get install without --no-install-recommends: $(head -n 1 "$tmp/bad")"
else
	pass "every apt-get install ($(wc -l <"$tmp/installs" | tr -d ' ')) has --no-install-recommends"
fi
if grep -v -E -e ' -y( |$)' -e ' --yes( |$)' "$tmp/installs" >"$tmp/bad"; then
	fail "apt-get install without -y: $(head -n 1 "$tmp/bad")"
else
	pass "every apt-get install has -y"
fi
if awk -F '\t' 'toupper($2) ~ /^RUN / && /apt-get update/ && !/rm -rf \/var\/lib\/apt\/lists/' \
	"$tmp/instructions" | grep -q .; then
	fail "a RUN with apt-get update does not remove /var/lib/apt/lists"
else
	pass "each RUN with apt-get update removes /var/lib/apt/lists"
fi

instr "$last_stage" RUN | commands |
	grep -E '^(.* )?apt-get( .*)? install( |$)' >"$tmp/runtime-installs"
runtime_packages=$(sed -e 's/.* install //' "$tmp/runtime-installs" | tr ' ' '\n' |
	grep -v -e '^-' -e '^$' | sort -u | tr '\n' ' ' | sed 's/ $//')
if echo " $runtime_packages " | grep -q -E -- '-dev |build-essential|gcc|make|autoconf|automake|pkg-config| check '; then
	fail "runtime stage installs build tools or -dev packages: $runtime_packages"
else
	pass "runtime stage installs only: $runtime_packages"
fi

user=$(instr "$last_stage" USER | tail -n 1)
case ${user%%:*} in
"")
	fail "no USER in the runtime stage: the container would run as root"
	;;
root | 0)
	fail "USER $user: the container runs as root"
	;;
*)
	pass "runtime stage runs as USER $user"
	;;
esac

expose=$(instr "$last_stage" EXPOSE)
if echo " $expose " | grep -q -E ' 8080(/tcp)? '; then
	pass "EXPOSE $expose"
else
	fail "EXPOSE 8080 missing (got '$expose')"
fi

stopsignal=$(instr "$last_stage" STOPSIGNAL | tail -n 1)
if [ "$stopsignal" = SIGTERM ]; then
	pass "STOPSIGNAL SIGTERM"
else
	fail "STOPSIGNAL SIGTERM missing (got '$stopsignal')"
fi

# Exec form: a JSON array of strings.  Shell form runs under /bin/sh -c,
# which does not pass SIGTERM on to the server.
json_array='^\[ *"[^"]*"( *, *"[^"]*")* *\]$'
entrypoint=$(instr "$last_stage" ENTRYPOINT | tail -n 1)
entry_bin=$(echo "$entrypoint" | sed -n 's/^\[ *"\([^"]*\)".*/\1/p')
if echo "$entrypoint" | grep -q -E "$json_array" && [ "$entry_bin" = /usr/bin/avatar-api ]; then
	pass "exec-form ENTRYPOINT $entrypoint"
else
	fail "ENTRYPOINT must be exec form [\"/usr/bin/avatar-api\", ...], got '$entrypoint'"
fi
cmd=$(instr "$last_stage" CMD | tail -n 1)
if [ -n "$cmd" ] && ! echo "$cmd" | grep -q -E "$json_array"; then
	fail "CMD in shell form: $cmd"
fi

healthcheck=$(instr "$last_stage" HEALTHCHECK | tail -n 1)
health_cmd=$(echo "$healthcheck" | sed -n 's/^\(--[a-z-]*=[^ ]* \)*CMD //p')
if echo "$health_cmd" | grep -q -E '^\[ *"/usr/bin/avatar-api" *, *"--healthcheck" *\]$'; then
	pass "HEALTHCHECK ... CMD $health_cmd"
else
	fail "HEALTHCHECK must be CMD [\"/usr/bin/avatar-api\", \"--healthcheck\"], got '$healthcheck'"
fi

if instr "${build_stage:-0}" ENV | grep -q -E '(^| )AVATAR_API_IN_DOCKER_BUILD=1( |$)'; then
	pass "build stage sets AVATAR_API_IN_DOCKER_BUILD=1 (no nested rerun of this test)"
else
	fail "build stage lacks ENV AVATAR_API_IN_DOCKER_BUILD=1: its make check would rerun this test's build"
fi

# ---------------------------------------------------------------------------
# 2. dockerfile-utils lint: a failure on any error or warning.

lint_bin=""
if [ -n "${DOCKERFILE_UTILS:-}" ]; then
	lint_bin=$DOCKERFILE_UTILS
elif ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	skip "dockerfile-utils lint: node and npm not found (Debian packages nodejs and npm)"
else
	cache=${AVATAR_API_TMPDIR:-$builddir/tests}/tmp.npm
	lint_bin=$cache/node_modules/.bin/dockerfile-utils
	if ! grep -q "\"version\": *\"$dockerfile_utils_version\"" \
		"$cache/node_modules/dockerfile-utils/package.json" 2>/dev/null; then
		echo "installing dockerfile-utils@$dockerfile_utils_version into $cache"
		if ! npm install --prefix "$cache" --no-audit --no-fund --no-package-lock \
			--prefer-offline --loglevel=error \
			"dockerfile-utils@$dockerfile_utils_version" >"$tmp/npm.log" 2>&1; then
			sed 's/^/  npm: /' "$tmp/npm.log" | tail -n 10
			skip "dockerfile-utils lint: npm install failed"
			lint_bin=""
		fi
	fi
fi
if [ -n "$lint_bin" ]; then
	"$lint_bin" lint "$dockerfile" >"$tmp/lint.out" 2>&1
	status=$?
	if [ $status -eq 0 ] && [ ! -s "$tmp/lint.out" ]; then
		pass "dockerfile-utils lint Dockerfile: no errors or warnings"
	else
		sed 's/^/  /' "$tmp/lint.out"
		fail "dockerfile-utils lint Dockerfile: exit $status"
	fi
	# The linter must be able to fail.
	{
		cat "$dockerfile"
		echo "NOSUCHINSTRUCTION x"
	} >"$tmp/Dockerfile.broken"
	if "$lint_bin" lint "$tmp/Dockerfile.broken" >/dev/null 2>&1; then
		fail "self-test: dockerfile-utils passed a Dockerfile with an unknown instruction"
	else
		pass "self-test: dockerfile-utils rejects a broken copy"
	fi
fi

# ---------------------------------------------------------------------------
# 3. The build stage's commands, for real.

# The RUNs of the build stage that build: all but the apt-get ones.
instr "${build_stage:-0}" RUN | grep -v 'apt-get' >"$tmp/build-runs"
build_runs=$(cat "$tmp/build-runs")
missing_steps=""
for step in 'configure' 'make check' 'make install'; do
	echo "$build_runs" | grep -q -e "$step" || missing_steps="$missing_steps '$step'"
done
if [ -z "$build_runs" ] || [ -n "$missing_steps" ]; then
	fail "build stage: no RUN with$missing_steps"
	finish
fi
if ! echo "$build_runs" | grep -q 'DESTDIR=/out\( \|$\)'; then
	fail "build stage: make install must stage into DESTDIR=/out (the runtime stage copies from there)"
	finish
fi
copy_from=$(instr "$last_stage" COPY | grep -E '^--from=build ' | head -n 1)
copy_src=$(echo "$copy_from" | awk '{ print $2 }')
copy_dst=$(echo "$copy_from" | awk '{ print $3 }')
case $copy_src in
/out/*) ;;
*)
	fail "runtime stage: no 'COPY --from=build /out/... DEST' (got '$copy_from')"
	finish
	;;
esac

missing_tools=""
for t in make cc autoreconf pkg-config; do
	command -v "$t" >/dev/null 2>&1 || missing_tools="$missing_tools $t"
done
if [ ! -f "$builddir/Makefile" ]; then
	skip "build stage: no configured build tree at $builddir to run 'make distdir' in"
	finish
elif [ -n "$missing_tools" ]; then
	skip "build stage: missing$missing_tools (the image's build stage installs them)"
	finish
fi

# The build context: what "make distdir" ships (it works from a read-only
# srcdir without .git, as under distcheck), less what .dockerignore drops.
env -i PATH="$PATH" HOME="${HOME:-/}" make -C "$builddir" distdir \
	distdir="$tmp/src" >"$tmp/distdir.log" 2>&1
status=$?
if [ $status -ne 0 ]; then
	tail -n 20 "$tmp/distdir.log" | sed 's/^/  /'
	fail "make distdir for the build context: exit $status"
	finish
fi
chmod -R u+w "$tmp/src"

# .dockerignore patterns as Docker reads them: relative to the context,
# "*" and "?" stop at "/", "**" crosses directories, a match on a
# directory covers what is under it, "!" re-includes, the last match wins.
if [ -f "$dockerignore" ]; then
	(cd "$tmp/src" && find . ! -type d | sed 's|^\./||') >"$tmp/context-files"
	awk '
		function regex(p,    r, i, c, n) {
			sub(/^\/+/, "", p)
			sub(/^\.\//, "", p)
			sub(/\/+$/, "", p)
			r = ""
			n = length(p)
			for (i = 1; i <= n; i++) {
				c = substr(p, i, 1)
				if (c == "*" && substr(p, i + 1, 1) == "*") {
					if (substr(p, i + 2, 1) == "/") {
						r = r "(.*/)?"
						i += 2
					} else {
						r = r ".*"
						i++
					}
				} else if (c == "*") {
					r = r "[^/]*"
				} else if (c == "?") {
					r = r "[^/]"
				} else if (c == "[") {
					j = index(substr(p, i), "]")
					if (j > 0) {
						r = r substr(p, i, j)
						i += j - 1
					} else {
						r = r "\\["
					}
				} else if (index(".+()|^${}\\", c) > 0) {
					r = r "\\" c
				} else {
					r = r c
				}
			}
			return "^" r "(/.*)?$"
		}
		FNR == NR {
			sub(/\r$/, "")
			sub(/^[ \t]+/, "")
			sub(/[ \t]+$/, "")
			if ($0 == "" || substr($0, 1, 1) == "#")
				next
			n++
			neg[n] = substr($0, 1, 1) == "!"
			re[n] = regex(neg[n] ? substr($0, 2) : $0)
			next
		}
		{
			out = 0
			for (i = 1; i <= n; i++)
				if ($0 ~ re[i])
					out = !neg[i]
			if (out)
				print
		}' "$dockerignore" "$tmp/context-files" >"$tmp/ignored"
	(cd "$tmp/src" && while IFS= read -r f; do rm -f "./$f"; done) <"$tmp/ignored"
	pass ".dockerignore applied to the build context: $(wc -l <"$tmp/ignored" | tr -d ' ') of $(wc -l <"$tmp/context-files" | tr -d ' ') files dropped"
else
	skip ".dockerignore: none, the host's build output would go into the image"
fi

# The build stage's ENV, then its RUNs, as "/bin/sh -c" in WORKDIR (here
# the copy), with a clean environment as in a Docker build, and /out
# moved to a scratch directory.
out=$tmp/out
instr "$build_stage" ENV >"$tmp/build-env"
set -- PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8 AVATAR_API_IN_DOCKER_BUILD=1
while read -r line; do
	case $line in
	*=*)
		for kv in $line; do set -- "$@" "$kv"; done
		;;
	*' '*)
		set -- "$@" "${line%% *}=${line#* }"
		;;
	esac
done <"$tmp/build-env"
echo "build stage, in a copy of the tree ($tmp/src):"
start=$(date +%s)
run_status=0
while IFS= read -r run; do
	run=$(echo "$run" | sed "s#DESTDIR=/out\\( \\|\$\\)#DESTDIR=$out\\1#g")
	echo "  RUN $run"
	(cd "$tmp/src" && env -i "$@" /bin/sh -c "$run") >>"$tmp/build.log" 2>&1
	run_status=$?
	[ $run_status -eq 0 ] || break
done <"$tmp/build-runs"
elapsed=$(($(date +%s) - start))
summary=$(grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR): ' "$tmp/build.log" |
	sed 's/^# //' | tr -s ' \n' '  ' | sed 's/ $//')
echo "  its make check: ${summary:-no summary}"
if [ $run_status -eq 0 ]; then
	pass "build stage RUN (configure, make, make check, make install) in ${elapsed} s"
else
	echo "  last lines of the build log:"
	tail -n 40 "$tmp/build.log" | sed 's/^/  | /'
	fail "build stage RUN: exit $run_status after ${elapsed} s"
	finish
fi

# The runtime stage's view: image path IMAGE -> the staged file.
staged() {
	case $1 in
	"$copy_dst"*) echo "$out${copy_src#/out}${1#"$copy_dst"}" ;;
	*) echo "$out/NOT-COPIED$1" ;;
	esac
}
bin=$(staged /usr/bin/avatar-api)
if [ -x "$bin" ]; then
	pass "ENTRYPOINT /usr/bin/avatar-api is in the image (COPY --from=build $copy_src $copy_dst)"
else
	fail "ENTRYPOINT /usr/bin/avatar-api: not staged by make install and COPY --from=build $copy_src $copy_dst"
	finish
fi
default_data=$("$bin" --help 2>/dev/null | tr -s ' \n' '  ' | grep -o '/[^ ;)]*users\.json' | head -n 1)
if [ -n "$default_data" ] && [ -f "$(staged "$default_data")" ]; then
	pass "the default fixture $default_data is in the image"
else
	fail "the default fixture '$default_data' (from --help) is not in the image"
fi

# The binary's libraries must come from the runtime stage's apt-get
# install, or be part of bookworm-slim itself (libc6 and what apt needs).
base_packages="libc6 libgcc-s1 libstdc++6 libsystemd0 libgnutls30 zlib1g libzstd1 liblzma5 libgcrypt20 libseccomp2 libselinux1 libudev1 libcap2"
if command -v ldd >/dev/null 2>&1; then
	ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' >"$tmp/libs"
	needed=$( (objdump -p "$bin" 2>/dev/null || readelf -d "$bin" 2>/dev/null) |
		sed -n 's/.*NEEDED[^a-z]*\(lib[^] ]*\).*/\1/p' | sort -u)
	unprovided=""
	for soname in $needed; do
		path=$(awk -v s="$soname" '$1 == s { print $2; exit }' "$tmp/libs")
		pkg=""
		if [ -n "$path" ] && command -v dpkg-query >/dev/null 2>&1; then
			pkg=$(dpkg-query -S "$path" 2>/dev/null || dpkg-query -S "$(readlink -f "$path")" 2>/dev/null)
			pkg=$(echo "$pkg" | head -n 1 | sed 's/:.*//')
		fi
		if [ -z "$pkg" ]; then # libfoo.so.N -> libfooN (Debian's policy)
			pkg=$(echo "$soname" | sed -e 's/\.so\./-/' -e 's/\([a-z]\)-\([0-9]\)/\1\2/')
		fi
		case " $runtime_packages $base_packages " in
		*" $pkg "*) ;;
		*) unprovided="$unprovided $soname($pkg)" ;;
		esac
	done
	if [ -z "$needed" ]; then
		skip "runtime libraries: could not read the binary's NEEDED entries (objdump/readelf)"
	elif [ -z "$unprovided" ]; then
		pass "runtime libraries ($(echo "$needed" | tr '\n' ' ' | sed 's/ $//')) come from: $runtime_packages or the base image"
	else
		fail "runtime stage does not install the package of:$unprovided"
	fi
else
	skip "runtime libraries: no ldd"
fi

# HEALTHCHECK's command, as the image runs it: the server (on its default
# address, 0.0.0.0) and the probe read the port from M1_PORT.  Healthy
# while the server runs, unhealthy once it has stopped.
alive() { # running and not a zombie (dash reaps only in "wait")
	[ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}
port=""
for _ in 1 2 3 4 5; do
	try=$(od -An -N2 -tu2 /dev/urandom | awk '{ print 20000 + $1 % 30000 }')
	env -u M1_DOMAIN M1_PORT="$try" "$bin" --data "$(staged "$default_data")" \
		--threads 1 2>"$tmp/server.err" &
	server=$!
	i=0
	while [ $i -lt 50 ] && alive "$server" &&
		! grep -q Listening "$tmp/server.err"; do
		sleep 0.1
		i=$((i + 1))
	done
	if grep -q Listening "$tmp/server.err"; then
		port=$try
		break
	fi
	kill -KILL "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	server=""
done
if [ -z "$port" ]; then
	sed 's/^/  server: /' "$tmp/server.err"
	fail "HEALTHCHECK: could not start the staged server"
	finish
fi
health=$(echo "$health_cmd" | sed -n 's/^\[ *"[^"]*" *, *"\([^"]*\)".*/\1/p')
if env -u M1_DOMAIN M1_PORT="$port" "$bin" "$health" >"$tmp/health.out" 2>&1; then
	pass "HEALTHCHECK: avatar-api $health exits 0 while the server runs (M1_PORT=$port)"
else
	sed 's/^/  /' "$tmp/health.out"
	fail "HEALTHCHECK: avatar-api $health fails against a running server"
fi
kill -TERM "$server"
wait "$server"
status=$?
server=""
if [ $status -eq 0 ]; then
	pass "the staged server stops on SIGTERM with status 0"
else
	fail "the staged server exited $status on SIGTERM"
fi
if env -u M1_DOMAIN M1_PORT="$port" "$bin" "$health" >"$tmp/health.out" 2>&1; then
	fail "HEALTHCHECK: avatar-api $health exits 0 with no server"
else
	pass "HEALTHCHECK: avatar-api $health fails with no server"
fi

finish
