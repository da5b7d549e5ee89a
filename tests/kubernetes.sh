#!/bin/sh
# tests/kubernetes.sh -- check deploy/kubernetes/ offline, with no cluster:
# "kubectl kustomize" renders it (kustomize is built into kubectl; unlike
# "kubectl apply --dry-run=client", it asks no API server), then
# tests/deploy_check.py checks the rendered objects: each Deployment's
# probes (readiness on /readyz, startup and liveness on /healthz), its
# shutdown delay and grace period, requests and limits, security context, the Services,
# the HPA and how the tiers point at each other.  Also: the image can be
# overridden through kustomize, every manifest is listed, and broken copies
# (a probe removed, a writable root, a typo) are caught.
#
# Skipped (77) without kubectl (Debian package kubernetes-client) or
# without PyYAML (python3-yaml).  Run by "make check", or by hand from the
# source tree: sh tests/kubernetes.sh
set -u

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
kdir=$top_srcdir/deploy/kubernetes
checker=$top_srcdir/tests/deploy_check.py
. "$top_srcdir/tests/deploy-lib.sh"

kubectl=$(command -v kubectl) || {
	echo "SKIP: kubectl not found (Debian package kubernetes-client), cannot render deploy/kubernetes"
	exit 77
}
python=$(yaml_python)
if [ -z "$python" ]; then
	echo "SKIP: no python3 with PyYAML (Debian package python3-yaml), cannot check deploy/kubernetes"
	exit 77
fi

deploy_setup kubernetes.sh
# Nothing here may talk to a cluster, even one a kubeconfig names.
KUBECONFIG=$tmp/no-kubeconfig
export KUBECONFIG


# render DIR OUT: kubectl kustomize DIR into OUT.
render() {
	"$kubectl" kustomize "$1" >"$2" 2>"$tmp/render.err"
}

echo "kubectl: $("$kubectl" version --client 2>/dev/null | head -n 1)"
if render "$kdir" "$tmp/rendered.yaml"; then
	pass "kubectl kustomize deploy/kubernetes renders $(grep -c '^kind:' "$tmp/rendered.yaml") objects"
else
	sed 's/^/  /' "$tmp/render.err"
	fail "kubectl kustomize deploy/kubernetes"
	finish
fi

if "$python" "$checker" kubernetes "$tmp/rendered.yaml" >"$tmp/check.out" 2>&1; then
	pass "deploy_check.py: $(grep -c '^PASS' "$tmp/check.out") checks of the rendered objects"
else
	grep -v '^PASS' "$tmp/check.out" | sed 's/^/  /'
	fail "deploy_check.py kubernetes: $(grep -c '^FAIL' "$tmp/check.out") failed check(s)"
fi

# Every manifest beside kustomization.yaml is one of its resources.
for f in "$kdir"/*.yaml; do
	b=$(basename "$f")
	[ "$b" = kustomization.yaml ] && continue
	if grep -q "^  - $b\$" "$kdir/kustomization.yaml"; then
		pass "kustomization.yaml lists $b"
	else
		fail "kustomization.yaml does not list $b"
	fi
done

# copy NAME: a fresh copy of deploy/kubernetes in $tmp/NAME.
copy() {
	rm -rf "${tmp:?}/$1" && cp -R "$kdir" "$tmp/$1"
}

# The image is a kustomize image: an overlay's or "kustomize edit set
# image"'s newName/newTag reach both Deployments.
copy image
sed -e 's#^    newName: avatar-api$#    newName: registry.example/team/avatar-api#' \
	-e 's#^    newTag: .*#    newTag: "1.2.3"#' \
	"$kdir/kustomization.yaml" >"$tmp/image/kustomization.yaml"
if render "$tmp/image" "$tmp/image.yaml" &&
	[ "$(grep -c '^ *image: registry.example/team/avatar-api:1.2.3$' "$tmp/image.yaml")" = 2 ] &&
	! grep -q '^ *image: avatar-api' "$tmp/image.yaml"; then
	pass "the kustomize image avatar-api -> registry.example/team/avatar-api:1.2.3 sets both Deployments' image"
else
	grep -n 'image:' "$tmp/image.yaml" | sed 's/^/  /'
	fail "kustomize images: newName/newTag do not set both Deployments' image"
fi

# The checker must catch broken manifests.  broken WHAT FILE SED-SCRIPT
# EXPECTED: FILE edited by SED-SCRIPT in a copy must fail with a FAIL:
# line matching EXPECTED.
broken() {
	copy broken
	sed -e "$3" "$kdir/$2" >"$tmp/broken/$2"
	if cmp -s "$kdir/$2" "$tmp/broken/$2"; then
		fail "self-test ($1): the edit changed nothing in $2"
		return
	fi
	if ! render "$tmp/broken" "$tmp/broken.yaml"; then
		fail "self-test ($1): the broken copy does not render"
		return
	fi
	"$python" "$checker" kubernetes "$tmp/broken.yaml" >"$tmp/broken.out" 2>&1
	status=$?
	if [ $status -eq 1 ] && grep -q "^FAIL: $4" "$tmp/broken.out"; then
		pass "self-test: $1 is caught ($(grep "^FAIL: $4" "$tmp/broken.out" | head -n 1))"
	else
		grep '^FAIL' "$tmp/broken.out" | sed 's/^/  /'
		fail "self-test: $1 is not caught (exit $status, no FAIL: $4)"
	fi
}
broken "m2 without a livenessProbe" m2-deployment.yaml \
	'/^          livenessProbe:/,/^          resources:/{/^          resources:/!d;}' \
	'avatar-api-m2/avatar-api: has a livenessProbe'
broken "m1's readiness probe on /" m1-deployment.yaml \
	'/readinessProbe:/,/path:/s#path: /readyz#path: /#' \
	'avatar-api-m1/avatar-api: readinessProbe GETs /readyz'
broken "m2's readiness probe on /healthz" m2-deployment.yaml \
	'/readinessProbe:/,/path:/s#path: /readyz#path: /healthz#' \
	'avatar-api-m2/avatar-api: readinessProbe GETs /readyz'
broken "m1's liveness probe on /readyz" m1-deployment.yaml \
	'/livenessProbe:/,/path:/s#path: /healthz#path: /readyz#' \
	'avatar-api-m1/avatar-api: livenessProbe GETs /healthz'
broken "a grace period shorter than delay + drain" m2-deployment.yaml \
	's/terminationGracePeriodSeconds: 15/terminationGracePeriodSeconds: 8/' \
	'avatar-api-m2/avatar-api: terminationGracePeriodSeconds'
broken "no shutdown delay" m1-deployment.yaml \
	'/name: AVATAR_API_SHUTDOWN_DELAY/,+1d' \
	'avatar-api-m1/avatar-api: AVATAR_API_SHUTDOWN_DELAY'
broken "a writable root filesystem" m1-deployment.yaml \
	's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
	'avatar-api-m1/avatar-api: readOnlyRootFilesystem: true'
broken "a misspelt readinessProbe" m2-deployment.yaml \
	's/readinessProbe:/readinesProbe:/' \
	'avatar-api-m2/avatar-api: no unknown container field'
broken "no memory limit" m2-deployment.yaml \
	'/limits:/,/memory:/{/memory:/d;}' \
	'avatar-api-m2/avatar-api: memory request'
broken "m1 relaying to the wrong Service" m1-deployment.yaml \
	's#http://avatar-api-m2#http://m2#' \
	'm1 relays to the m2 Service'
broken "an HPA on autoscaling/v1" m1-hpa.yaml \
	's#autoscaling/v2#autoscaling/v1#' \
	'HPA apiVersion autoscaling/v2'

finish
