#!/bin/sh
# fuzz.sh -- build the libFuzzer targets and run each for a while
# ("make fuzz"; make check never runs it).
#
#   scripts/fuzz.sh [FLAG...]
#
# Run from the top of the build tree.  Each target tests/fuzz_T is built
# with $CLANG $FUZZ_CFLAGS from tests/fuzz_T.c and every source in src/
# but main.c; the FLAGs (preprocessor flags, then libraries) go after the
# sources on that command line.  They come as arguments, not in a
# variable, because make's $(DEFS) holds shell-quoted values
# (-DPACKAGE_STRING=\"avatar-api\ 0.2.0\") that only the shell running
# make's recipe unquotes.
#
# Each run starts from a copy of the seed corpus tests/fuzz/T of the
# source tree in tests/fuzz-work/T, which keeps what the runs found, the
# log tests/fuzz-work/T.log and any crash-*, leak-*, timeout-* or oom-*
# input (as tests/fuzz-work/T-*).  Any crash, leak, hang or sanitizer
# report fails the run.
#
# Environment: srcdir (the top of the source tree, default: this script's
# parent), CLANG (clang), FUZZ_CFLAGS (the sanitizers: required),
# FUZZ_TARGETS (fixture request relay upstream guard negotiate), FUZZ_SECONDS
# (60 per target), FUZZ_FLAGS (extra libFuzzer flags, e.g. -jobs=4),
# AVATAR_API_FIXTURE (the fixture tests/fuzz_request serves), EXEEXT.
# Exit: 0 all passed or skipped (no clang or no fuzzer runtime: it says
# why), 1 a target failed to build or found something.
set -u

srcdir=${srcdir:-$(dirname "$0")/..}
CLANG=${CLANG:-clang}
: "${FUZZ_CFLAGS:?set FUZZ_CFLAGS, or run me with make fuzz}"
FUZZ_TARGETS=${FUZZ_TARGETS:-fixture request relay upstream guard negotiate}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_FLAGS=${FUZZ_FLAGS:-}
EXEEXT=${EXEEXT:-}
work=tests/fuzz-work

# Can $CLANG build a fuzz target at all?  Without it, or without its
# fuzzer runtime, this is a skip, not a failure: the tools are optional.
mkdir -p "$work" || exit 1
cat >"$work/probe.c" <<'EOF'
int LLVMFuzzerTestOneInput(const char *d, unsigned long n);
int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }
EOF
# shellcheck disable=SC2086 # FUZZ_CFLAGS is a list of flags
if ! $CLANG $FUZZ_CFLAGS -o "$work/probe$EXEEXT" "$work/probe.c" \
	>"$work/probe.log" 2>&1; then
	echo "make fuzz: SKIPPED: '$CLANG' cannot build with" \
		"-fsanitize=fuzzer,address,undefined (is clang and its" \
		"libFuzzer runtime, e.g. Debian's libclang-rt-14-dev," \
		"installed?); see $work/probe.log"
	exit 0
fi

srcs=
for f in "$srcdir"/src/*.c; do
	case $f in
	*/main.c) ;;
	*) srcs="$srcs $f" ;;
	esac
done

for t in $FUZZ_TARGETS; do
	echo "  CCLD     tests/fuzz_$t$EXEEXT"
	# shellcheck disable=SC2086 # word lists
	$CLANG $FUZZ_CFLAGS -o "tests/fuzz_$t$EXEEXT" \
		"$srcdir/tests/fuzz_$t.c" $srcs "$@" || exit 1
done

ASAN_OPTIONS='halt_on_error=1:abort_on_error=0:detect_leaks=1'
UBSAN_OPTIONS='halt_on_error=1:print_stacktrace=1'
export ASAN_OPTIONS UBSAN_OPTIONS
if [ -n "${AVATAR_API_FIXTURE-}" ]; then
	export AVATAR_API_FIXTURE
fi

status=0
for t in $FUZZ_TARGETS; do
	# fuzz_relay starts from fuzz_request's seeds: the same requests.
	seeds=$t
	[ "$t" != relay ] || seeds=request
	mkdir -p "$work/$t" &&
		cp "$srcdir/tests/fuzz/$seeds"/* "$work/$t/" &&
		chmod -R u+w "$work/$t" || exit 1
	# The HTTP targets get a dictionary of the protocol's tokens;
	# -close_fd_mask=2 silences the log of tests/fuzz_request's server
	# (the target keeps a copy of stderr for its own messages).
	case $t in
	request | relay)
		extra="-dict=$srcdir/tests/fuzz/http.dict -close_fd_mask=2" ;;
	guard) extra="-dict=$srcdir/tests/fuzz/http.dict" ;;
	negotiate) extra="-dict=$srcdir/tests/fuzz/negotiate.dict" ;;
	*) extra= ;;
	esac
	echo "make fuzz: tests/fuzz_$t for $FUZZ_SECONDS s" \
		"(log: $work/$t.log)"
	# shellcheck disable=SC2086 # word lists
	"./tests/fuzz_$t$EXEEXT" \
		-max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$work/$t-" $extra $FUZZ_FLAGS \
		"$work/$t" >"$work/$t.log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^Done ' "$work/$t.log"
	if [ "$rc" -ne 0 ]; then
		echo "make fuzz: FAIL: tests/fuzz_$t exited $rc:"
		tail -n 60 "$work/$t.log"
		ls "$work/$t"-* 2>/dev/null
		status=1
	else
		echo "make fuzz: PASS: tests/fuzz_$t"
	fi
done
exit $status
