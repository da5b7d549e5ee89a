/* server.h -- the HTTP service: libmicrohttpd daemon, handler, reload, stop. */
#ifndef AVATAR_SERVER_H
#define AVATAR_SERVER_H

#include "config.h"
#include "error.h"
#include "fixture.h"

#include <stddef.h>

/* How long server_stop lets in-flight requests finish, in milliseconds. */
#define SERVER_DRAIN_MS 5000u

struct server;

/* Bind CFG->address and CFG->port (0 picks a free port: for tests),
 * build every response for FX once, and start libmicrohttpd in
 * CFG->mode.  The server takes FX (it is freed with the server, or at
 * once on failure); CFG->path and CFG->cache_control must outlive the
 * server (the origins are copied).  The caller must
 * have blocked the signals it wants to handle: MHD's threads inherit the
 * mask.  Returns the running server, or NULL with ERR set to
 * EXIT_UNAVAILABLE (address in use, not available, unresolvable),
 * EXIT_NOPERM (privileged port) or EXIT_OSERR. */
struct server *server_start(const struct config *cfg, struct fixture *fx,
                            struct error *err);

/* Load and validate the fixture at PATH and, if it is good, serve it:
 * every request on any thread gets either the whole old answer or the
 * whole new one.  Returns 0, or -1 with ERR set (as fixture_load) and the
 * old data still served.  Counted in /metrics either way.  Call from one
 * thread at a time (the signal loop). */
int server_reload(struct server *srv, const char *path, struct error *err);

/* The number of records being served. */
size_t server_users(struct server *srv);

/* The TCP port the server listens on. */
unsigned server_port(const struct server *srv);

/* The admin listener's TCP port (--admin-port), or 0 if there is none. */
unsigned server_admin_port(const struct server *srv);

/* The size of libmicrohttpd's per-connection memory pool, in bytes (the
 * framing check's limits derive from it: guard_limits_init). */
size_t server_pool_size(void);

/* The connection limit in force: --max-connections, lowered to fit the
 * open-file limit. */
unsigned server_max_connections(const struct server *srv);

/* From now on /readyz answers 503 {"status":"not ready","reason":
 * "stopping"}; everything else is served as before (--shutdown-delay).
 * Any thread. */
void server_unready(struct server *srv);

/* Stop gracefully and free SRV: stop accepting (new connections are
 * refused), answer every further request with "Connection: close" (and
 * /readyz with 503), close the idle keep-alive connections at once and
 * each busy one once its answer is sent, wait up to DRAIN_MS for the
 * requests in progress, then stop the daemon, closing what is left.  Returns the number of connections closed at the
 * deadline.  Does nothing and returns 0 if SRV is NULL. */
unsigned server_stop(struct server *srv, unsigned drain_ms);

/* Relay mode's front end (front.h): the requests it answered itself and
 * the connections it handed to libmicrohttpd; both 0 without it. */
void server_front_counts(const struct server *srv, unsigned long *answered,
                         unsigned long *handed);

#endif
