#!/bin/sh
# tests/hardening.sh -- check the built src/avatar-api for the hardening
# configure chose (configure.ac, "hardening and sanitizers"), with readelf:
#
#   PIE             ELF type DYN, and FLAGS_1 has PIE
#   BIND_NOW        the dynamic section has BIND_NOW or FLAGS/FLAGS_1 NOW
#   RELRO           a GNU_RELRO program header
#   stack protector __stack_chk_fail is imported
#   fortify         some __*_chk function (__snprintf_chk, ...) is imported
#
# Skipped (77), saying why, without readelf or with --disable-hardening.
# The fortify check is skipped when configure left _FORTIFY_SOURCE out:
# with --enable-sanitizers, without optimization, or when the compiler
# defines it itself (then it is only reported).
set -u

bin=${AVATAR_API_BIN:-src/avatar-api}
hardening=${AVATAR_API_HARDENING:-yes}
fortify=${AVATAR_API_FORTIFY:-yes}

if ! command -v readelf >/dev/null 2>&1; then
	echo "SKIP: readelf not found (Debian package binutils)"
	exit 77
fi
if [ "$hardening" = no ]; then
	echo "SKIP: configured with --disable-hardening"
	exit 77
fi
if [ ! -f "$bin" ]; then
	echo "FAIL: no binary at $bin"
	exit 1
fi

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.hardening.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# shellcheck disable=SC2015 # the block runs if any readelf fails
LC_ALL=C readelf -hW "$bin" >"$tmp/header" 2>&1 &&
	LC_ALL=C readelf -dW "$bin" >"$tmp/dynamic" 2>&1 &&
	LC_ALL=C readelf -lW "$bin" >"$tmp/segments" 2>&1 &&
	LC_ALL=C readelf --dyn-syms -W "$bin" >"$tmp/dynsyms" 2>&1 || {
	sed 's/^/  /' "$tmp"/* 2>/dev/null | tail -n 20
	echo "FAIL: readelf cannot read $bin"
	exit 1
}

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

# Undefined (imported) dynamic symbols: "Ndx" UND; the name without any
# @GLIBC_x.y version.
awk '$7 == "UND" && $8 != "" { sub(/@.*/, "", $8); print $8 }' \
	"$tmp/dynsyms" | sort -u >"$tmp/imports"

type=$(sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p' "$tmp/header")
if [ "$type" = DYN ] && grep -q 'FLAGS_1.*PIE' "$tmp/dynamic"; then
	pass "PIE: ELF type DYN, FLAGS_1 PIE"
else
	fail "PIE: ELF type '$type', FLAGS_1: $(grep FLAGS_1 "$tmp/dynamic" | sed 's/.*Flags: *//')"
fi

if grep -q -E '\(BIND_NOW\)|\(FLAGS\) .*BIND_NOW|\(FLAGS_1\) .*Flags:.* NOW( |$)' "$tmp/dynamic"; then
	pass "BIND_NOW: $(grep -E 'BIND_NOW|\(FLAGS(_1)?\)' "$tmp/dynamic" | sed 's/.*(\([A-Z_0-9]*\)) *\(Flags: *\)*/\1 /' | tr '\n' ';' | sed 's/;$//')"
else
	fail "BIND_NOW: no BIND_NOW and no NOW in FLAGS/FLAGS_1 (link with -Wl,-z,now)"
fi

if grep -q -E '^ *GNU_RELRO ' "$tmp/segments"; then
	pass "RELRO: GNU_RELRO segment"
else
	fail "RELRO: no GNU_RELRO segment (link with -Wl,-z,relro)"
fi

if grep -q -x '__stack_chk_fail' "$tmp/imports"; then
	pass "stack protector: __stack_chk_fail imported"
else
	fail "stack protector: __stack_chk_fail not imported (-fstack-protector-strong)"
fi

chk=$(grep -E '^__.*_chk$' "$tmp/imports" | grep -v -x '__stack_chk_fail' |
	tr '\n' ' ' | sed 's/ $//')
case $fortify in
yes)
	if [ -n "$chk" ]; then
		pass "fortify: imports $chk"
	else
		fail "fortify: configured with -D_FORTIFY_SOURCE=2 but no __*_chk function imported"
	fi
	;;
predefined)
	echo "SKIP: fortify: _FORTIFY_SOURCE comes from the compiler or CPPFLAGS (imports: ${chk:-none})"
	;;
*)
	reason="configure left -D_FORTIFY_SOURCE=2 out (it needs optimization)"
	case ${AVATAR_API_SANITIZER_CFLAGS:-} in
	*sanitize*) reason="not with --enable-sanitizers" ;;
	esac
	echo "SKIP: fortify: $reason"
	;;
esac

if [ "$failed" -ne 0 ]; then
	echo "hardening.sh: $failed check(s) failed, $passed passed"
	exit 1
fi
echo "hardening.sh: all $passed checks pass"
exit 0
