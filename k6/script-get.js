// k6/script-get.js -- load test: GET BASE_URL/v1/user, the list of 20 users.
//
//   k6 run -d 90s -u 100 k6/script-get.js
//   k6 run -e BASE_URL=http://10.0.0.5:8080 -d 15s -u 100 k6/script-get.js
//
// -u and -d on the command line override vus and duration below.  There
// are deliberately no `scenarios`: k6 refuses `duration` together with
// `scenarios`, and a command-line -d replaces them anyway.  The run fails
// (k6 exits 99) when a threshold is crossed; P95_MS sets the latency bound.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TARGET = `${BASE_URL}/v1/user`;
const USERS = 20;

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

// One GET of URL (the list) with its checks; k6/microservice2-get.js
// uses it on its own URL.
export function getList(url) {
  const res = http.get(url);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'content type is application/json': (r) =>
      String(r.headers['Content-Type'] || '').split(';')[0].trim() === 'application/json',
    'body is a JSON array of the 20 users in order': (r) => {
      const users = parseArray(r.body);
      return users !== null && users.length === USERS &&
        users.every((u, i) => u !== null && typeof u === 'object' && u.id === String(i + 1));
    },
  });
}

export default function () {
  getList(TARGET);
}
