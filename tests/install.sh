#!/bin/sh
# install.sh -- "make install DESTDIR=<scratch>" and check what landed where.
#
# Installs the configured build into a scratch directory under the build
# tree (never the real system), then checks that the binary, users.json,
# the man page, the sample /etc/default file and (when configure enabled
# it) the systemd unit are at the configured places, that nothing went
# elsewhere, and that the installed binary accepts the installed fixture.
#
# Run by "make check", which exports AVATAR_API_BUILDDIR, AVATAR_API_TMPDIR
# and the expanded directories AVATAR_API_PREFIX, _BINDIR, _PKGDATADIR,
# _MAN8DIR, _DOCDIR and _UNITDIR (empty when the unit is not installed).
set -u

fail() {
	echo "FAIL: $*"
	exit 1
}

: "${AVATAR_API_BUILDDIR:?run me with make check}"
: "${AVATAR_API_TMPDIR:?run me with make check}"
: "${AVATAR_API_PREFIX:?run me with make check}"
: "${AVATAR_API_BINDIR:?run me with make check}"
: "${AVATAR_API_PKGDATADIR:?run me with make check}"
: "${AVATAR_API_MAN8DIR:?run me with make check}"
: "${AVATAR_API_DOCDIR:?run me with make check}"
unitdir=${AVATAR_API_UNITDIR-}

tmp=$(mktemp -d "$AVATAR_API_TMPDIR/tmp.install.XXXXXX") ||
	fail "cannot create a scratch directory in $AVATAR_API_TMPDIR"
case $tmp in
/?*) ;;
*) fail "scratch directory '$tmp' is not absolute" ;;
esac
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
dest=$tmp/root

# A make of its own: not the jobserver, flags or variables of the
# "make check" that runs this test.
echo "running: make -C $AVATAR_API_BUILDDIR install DESTDIR=$dest"
if ! (
	unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DESTDIR
	exec make -C "$AVATAR_API_BUILDDIR" install DESTDIR="$dest"
) >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	fail "make install DESTDIR=$dest failed"
fi

check_file() { # PATH [-x]
	if [ ! -f "$dest$1" ]; then
		echo "installed files:"
		(cd "$dest" && find . -type f | sort)
		fail "$1 was not installed"
	fi
	if [ "${2-}" = -x ] && [ ! -x "$dest$1" ]; then
		fail "$1 is not executable"
	fi
	echo "  ok: $1"
}

echo "checking: the files under DESTDIR (prefix $AVATAR_API_PREFIX)"
bin=$AVATAR_API_BINDIR/avatar-api
data=$AVATAR_API_PKGDATADIR/users.json
check_file "$bin" -x
check_file "$data"
check_file "$AVATAR_API_MAN8DIR/avatar-api.8"
check_file "$AVATAR_API_DOCDIR/avatar-api.default"

if [ -n "$unitdir" ]; then
	unit=$unitdir/avatar-api.service
	check_file "$unit"
	if grep -nE '@[A-Za-z_]+@' "$dest$unit"; then
		fail "$unit: unsubstituted @variable@ above"
	fi
	grep -qxF "ExecStart=$bin \$AVATAR_API_OPTS" "$dest$unit" ||
		fail "$unit: ExecStart is not '$bin \$AVATAR_API_OPTS'"
	echo "  ok: $unit has ExecStart=$bin and no @variable@ left"
else
	echo "  (configured without a systemd unit directory: no unit expected)"
fi

# Everything must be under the prefix, or in the unit directory.
stray=$(cd "$dest" && find . ! -type d | sed 's|^\.||' | while read -r f; do
	case $f in
	"$AVATAR_API_PREFIX"/*) ;;
	"$unitdir"/*) [ -n "$unitdir" ] || echo "$f" ;;
	*) echo "$f" ;;
	esac
done)
[ -z "$stray" ] || fail "installed outside $AVATAR_API_PREFIX: $stray"
case $(cd "$dest" && find . -name avatar-api.service) in
"") [ -z "$unitdir" ] || fail "no avatar-api.service installed" ;;
*) [ -n "$unitdir" ] || fail "avatar-api.service installed though disabled" ;;
esac
echo "  ok: nothing installed outside $AVATAR_API_PREFIX${unitdir:+ and $unitdir}"

echo "running: $dest$bin --check --data $dest$data"
out=$("$dest$bin" --check --data "$dest$data" 2>&1) ||
	fail "exit status $?: $out"
[ "$out" = "20 users OK" ] || fail "expected '20 users OK', got '$out'"
echo "  ok: $out"

# The binary's built-in default is where the fixture is installed.
"$dest$bin" --help | grep -qF "$data" ||
	fail "--help does not name $data as the default fixture"
echo "  ok: --help names $data as the default --data"

# The installed man page formats without a warning, when groff is here.
if command -v groff >/dev/null 2>&1; then
	page=$dest$AVATAR_API_MAN8DIR/avatar-api.8
	warnings=$(LC_ALL=C groff -man -Tutf8 -ww -z "$page" 2>&1)
	[ -z "$warnings" ] || fail "groff -man -ww: $warnings"
	echo "  ok: groff -man -Tutf8 -ww -z: no warnings"
else
	echo "  (groff not found: man page formatting not checked)"
fi
