/* healthcheck.h -- --healthcheck: ask a running server for GET /healthz. */
#ifndef AVATAR_HEALTHCHECK_H
#define AVATAR_HEALTHCHECK_H

#include "config.h"
#include "error.h"

/* Time limit of a health check, in milliseconds. */
#define HEALTHCHECK_TIMEOUT_MS 2000

/* Connect to CFG->address and CFG->port (a wildcard address means this
 * host's loopback), send GET /healthz and read the status line, all
 * within HEALTHCHECK_TIMEOUT_MS.  Returns 0 if the answer is 200, else -1
 * with ERR saying what went wrong.  This is the container's HEALTHCHECK. */
int healthcheck_run(const struct config *cfg, struct error *err);

#endif
