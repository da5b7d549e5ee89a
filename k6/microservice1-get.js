// k6/microservice1-get.js -- the reference benchmark's name for the same
// load test as k6/script-get.js: GET BASE_URL/v1/user, with the same
// checks and thresholds (edit them there).
//
//   k6 run -d 15s -u 100 k6/microservice1-get.js
//   k6 run -e BASE_URL=http://127.0.0.1:3000 -d 90s -u 100 k6/microservice1-get.js
import getUsers, { options as getUsersOptions } from './script-get.js';

export const options = getUsersOptions;

export default function () {
  getUsers();
}
