#!/bin/sh
# install.sh -- "make install DESTDIR=<scratch>" and check what landed where.
#
# Installs the configured build into a scratch directory under the build
# tree (never the real system), then checks that the binary, users.json,
# the man page, the sample /etc/default file, the OpenAPI description
# (doc/openapi.yaml, as it is) and (when configure enabled it) the
# systemd unit are at the configured places, that nothing went
# elsewhere, and that the installed binary accepts the installed fixture.
# The man page and the default file must name the configured package data
# and documentation directories: here, and in a copy of the tree
# configured with another prefix (make writes both from FILE.in, so that
# a path written into FILE.in by hand fails the second check even when
# this build uses the default prefix).
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

# names_fixture LABEL PKGDATADIR TEXT: every absolute path to users.json
# in TEXT is PKGDATADIR/users.json, and there is at least one.
names_fixture() {
	found=$(printf '%s\n' "$3" | grep -o '/[^ ()"=]*/users\.json')
	[ -n "$found" ] || fail "$1 names no path to users.json"
	wrong=$(printf '%s\n' "$found" | grep -vxF "$2/users.json" | sort -u | tr '\n' ' ')
	[ -z "$wrong" ] || fail "$1 names ${wrong}instead of $2/users.json"
	echo "  ok: $1 names $2/users.json"
}

# check_paths ROOT PKGDATADIR DOCDIR MAN8DIR: the man page and the sample
# default file installed under ROOT have no @variable@ left and name the
# fixture in PKGDATADIR, and the man page names DOCDIR.
check_paths() {
	page=$1$4/avatar-api.8
	default=$1$3/avatar-api.default
	if grep -nE '@[A-Za-z_]+@' "$page" "$default"; then
		fail "unsubstituted @variable@ above"
	fi
	# The page's text without its roff escapes (\- \: \% \&).
	text=$(sed -e 's/\\-/-/g' -e 's/\\[:%&]//g' "$page")
	names_fixture "$4/avatar-api.8" "$2" "$text"
	names_fixture "$3/avatar-api.default" "$2" "$(cat "$default")"
	printf '%s\n' "$text" | grep -qF "$3" ||
		fail "$4/avatar-api.8 does not name $3"
	echo "  ok: $4/avatar-api.8 names $3"
}

echo "checking: the files under DESTDIR (prefix $AVATAR_API_PREFIX)"
bin=$AVATAR_API_BINDIR/avatar-api
data=$AVATAR_API_PKGDATADIR/users.json
check_file "$bin" -x
check_file "$data"
check_file "$AVATAR_API_MAN8DIR/avatar-api.8"
check_file "$AVATAR_API_DOCDIR/avatar-api.default"
check_file "$AVATAR_API_DOCDIR/openapi.yaml"
cmp -s "$dest$AVATAR_API_DOCDIR/openapi.yaml" \
	"$(cd "${srcdir:-$(dirname "$0")/..}" && pwd)/doc/openapi.yaml" ||
	fail "$AVATAR_API_DOCDIR/openapi.yaml differs from doc/openapi.yaml"
check_paths "$dest" "$AVATAR_API_PKGDATADIR" "$AVATAR_API_DOCDIR" \
	"$AVATAR_API_MAN8DIR"

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
	# As read: the relay URL spelled out, not run together by roff's
	# alternating fonts ("M2_DOMAIN:M2_PORTM2_PATH").
	text=$(LC_ALL=C groff -man -Tascii -rHY=0 -P-c -P-b -P-u "$page" \
		2>/dev/null | tr -s ' \n' '  ')
	want='M2_DOMAIN:M2_PORT followed by M2_PATH'
	case $text in
	*"$want"*) echo "  ok: the man page reads '$want'" ;;
	*) fail "the rendered man page does not read '$want'" ;;
	esac
else
	echo "  (groff not found: man page formatting not checked)"
fi

# The same from a copy of the tree ("make distdir") configured with
# another prefix: only the data is installed, so nothing is compiled.
other=/opt/avatar-api-install-check
echo "running: configure --prefix=$other in a copy of the tree," \
	"make install-data DESTDIR=$tmp/other"
if ! (
	unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES DESTDIR
	make -C "$AVATAR_API_BUILDDIR" distdir distdir="$tmp/src" &&
		mkdir "$tmp/build" && cd "$tmp/build" &&
		"$tmp/src/configure" --prefix="$other" \
			--with-systemdsystemunitdir=no &&
		make install-data DESTDIR="$tmp/other"
) >"$tmp/other.log" 2>&1; then
	cat "$tmp/other.log"
	fail "configure --prefix=$other and make install-data failed"
fi
check_paths "$tmp/other" "$other/share/avatar-api" \
	"$other/share/doc/avatar-api" "$other/share/man/man8"
