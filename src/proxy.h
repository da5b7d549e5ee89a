/* proxy.h -- relay mode's answers: upstream outcomes as libmicrohttpd responses. */
#ifndef AVATAR_PROXY_H
#define AVATAR_PROXY_H

#include "relay.h"
#include "routes.h"

struct MHD_Connection;
struct MHD_Response;

/* What proxy_request did. */
enum proxy_step {
	PROXY_WAIT,         /* CONN is suspended: return MHD_YES */
	PROXY_ANSWER,       /* *JOB is done, or NULL (no free slot): answer
	                     * with proxy_response */
	PROXY_PRECONDITION, /* an If-Match that cannot be forwarded: no job,
	                     * answer 412 (proxy_response) */
	PROXY_NOT_FOUND     /* an id too long to be a record: no job, answer
	                     * 404 (proxy_response) */
};

/*
 * Relay mode, a GET or HEAD of a data route, from the access handler:
 * the list when ID is NULL, else the record ID (percent-decoded), for
 * CORS slot SLOT.  *JOB is NULL on the request's first pass: take a
 * relay slot (none free: *JOB stays NULL, PROXY_ANSWER, proxy_response
 * gives 503 at once), keep SLOT in it (relay_note), forward the
 * client's X-Request-Id, traceparent, If-None-Match, If-Match and
 * Accept-Encoding (the first field of each, relay_forward) and either,
 * when BLOCKING (thread-per-connection mode), submit the job and wait
 * for it here, or, in epoll mode, set *REQ_CLS to the job, suspend CONN
 * and submit the job, the relay thread resuming CONN once it is done
 * (MHD then calls the handler again, with the job in *REQ_CLS).  On a
 * later pass *JOB is that job (ID and SLOT unused).  Handler threads
 * only; allocates nothing.
 */
enum proxy_step proxy_request(struct relay *rl, int blocking,
                              struct MHD_Connection *conn, const char *id,
                              unsigned slot, struct relay_job **job,
                              void **req_cls);

/* A relayed request's answer, as proxy_response makes it. */
struct proxy_answer {
	enum route route;          /* ROUTE_LIST or ROUTE_USER */
	unsigned slot;             /* the request's CORS slot */
	struct MHD_Response *resp; /* NULL if out of memory */
	unsigned status;           /* the HTTP status */
	enum route_status index;
	size_t len;                /* body bytes, for the access log */
	int persistent;            /* RESP is R's, prebuilt: queue it while
	                            * R is in use, never destroy it */
};

/*
 * The answer to a relayed request after proxy_request said STEP (not
 * PROXY_WAIT), from the set R, into A.  A->route and A->slot are the
 * caller's (what it gave proxy_request) when JOB is NULL, else JOB's own.
 * Upstream 200 (any 2xx): the upstream body (not copied: the response
 * owns JOB's buffer until libmicrohttpd frees it, which returns the
 * slot), its ETag and Content-Encoding if it sent them, Content-Type,
 * Engine, Location (the list's or the record's), Cache-Control, Vary
 * and CORS (routes_data_headers).  Upstream 304: no body, its ETag,
 * Engine, Cache-Control, Vary and CORS.  Upstream 412 or 404 (a record),
 * PROXY_PRECONDITION, PROXY_NOT_FOUND: R's prebuilt 412 or 404
 * "user not found" (persistent).  Anything else: a JSON error, 502, 503
 * or 504, with Cache-Control: no-store and CORS (routes_error_headers);
 * with JOB NULL and PROXY_ANSWER, the 503 "upstream queue full".  Every
 * answer but the 200 returns JOB's slot at once.  "Connection: close"
 * when R is closing.  Any thread.
 */
void proxy_response(const struct routes *r, enum proxy_step step,
                    struct relay_job *job, struct proxy_answer *a);

/* The JSON body of the error answer for an upstream request that ended
 * KIND (not a 2xx; RELAY_OK: a status that is no answer, 502), or for
 * RELAY_KIND_COUNT the 503 "upstream queue full".  Static. */
const char *proxy_error_body(enum relay_kind kind);

/* The status of that answer: 502, 503 or 504. */
static inline unsigned
proxy_error_status(enum relay_kind kind)
{
	return kind == RELAY_TIMEOUT ? 504
	       : kind == RELAY_STOPPED || kind == RELAY_KIND_COUNT ? 503 : 502;
}

/* Its counter (stats.h). */
static inline enum route_status
proxy_error_index(enum relay_kind kind)
{
	return kind == RELAY_TIMEOUT ? STATUS_504
	       : kind == RELAY_STOPPED || kind == RELAY_KIND_COUNT ? STATUS_503
	       : STATUS_502;
}

#endif
