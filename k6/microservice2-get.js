// k6/microservice2-get.js -- the load test of microservice2 alone: avatar-api
// as the fixture tier (M1_PORT=3000 M1_PATH=/v1/avatar, the m2 service of
// docker-compose.yaml), GET BASE_URL + M2_PATH, by default
// http://localhost:3000/v1/avatar, with k6/script-get.js's checks and
// thresholds (edit them there).
//
//   k6 run -d 15s -u 100 k6/microservice2-get.js
//   k6 run -e BASE_URL=http://10.0.0.6:3000 -d 90s -u 100 k6/microservice2-get.js
import { getList, options as getUsersOptions } from './script-get.js';

const BASE_URL = (__ENV.BASE_URL || 'http://localhost:3000').replace(/\/+$/, '');
const TARGET = `${BASE_URL}${__ENV.M2_PATH || '/v1/avatar'}`;

export const options = getUsersOptions;

export default function () {
  getList(TARGET);
}
