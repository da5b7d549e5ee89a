// k6/script-get.js -- load test: GET BASE_URL/v1/user, the list of users.
//
//   k6 run -d 90s -u 100 k6/script-get.js
//   k6 run -e BASE_URL=http://10.0.0.5:8080 -d 15s -u 100 k6/script-get.js
//   k6 run -e EXPECTED_USERS=3 k6/script-get.js     # another fixture
//
// The checks expect EXPECTED_USERS records (default 20, the bundled
// data/users.json); EXPECTED_USERS=0 skips the count check, for any
// fixture.  Either way the body must be a JSON array of records with
// unique string ids.
//
// -u and -d on the command line override vus and duration below.  There
// are deliberately no `scenarios`: k6 refuses `duration` together with
// `scenarios`, and a command-line -d replaces them anyway.  The run fails
// (k6 exits 99) when a threshold is crossed; P95_MS sets the latency bound.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TARGET = `${BASE_URL}/v1/user`;
// The record count the checks expect: EXPECTED_USERS, 0 = do not check.
// A bad value stops the run at once (k6 aborts on an error in the init
// stage) rather than failing every check.
const USERS = (() => {
  const v = __ENV.EXPECTED_USERS;
  if (v === undefined || v === '') return 20;
  if (!/^[0-9]{1,9}$/.test(v)) {
    throw new Error(`EXPECTED_USERS must be a whole number (0: do not check the count), not '${v}'`);
  }
  return Number(v);
})();

export const options = {
  vus: 10,
  duration: '30s',
  thresholds: {
    http_req_failed: ['rate<0.01'],
    // Without this, failed checks are only reported, they fail nothing.
    checks: ['rate>0.99'],
    http_req_duration: [`p(95)<${__ENV.P95_MS || 100}`],
  },
};

// The body as an array, or null when it is not a JSON array.
function parseArray(body) {
  try {
    const v = JSON.parse(body);
    return Array.isArray(v) ? v : null;
  } catch (e) {
    return null;
  }
}

// Whether USERS is an array of records (objects) with unique string ids.
function records(users) {
  const ids = new Set();

  return users !== null && users.every((u) => u !== null && typeof u === 'object' &&
    typeof u.id === 'string' && !ids.has(u.id) && ids.add(u.id));
}

const checks = {
  'status is 200': (r) => r.status === 200,
  'content type is application/json': (r) =>
    String(r.headers['Content-Type'] || '').split(';')[0].trim() === 'application/json',
  'body is a JSON array of records with unique ids': (r) => records(parseArray(r.body)),
};
if (USERS > 0) {
  checks[`body has the ${USERS} users`] = (r) => {
    const users = parseArray(r.body);
    return users !== null && users.length === USERS;
  };
}

// One GET of URL (the list) with its checks; k6/microservice2-get.js
// uses it on its own URL.
export function getList(url) {
  const res = http.get(url);
  check(res, checks);
}

export default function () {
  getList(TARGET);
}
