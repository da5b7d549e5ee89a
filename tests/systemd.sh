#!/bin/sh
# systemd.sh -- check the generated avatar-api.service offline.
#
# "systemd-analyze verify" must print nothing at all (unknown keys and
# other mistakes only warn) on a copy of the unit whose ExecStart is the
# built binary, and "systemd-analyze security --offline=yes" must rate its
# exposure 1.5 or better.  Skipped (77) without systemd-analyze.
#
# Run by "make check", which exports AVATAR_API_BUILDDIR (where make
# generates the unit), AVATAR_API_BIN and AVATAR_API_TMPDIR.
set -u
# Plain ASCII output and a '.' decimal point from systemd-analyze.
LC_ALL=C
export LC_ALL

max_exposure=1.5

fail() {
	echo "FAIL: $*"
	exit 1
}

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not found (Debian package systemd)"
	exit 77
fi

: "${AVATAR_API_BUILDDIR:?run me with make check}"
: "${AVATAR_API_BIN:?run me with make check}"
: "${AVATAR_API_TMPDIR:?run me with make check}"

unit=$AVATAR_API_BUILDDIR/avatar-api.service
[ -f "$unit" ] || fail "generated unit $unit not found"
[ -x "$AVATAR_API_BIN" ] || fail "binary $AVATAR_API_BIN not found"
if grep -nE '@[A-Za-z_]+@' "$unit"; then
	fail "$unit: unsubstituted @variable@ above"
fi
# shellcheck disable=SC2016 # a literal $AVATAR_API_OPTS
grep -q '^ExecStart=/[^ ]*/avatar-api \$AVATAR_API_OPTS$' "$unit" ||
	fail "$unit: no 'ExecStart=/.../avatar-api \$AVATAR_API_OPTS' line"

# The stop timeout must outlast the 5 s drain (SERVER_DRAIN_MS) and the
# --shutdown-delay, if the sample default file sets one.
stop_timeout=$(sed -n 's/^TimeoutStopSec=\([0-9][0-9]*\)s\{0,1\}$/\1/p' "$unit")
delay=$(sed -n -e 's/^AVATAR_API_OPTS=.*--shutdown-delay[= ]\([0-9][0-9]*\).*/\1/p' \
	-e 's/^AVATAR_API_SHUTDOWN_DELAY=\([0-9][0-9]*\)$/\1/p' \
	"$AVATAR_API_BUILDDIR/avatar-api.default" 2>/dev/null | head -n 1)
[ -n "$stop_timeout" ] ||
	fail "$unit: no TimeoutStopSec=N or Ns line"
[ "$stop_timeout" -gt $((${delay:-0} + 5)) ] ||
	fail "$unit: TimeoutStopSec=${stop_timeout}s is not above the shutdown delay (${delay:-0} s) + the 5 s drain"
echo "TimeoutStopSec=${stop_timeout}s > shutdown delay ${delay:-0} s + drain 5 s"

tmp=$(mktemp -d "$AVATAR_API_TMPDIR/tmp.systemd.XXXXXX") ||
	fail "cannot create a scratch directory in $AVATAR_API_TMPDIR"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The copy runs the built binary: verify checks that ExecStart exists.
copy=$tmp/avatar-api.service
sed "s|^ExecStart=[^ ]*|ExecStart=$AVATAR_API_BIN|" "$unit" >"$copy" ||
	fail "cannot write $copy"
grep -qF "ExecStart=$AVATAR_API_BIN " "$copy" ||
	fail "could not point ExecStart at $AVATAR_API_BIN"

echo "unit: $unit"
echo "checking: systemd-analyze verify --man=no $copy"
echo "  (ExecStart=$AVATAR_API_BIN \$AVATAR_API_OPTS)"
status=0
systemd-analyze verify --man=no "$copy" >"$tmp/verify.out" 2>&1 || status=$?
if [ "$status" != 0 ] || [ -s "$tmp/verify.out" ]; then
	cat "$tmp/verify.out"
	fail "systemd-analyze verify: exit status $status, output above"
fi
echo "  ok: exit status 0, no output"

echo "checking: systemd-analyze security --offline=yes $copy"
status=0
systemd-analyze security --offline=yes "$copy" >"$tmp/security.out" 2>&1 ||
	status=$?
line=$(grep 'Overall exposure level' "$tmp/security.out")
# "-> Overall exposure level for avatar-api.service: 1.1 OK :-)"
exposure=$(printf '%s\n' "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\) .*/\1/p')
if [ "$status" != 0 ] || [ -z "$exposure" ]; then
	cat "$tmp/security.out"
	fail "systemd-analyze security: exit status $status, no exposure level"
fi
echo "  $line"
if ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
	cat "$tmp/security.out"
	fail "exposure $exposure is above $max_exposure"
fi
echo "  ok: exposure $exposure <= $max_exposure"
