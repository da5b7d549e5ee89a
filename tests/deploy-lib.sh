# tests/deploy-lib.sh -- shared by the two-tier tests (compose-config.sh,
# kubernetes.sh, compose.sh); sourced after top_srcdir is set.

# yaml_python: print a python3 that has PyYAML (Debian: python3-yaml),
# or nothing.
yaml_python() {
	for p in python3 /usr/bin/python3; do
		if "$p" -c 'import yaml' >/dev/null 2>&1; then
			echo "$p"
			return
		fi
	done
}

# deploy_setup NAME: $tmp, a scratch directory removed on exit; the
# counters and the pass/fail/finish below, which report as NAME.
deploy_setup() {
	deploy_name=$1
	tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.$1.XXXXXX") || exit 99
	trap 'deploy_cleanup; rm -rf "$tmp"' EXIT
	trap 'exit 1' HUP INT TERM
	fails=0
}

# deploy_cleanup: what a test stops on exit, before $tmp goes (redefine it).
deploy_cleanup() { :; }

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# finish: exit 1 with the count if anything failed, else 0.
finish() {
	if [ "$fails" -ne 0 ]; then
		echo "$deploy_name: $fails failure(s)"
		exit 1
	fi
	echo "$deploy_name: all checks pass"
	exit 0
}
