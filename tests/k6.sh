#!/bin/sh
# tests/k6.sh -- check the k6 scripts without k6 (it is not packaged for
# Debian): their syntax, parsed as ES modules by node, and their logic, run
# by node against stand-ins for k6's modules: the options that
# "k6 run -d 90s -u 100" needs, the target URL (microservice1's
# /v1/user, microservice2's /v1/avatar) and BASE_URL, and that the checks
# pass on the real list and fail on wrong answers; and EXPECTED_USERS: the
# count the checks expect (20 by default), 0 for any count, a bad value
# refused when the script loads.
#
# Skipped (77) without node.  Run by "make check", or by hand from the
# source tree: sh tests/k6.sh
set -u

if ! command -v node >/dev/null 2>&1; then
	echo "SKIP: node not found (Debian package nodejs), cannot check k6/*.js"
	exit 77
fi

top_srcdir=$(cd "${srcdir:-$(dirname "$0")/..}" && pwd) || exit 99
fixture=${AVATAR_API_FIXTURE:-$top_srcdir/data/users.json}
k6dir=$top_srcdir/k6
scripts="script-get.js microservice1-get.js microservice2-get.js"

tmp=$(mktemp -d "${AVATAR_API_TMPDIR:-${TMPDIR:-/tmp}}/tmp.k6.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

fails=0
pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# "node --check FILE" decides by the file name that a .js file is
# CommonJS and passes broken ES modules; parse stdin as a module instead.
syntax_ok() {
	node --input-type=module --check <"$1" >"$tmp/check.out" 2>&1
}

echo "node $(node --version)"
for s in $scripts; do
	if [ ! -f "$k6dir/$s" ]; then
		fail "k6/$s is missing"
	elif syntax_ok "$k6dir/$s"; then
		pass "k6/$s parses as an ES module"
	else
		sed 's/^/  /' "$tmp/check.out"
		fail "k6/$s does not parse as an ES module"
	fi
done

# The checker must be able to fail: a copy with a broken function.
{
	cat "$k6dir/script-get.js"
	echo 'export function broken( {'
} >"$tmp/broken.js"
if syntax_ok "$tmp/broken.js"; then
	fail "self-test: the syntax check passed a broken copy"
else
	pass "self-test: the syntax check rejects a broken copy"
fi

# Run the scripts' logic in node.  Copies in a directory of their own, as
# ES modules, with k6's modules replaced by stand-ins.
mkdir "$tmp/run" || exit 99
echo '{"type": "module"}' >"$tmp/run/package.json"
for s in $scripts; do
	sed -e "s#from 'k6/http'#from './k6-http-stub.js'#" \
		-e "s#from 'k6'#from './k6-stub.js'#" \
		"$k6dir/$s" >"$tmp/run/$s" || exit 99
done
cat >"$tmp/run/k6-http-stub.js" <<'EOF'
export default { get: (...args) => globalThis.k6stub.get(...args) };
EOF
cat >"$tmp/run/k6-stub.js" <<'EOF'
export const check = (...args) => globalThis.k6stub.check(...args);
EOF
cat >"$tmp/run/harness.js" <<'EOF'
// harness.js DIR FIXTURE -- run the k6 scripts in DIR with stand-ins.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [dir, fixture] = process.argv.slice(2);
let fails = 0;
const result = (ok, what) => {
  console.log(`${ok ? 'PASS' : 'FAIL'}: ${what}`);
  if (!ok) fails++;
};

// k6's http.get and check, recording what the script does.
let response;
let gets = [];
let checks = [];
globalThis.k6stub = {
  get(url, params) {
    gets.push(url);
    return response;
  },
  check(value, sets) {
    let all = true;
    for (const [name, fn] of Object.entries(sets)) {
      const ok = Boolean(fn(value));
      checks.push([name, ok]);
      all = all && ok;
    }
    return all;
  },
};
globalThis.__ENV = {};

// One iteration of DEFAULT against RES: the URLs it fetched, the checks.
function iterate(fn, res) {
  response = res;
  gets = [];
  checks = [];
  fn();
  return { gets, checks };
}

// The server's answer: the fixture, compact, as jansson writes it.
const list = JSON.stringify(JSON.parse(readFileSync(fixture, 'utf8')));
const good = {
  status: 200,
  headers: { 'Content-Type': 'application/json' },
  body: list,
};
const users = JSON.parse(list);
const wrong = {
  'status 404': { ...good, status: 404, body: '{"error":"not found"}' },
  'status 500 with the right body': { ...good, status: 500 },
  'text/html': { ...good, headers: { 'Content-Type': 'text/html' } },
  'no Content-Type': { ...good, headers: {} },
  '19 users': { ...good, body: JSON.stringify(users.slice(1)) },
  // (The order of the records is the fixture's, which the scripts do not
  // know: any fixture will do.)
  'a duplicate id': { ...good, body: JSON.stringify([users[0], ...users.slice(0, -1)]) },
  'a record without an id': { ...good, body: JSON.stringify([{ name: 'x' }, ...users.slice(1)]) },
  'a numeric id': { ...good, body: JSON.stringify([{ ...users[0], id: 1 }, ...users.slice(1)]) },
  'an array of strings': { ...good, body: JSON.stringify(users.map((u) => u.id)) },
  'an object': { ...good, body: '{"status":"ok"}' },
  'truncated JSON': { ...good, body: list.slice(0, -1) },
  'an empty body': { ...good, body: '' },
  'a null body (discardResponseBodies)': { ...good, body: null },
};

// Each script's default target: microservice1's list, microservice2's.
const targets = {
  'script-get.js': 'http://127.0.0.1:8080/v1/user',
  'microservice1-get.js': 'http://127.0.0.1:8080/v1/user',
  'microservice2-get.js': 'http://localhost:3000/v1/avatar',
};
for (const [name, target] of Object.entries(targets)) {
  const url = pathToFileURL(`${dir}/${name}`).href;
  let mod;
  try {
    mod = await import(url);
  } catch (e) {
    result(false, `k6/${name}: loads (${e})`);
    continue;
  }
  const o = mod.options || {};
  result(typeof mod.default === 'function', `k6/${name}: exports a default function`);
  result(Number.isInteger(o.vus) && typeof o.duration === 'string',
    `k6/${name}: shortcut options vus (${o.vus}) and duration (${o.duration})`);
  result(!('scenarios' in o) && !('stages' in o) && !('iterations' in o),
    `k6/${name}: no scenarios, stages or iterations (so -d/-u work)`);
  const t = o.thresholds || {};
  const has = (metric, re) => Array.isArray(t[metric]) &&
    t[metric].some((x) => re.test(typeof x === 'string' ? x : x.threshold));
  result(has('http_req_failed', /^rate<0\.01$/), `k6/${name}: threshold http_req_failed rate<0.01`);
  result(has('checks', /^rate>0\.99$/), `k6/${name}: threshold checks rate>0.99`);
  result(has('http_req_duration', /^p\(95\)<\d+$/), `k6/${name}: threshold http_req_duration p(95)<N`);
  result(!o.discardResponseBodies, `k6/${name}: keeps response bodies (the checks read them)`);
  if (typeof mod.default !== 'function') continue;

  const r = iterate(mod.default, good);
  result(r.gets.length === 1 && r.gets[0] === target,
    `k6/${name}: GETs ${target} by default (got ${JSON.stringify(r.gets)})`);
  const names = r.checks.map(([n]) => n);
  result(r.checks.length >= 3 && r.checks.every(([, ok]) => ok),
    `k6/${name}: all checks pass on the real list: ${JSON.stringify(r.checks)}`);
  result(names.some((n) => /status/.test(n)) && names.some((n) => /content.type/i.test(n)) &&
    names.some((n) => /JSON/.test(n)), `k6/${name}: checks status, content type and body`);
  for (const [what, res] of Object.entries(wrong)) {
    const w = iterate(mod.default, res);
    result(w.checks.some(([, ok]) => !ok), `k6/${name}: a check fails on ${what}`);
  }
}

// The environment, read when the module loads: load a fresh instance.
const overrides = [
  ['script-get.js', { BASE_URL: 'http://example.test:3000/' }, 'http://example.test:3000/v1/user'],
  ['microservice2-get.js', { BASE_URL: 'http://example.test:8081/' }, 'http://example.test:8081/v1/avatar'],
  ['microservice2-get.js', { M2_PATH: '/v2/avatars' }, 'http://localhost:3000/v2/avatars'],
];
for (const [i, [name, env, want]] of overrides.entries()) {
  globalThis.__ENV = env;
  const fresh = await import(`${pathToFileURL(`${dir}/${name}`).href}?env-${i}`);
  const r = iterate(fresh.default, good);
  result(r.gets.length === 1 && r.gets[0] === want,
    `k6/${name}: ${JSON.stringify(env)} GETs ${r.gets[0]}`);
}
// EXPECTED_USERS: each case in a fresh copy of the scripts (they share
// script-get.js, which reads it once, when it loads), checked on answers
// with 20 records, 3, 19 and none.
const { cpSync, mkdirSync, readdirSync } = await import('node:fs');
const sized = (n) => ({ ...good, body: JSON.stringify(users.slice(0, n)) });
const countCases = [
  // [EXPECTED_USERS, {answer: whether every check passes}, has a count check]
  ['20', { 20: true, 3: false, 19: false, 0: false }, true],
  ['3', { 20: false, 3: true, 19: false, 0: false }, true],
  ['0', { 20: true, 3: true, 19: true, 0: true }, false],
];
for (const [n, want, counted] of countCases) {
  const copy = `${dir}/expected-${n}`;
  mkdirSync(copy);
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.js') || f === 'package.json'))
    cpSync(`${dir}/${f}`, `${copy}/${f}`);
  globalThis.__ENV = { EXPECTED_USERS: n };
  for (const name of Object.keys(targets)) {
    const mod = await import(pathToFileURL(`${copy}/${name}`).href);
    for (const [size, pass] of Object.entries(want)) {
      const r = iterate(mod.default, sized(Number(size)));
      const all = r.checks.every(([, ok]) => ok);
      result(all === pass, `k6/${name}: EXPECTED_USERS=${n}: ${size} users ${pass ? 'pass' : 'fail'}: ${JSON.stringify(r.checks.filter(([, ok]) => !ok))}`);
    }
    const r = iterate(mod.default, sized(20));
    const count = r.checks.filter(([c]) => /\busers\b/.test(c) && new RegExp(`\\b${n}\\b`).test(c));
    result(counted ? count.length === 1 : r.checks.length === 3,
      `k6/${name}: EXPECTED_USERS=${n}: ${counted ? 'a' : 'no'} count check: ${JSON.stringify(r.checks.map(([c]) => c))}`);
    const bad = iterate(mod.default, { ...good, body: '{"id":"1"}' });
    result(bad.checks.some(([, ok]) => !ok), `k6/${name}: EXPECTED_USERS=${n}: a check fails on an object`);
  }
}
for (const [i, n] of ['abc', '-1', '3.5', ' 3', '1e3'].entries()) {
  globalThis.__ENV = { EXPECTED_USERS: n };
  let error = null;
  try {
    await import(`${pathToFileURL(`${dir}/script-get.js`).href}?bad-${i}`);
  } catch (e) {
    error = e;
  }
  result(error !== null && /EXPECTED_USERS/.test(error.message),
    `k6/script-get.js: EXPECTED_USERS='${n}' is refused when it loads (${error && error.message})`);
}

globalThis.__ENV = { P95_MS: '250' };
const p95 = await import(`${pathToFileURL(`${dir}/script-get.js`).href}?p95`);
result(p95.options.thresholds.http_req_duration.includes('p(95)<250'),
  'k6/script-get.js: P95_MS=250 sets the p(95) bound');

process.exit(fails === 0 ? 0 : 1);
EOF

if node "$tmp/run/harness.js" "$tmp/run" "$fixture"; then
	:
else
	fails=$((fails + 1))
fi

if [ "$fails" -ne 0 ]; then
	echo "k6.sh: $fails failure(s)"
	exit 1
fi
echo "k6.sh: all checks pass"
