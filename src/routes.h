/* routes.h -- every answer the API gives, built once, and the routing. */
#ifndef AVATAR_ROUTES_H
#define AVATAR_ROUTES_H

#include <stddef.h>

#include "config.h"
#include "fixture.h"
#include "stats.h"      /* enum route, enum route_status */

struct MHD_Response;

/* The Engine header every answer carries. */
#define ROUTES_ENGINE "C/libmicrohttpd"

/* What /readyz says: the index of struct routes' readyz. */
enum routes_readiness {
	ROUTES_READY,             /* 200 {"status":"ready"} */
	ROUTES_NOT_READY_STOPPING,/* 503: SIGTERM received */
	ROUTES_NOT_READY_UPSTREAM,/* 503: relay mode, the upstream
	                           * unreachable (relay_reachable) */
	ROUTES_READINESS_COUNT
};

/* A set of persistent libmicrohttpd responses over one fixture.  The set
 * is immutable once built, so any number of threads may use it at once. */
struct routes {
	struct fixture *fx;
	int owns_fx;                      /* routes_free frees fx */
	const char *path;                 /* the list route */
	char prefix[CONFIG_PATH_MAX + 2]; /* PATH "/": records live below */
	size_t prefix_len;
	struct MHD_Response *list;
	struct MHD_Response **users;      /* parallel to fx->users */
	size_t count;
	struct MHD_Response *healthz;
	struct MHD_Response *readyz[ROUTES_READINESS_COUNT];
	struct MHD_Response *not_found;
	struct MHD_Response *user_not_found;
	struct MHD_Response *method_not_allowed;
	struct MHD_Response *internal_error;
	int closing;                      /* all carry "Connection: close" */
};

/* Build every response for FX, served under PATH (which must outlive the
 * set).  The bodies are copied into the responses, so a response still
 * being sent stays valid after routes_free.  OWNS_FX hands FX to the set.
 * CLOSING adds "Connection: close" to every response.  Returns NULL if out
 * of memory (FX is then freed if owned). */
struct routes *routes_build(struct fixture *fx, int owns_fx, const char *path,
                            int closing);

/* Release the set's references to its responses (libmicrohttpd frees each
 * once no connection uses it), and the fixture if owned.  R may be NULL. */
void routes_free(struct routes *r);

/* Route a request: the response to queue, with *STATUS (an HTTP code),
 * *INDEX and *ROUTE set.  For GET or HEAD /metrics it returns NULL: that
 * body is made per request by the caller.  For GET or HEAD /readyz it
 * returns the "ready" answer: the caller swaps in the 503 of
 * routes_not_ready when it is not.  Allocates nothing. */
struct MHD_Response *routes_match(const struct routes *r, const char *url,
                                  const char *method, unsigned *status,
                                  enum route_status *index,
                                  enum route *route);

/* /readyz's answer when not ready for the reason WHY (not
 * ROUTES_READY), with *STATUS and *INDEX set to 503. */
static inline struct MHD_Response *
routes_not_ready(const struct routes *r, enum routes_readiness why,
                 unsigned *status, enum route_status *index)
{
	*status = 503;
	*index = STATUS_503;
	return r->readyz[why];
}
/* The body length of RESP, which routes_match returned from R for URL
 * (found again for a record: a binary search).  For the access log. */
size_t routes_body_len(const struct routes *r, const struct MHD_Response *resp,
                       const char *url);

/* Add the headers every answer carries to RESP: Content-Type (TYPE, or
 * application/json when NULL), Engine, and "Connection: close" if
 * CLOSING.  Returns 0, or -1 if out of memory. */
int routes_headers(struct MHD_Response *resp, const char *type, int closing);

/* Create a JSON (or, with TYPE, other) response over a copy of BODY with
 * the headers every answer carries.  Returns NULL if out of memory. */
struct MHD_Response *routes_response(const char *body, size_t len,
                                     const char *type, int closing);

#endif
