/* routes.h -- every answer the API gives, built once, and the routing. */
/* routes_build.c makes the answers at load; routes.c picks one per request. */
#ifndef AVATAR_ROUTES_H
#define AVATAR_ROUTES_H

#include <stddef.h>

#include "config.h"
#include "fixture.h"
#include "negotiate.h"
#include "stats.h"      /* enum route, enum route_status */

struct MHD_Response;

/* The Engine header every answer carries. */
#define ROUTES_ENGINE "C/libmicrohttpd"

/* The fixed JSON bodies (their sizes are the access log's on the request
 * path). */
#define ROUTES_BODY_HEALTHZ "{\"status\":\"ok\"}"
#define ROUTES_BODY_NOT_FOUND "{\"error\":\"not found\"}"
#define ROUTES_BODY_USER_NOT_FOUND "{\"error\":\"user not found\"}"
#define ROUTES_BODY_METHOD "{\"error\":\"method not allowed\"}"
#define ROUTES_BODY_PRECONDITION "{\"error\":\"precondition failed\"}"
#define ROUTES_BODY_INTERNAL "{\"error\":\"internal error\"}"

/* The Allow header of every 405 and OPTIONS answer. */
#define ROUTES_ALLOW "GET, HEAD, OPTIONS"

/* An entity-tag: a quote, 16 hex digits, "-gz" for the gzip form, a
 * quote, and the NUL. */
#define ROUTES_ETAG_MAX 24

/* Fields of one name that a request may repeat and still be read whole
 * (RFC 9110 5.3: they make one list). */
#define ROUTES_FIELDS_MAX 4

/* What /readyz says: the index of struct routes' readyz. */
enum routes_readiness {
	ROUTES_READY,             /* 200 {"status":"ready"} */
	ROUTES_NOT_READY_STOPPING,/* 503: SIGTERM received */
	ROUTES_NOT_READY_UPSTREAM,/* 503: relay mode, the upstream
	                           * unreachable (relay_reachable) */
	ROUTES_READINESS_COUNT
};

/* How a set's answers are made: from the configuration.  The strings
 * must outlive the set. */
struct routes_opts {
	const char *path;           /* the list route */
	int gzip;                   /* --compression on */
	const char *cache_control;  /* the data routes' 200 and 304 */
	const char *const *origins; /* --cors-origin ("*": any origin) */
	size_t origin_count;        /* 0: no CORS */
	int relay_list;             /* the list is relayed (relay mode) */
	int relay_users;            /* so are the records (no --data) */
	int closing;                /* every answer: "Connection: close" */
};

/* One resource of the data routes (the list, or a record) in every form:
 * its bodies and entity-tags by coding; its responses are in struct
 * routes' reps_resp. */
struct routes_rep {
	const char *body[NEGOTIATE_CODINGS]; /* in the set's store */
	size_t len[NEGOTIATE_CODINGS];
	char etag[NEGOTIATE_CODINGS][ROUTES_ETAG_MAX];
	size_t etag_len[NEGOTIATE_CODINGS];
};

/* A set of persistent libmicrohttpd responses over one fixture.  The set
 * is immutable once built, so any number of threads may use it at once.
 * The data routes' responses come in one copy per CORS slot: slot 0 has
 * no CORS header, slot 1 + I those for origin I ("*" alone when any
 * origin is allowed). */
struct routes {
	struct fixture *fx;
	int owns_fx;                      /* routes_free frees fx */
	struct routes_opts opts;
	const char *path;                 /* the list route */
	char prefix[CONFIG_PATH_MAX + 2]; /* PATH "/": records live below */
	size_t prefix_len;
	size_t count;                     /* records */
	unsigned slots;                   /* CORS slots: 1 + origins */
	unsigned codings;                 /* 1, or 2 with gzip */
	int any_origin;                   /* "*" */
	struct routes_store *store;       /* the bodies, shared */
	struct routes_rep *reps;          /* [0] the list, [1 + I] record I
	                                   * of fx->users */
	/* Each rep's 200 and 304 by slot and coding: routes_rep_resp. */
	struct MHD_Response **reps_resp;
	struct MHD_Response **user_not_found;     /* [slot] */
	struct MHD_Response **precondition_failed;/* [slot] */
	struct MHD_Response **api_not_allowed;    /* [slot] 405 */
	struct MHD_Response **api_options;        /* [slot] 204, preflight */
	struct MHD_Response *healthz;
	struct MHD_Response *readyz[ROUTES_READINESS_COUNT];
	size_t readyz_len[ROUTES_READINESS_COUNT]; /* their bodies' bytes */
	struct MHD_Response *not_found;
	struct MHD_Response *method_not_allowed;
	struct MHD_Response *options;
	struct MHD_Response *internal_error;
	int closing;                      /* all carry "Connection: close" */
};

/* What a request's header fields ask of its answer, gathered by
 * routes_ask_field: Accept-Encoding, the conditional fields, Origin.
 * Pointers into the request (libmicrohttpd's strings), valid while the
 * request is. */
struct routes_ask {
	struct negotiate_accept accept;
	const char *if_match[ROUTES_FIELDS_MAX];
	const char *if_none_match[ROUTES_FIELDS_MAX];
	const char *origin;
	unsigned if_match_count, if_none_match_count, origin_count;
};

/* Start gathering into A. */
void routes_ask_init(struct routes_ask *a);

/* Note the header field NAME (NAME_LEN bytes, any case) whose value is
 * VALUE if it is one A gathers.  Allocates nothing; VALUE must stay valid
 * as long as A is used. */
void routes_ask_field(struct routes_ask *a, const char *name, size_t name_len,
                      const char *value);

/* What routes_match chose. */
struct routes_answer {
	struct MHD_Response *resp; /* to queue; NULL for /metrics (made per
	                            * request by the caller) and for a
	                            * request to relay */
	unsigned status;           /* the HTTP status */
	enum route_status index;
	enum route route;
	size_t len;                /* body bytes, for the access log */
	unsigned slot;             /* the request's CORS slot */
	int relay;                 /* relay this GET or HEAD of a data route */
};

/* Build every response for FX under OPTS (copied; its strings must
 * outlive the set).  The bodies are copied once into a store that the
 * responses share, so a response still being sent stays valid after
 * routes_free.  OWNS_FX hands FX to the set.  Computes each body's
 * entity-tag and, with OPTS->gzip, its gzip form (zlib, level 9).
 * Returns NULL if out of memory (FX is then freed if owned). */
struct routes *routes_build(struct fixture *fx, int owns_fx,
                            const struct routes_opts *opts);

/* Release the set's references to its responses (libmicrohttpd frees each
 * once no connection uses it, and the store with the last), and the
 * fixture if owned.  R may be NULL. */
void routes_free(struct routes *r);

/*
 * Route a request of METHOD for URL, whose header fields ASK gathered
 * (NULL: none asked anything), into *A.  GET and HEAD of a data route
 * get the form Accept-Encoding chooses, then RFC 9110 13.2.2's order:
 * If-Match (412 unless it matches, strong comparison), If-None-Match
 * (304 if it matches, weak comparison).  OPTIONS of a known route gets
 * 204 (with the CORS preflight headers for a data route and an allowed
 * Origin).  For GET or HEAD /metrics A->resp is NULL: that body is made
 * per request by the caller.  For GET or HEAD /readyz it is the "ready"
 * answer: the caller swaps in the 503 of routes_not_ready when it is
 * not.  Allocates nothing, hashes nothing.
 */
void routes_match(const struct routes *r, const char *url, const char *method,
                  const struct routes_ask *ask, struct routes_answer *a);

/* /readyz's answer when not ready for the reason WHY (not
 * ROUTES_READY), with *STATUS and *INDEX set to 503 and *LEN to its
 * body's bytes. */
static inline struct MHD_Response *
routes_not_ready(const struct routes *r, enum routes_readiness why,
                 unsigned *status, enum route_status *index, size_t *len)
{
	*status = 503;
	*index = STATUS_503;
	*len = r->readyz_len[why];
	return r->readyz[why];
}

/* The index in R->reps_resp of rep REP's answer (0: the list, 1 + I:
 * record I of R->fx->users): a 200 (NOT_MODIFIED 0) or a 304, in CORS
 * slot SLOT, form CODING (NEGOTIATE_GZIP only if R->codings is 2). */
static inline size_t
routes_rep_index(const struct routes *r, size_t rep, unsigned slot,
                 int not_modified, enum negotiate_coding coding)
{
	return ((rep * r->slots + slot) * 2 + (size_t)not_modified) *
	       NEGOTIATE_CODINGS + (size_t)coding;
}

/* Set A to the 404 of a path not served here (route "other"), as
 * routes_match answers an unknown path. */
static inline void
routes_not_found(const struct routes *r, struct routes_answer *a)
{
	a->route = ROUTE_OTHER;
	a->resp = r->not_found;
	a->status = 404;
	a->index = STATUS_404;
	a->len = sizeof(ROUTES_BODY_NOT_FOUND) - 1;
	a->slot = 0;
	a->relay = 0;
}

/* The prebuilt 404 "user not found" and 412 of CORS slot SLOT:
 * persistent (queue them, never destroy them). */
static inline struct MHD_Response *
routes_user_not_found(const struct routes *r, unsigned slot)
{
	return r->user_not_found[slot];
}

static inline struct MHD_Response *
routes_precondition_failed(const struct routes *r, unsigned slot)
{
	return r->precondition_failed[slot];
}

/* Add to RESP, a data route's 200 or 304 made per request (relay mode),
 * what the prebuilt ones carry besides the representation's own fields:
 * Cache-Control, Vary and the CORS headers of SLOT.  Returns 0, or -1 if
 * out of memory. */
int routes_data_headers(const struct routes *r, struct MHD_Response *resp,
                        unsigned slot);

/* Add to RESP, an error answer of a data route made per request (relay
 * mode: 502, 503, 504): Cache-Control: no-store and the CORS headers of
 * SLOT.  Returns 0, or -1 if out of memory. */
int routes_error_headers(const struct routes *r, struct MHD_Response *resp,
                         unsigned slot);

/* Add the headers every answer carries to RESP: Content-Type (TYPE, or
 * application/json when NULL), Engine, and "Connection: close" if
 * CLOSING.  Returns 0, or -1 if out of memory. */
int routes_headers(struct MHD_Response *resp, const char *type, int closing);

/* Create a JSON (or, with TYPE, other) response over a copy of BODY with
 * the headers every answer carries and "Cache-Control: no-store" (for
 * /metrics and errors).  Returns NULL if out of memory. */
struct MHD_Response *routes_response(const char *body, size_t len,
                                     const char *type, int closing);

/* Write PREFIX then ID percent-encoded (target_encode) into OUT, as the
 * Location of a record.  Returns 0,
 * or -1 if it does not fit in SIZE bytes. */
int routes_location(char *out, size_t size, const char *prefix,
                    const char *id);

#endif
