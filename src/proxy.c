/* proxy.c -- relay mode's answers: upstream outcomes as libmicrohttpd responses. */
/*
 * The server's side of the relay (relay.c knows nothing of HTTP
 * servers): suspend a client connection while its upstream request runs
 * and resume it from the relay's completion callback (epoll mode), and
 * turn each outcome into a status and a response, as h2o's
 * lib/core/proxy.c owns the 502s of its HTTP client.  The validators
 * pass through: the client's If-None-Match, If-Match and Accept-Encoding
 * go upstream, the upstream's ETag and Content-Encoding come back, and
 * the upstream decides 304 and 412 (the request path hashes nothing).
 */
#include <string.h>

#include <microhttpd.h>

#include "proxy.h"

static const char *const kind_bodies[RELAY_KIND_COUNT] = {
	"",
	"{\"error\":\"upstream unreachable\"}",
	"{\"error\":\"upstream timed out\"}",
	"{\"error\":\"upstream answered a non-2xx status\"}",
	"{\"error\":\"upstream answered a non-JSON content type\"}",
	"{\"error\":\"upstream body too large\"}",
	"{\"error\":\"upstream body is not JSON\"}",
	"{\"error\":\"upstream connection failed\"}",
	"{\"error\":\"shutting down\"}"};

static const char body_busy[] = "{\"error\":\"upstream queue full\"}";

/* The bodies of R's prebuilt 404 and 412 (routes.c, spec 13 sections 2
 * and 5), for the access log. */
#define USER_NOT_FOUND_LEN (sizeof("{\"error\":\"user not found\"}") - 1)
#define PRECONDITION_LEN (sizeof("{\"error\":\"precondition failed\"}") - 1)

const char *
proxy_error_body(enum relay_kind kind)
{
	return kind == RELAY_KIND_COUNT ? body_busy
	       : kind_bodies[kind == RELAY_OK ? RELAY_STATUS : kind];
}

/* The relay's completion callback in epoll mode: the job is done, resume
 * its connection (ARG), whose handler then finds it done. */
static void
proxy_resume(void *arg, struct relay_job *job, const struct relay_outcome *out)
{
	(void)job;
	(void)out;
	MHD_resume_connection(arg);
}

/* The first field NAME of CONN's request, or NULL. */
static const char *
field(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

enum proxy_step
proxy_request(struct relay *rl, int blocking, struct MHD_Connection *conn,
              const char *id, unsigned slot, struct relay_job **job,
              void **req_cls)
{
	struct relay_fields f;
	enum proxy_step step = PROXY_ANSWER;

	if (*job != NULL) {
		if (relay_done(*job))
			return PROXY_ANSWER;
		MHD_suspend_connection(conn); /* not expected: wait again */
		return PROXY_WAIT;
	}
	*job = relay_acquire(rl);
	if (*job == NULL)
		return PROXY_ANSWER; /* 503 at once */
	f.request_id = field(conn, "X-Request-Id");
	f.traceparent = field(conn, "traceparent");
	f.if_none_match = field(conn, MHD_HTTP_HEADER_IF_NONE_MATCH);
	f.if_match = field(conn, MHD_HTTP_HEADER_IF_MATCH);
	f.accept_encoding = field(conn, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	relay_note_set(*job, slot);
	/* No such record first: a precondition counts only for a 2xx
	 * (RFC 9110 13.2.1). */
	if (id != NULL && relay_target(*job, id) < 0)
		step = PROXY_NOT_FOUND;
	else if (relay_forward(*job, &f) < 0)
		step = PROXY_PRECONDITION;
	if (step != PROXY_ANSWER) {
		relay_release(*job);
		*job = NULL;
		return step;
	}
	if (blocking) {
		relay_submit(*job, NULL, NULL);
		relay_wait(*job);
		return PROXY_ANSWER;
	}
	*req_cls = *job;
	MHD_suspend_connection(conn);
	relay_submit(*job, proxy_resume, conn);
	return PROXY_WAIT;
}

/* MHD frees a response that owns a slot's buffer: return the slot. */
static void
proxy_response_freed(void *cls)
{
	relay_release(cls);
}

/* A 304's body reader, never called: libmicrohttpd 0.9.75 sends no body
 * with a 304, and only its size makes the Content-Length. */
static ssize_t
proxy_no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls;
	(void)pos;
	(void)buf;
	(void)max;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Add NAME: VALUE to RESP unless VALUE is NULL.  0, or -1 if out of
 * memory. */
static int
header_opt(struct MHD_Response *resp, const char *name, const char *value)
{
	return value == NULL ||
	       MHD_add_response_header(resp, name, value) == MHD_YES ? 0 : -1;
}

/* The 200 for JOB's outcome OUT (a 2xx): its body, which the response
 * owns (and with it the slot) from here on.  NULL if out of memory (the
 * slot returned). */
static struct MHD_Response *
answer_ok(const struct routes *r, struct relay_job *job,
          const struct relay_outcome *out, const struct proxy_answer *a)
{
	char location[CONFIG_PATH_MAX + 2 + RELAY_ID_MAX + 1];
	const char *id = relay_job_id(job), *where = r->path;
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		out->len, out->body, proxy_response_freed, job);
	if (resp == NULL) {
		relay_release(job);
		return NULL;
	}
	/* A record's Location as routes.c makes it: PATH/ and the id
	 * percent-encoded (relay_job_id is, and fits: RELAY_ID_MAX). */
	if (id != NULL) {
		size_t n = strlen(id);

		memcpy(location, r->prefix, r->prefix_len);
		memcpy(location + r->prefix_len, id, n + 1);
		where = location;
	}
	if (routes_headers(resp, NULL, r->closing) < 0 ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, where)
	    != MHD_YES ||
	    header_opt(resp, MHD_HTTP_HEADER_ETAG, out->etag) < 0 ||
	    header_opt(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
	               out->encoding) < 0 ||
	    routes_data_headers(r, resp, a->slot) < 0) {
		MHD_destroy_response(resp); /* returns the slot */
		return NULL;
	}
	return resp;
}

/* The 304 for OUT: no body; the Content-Length is the upstream's (its
 * 200's size, RFC 9110 8.6), which a response of that size with no body
 * read gives (libmicrohttpd 0.9.75: a 0-byte buffer would say 0, which
 * RFC 9110 8.6 forbids unless the 200 is empty; a size unknown, chunked
 * and a "0" chunk after the head).  NULL if out of memory. */
static struct MHD_Response *
answer_not_modified(const struct routes *r, const struct relay_outcome *out,
                    const struct proxy_answer *a)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_callback(out->declared, 1,
	                                         proxy_no_body, NULL, NULL);
	if (resp == NULL)
		return NULL;
	if (MHD_add_response_header(resp, "Engine", ROUTES_ENGINE) != MHD_YES ||
	    header_opt(resp, MHD_HTTP_HEADER_ETAG, out->etag) < 0 ||
	    routes_data_headers(r, resp, a->slot) < 0 ||
	    (r->closing &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
	                             "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* A JSON error BODY (static: not copied) with Cache-Control: no-store
 * and the CORS headers of A's slot.  NULL if out of memory. */
static struct MHD_Response *
answer_error(const struct routes *r, const char *body,
             const struct proxy_answer *a)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	if (routes_headers(resp, NULL, r->closing) < 0 ||
	    routes_error_headers(r, resp, a->slot) < 0) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Set A to R's prebuilt 412 (STATUS 412) or 404 "user not found". */
static void
answer_prebuilt(const struct routes *r, unsigned status,
                struct proxy_answer *a)
{
	a->status = status;
	a->persistent = 1;
	if (status == MHD_HTTP_PRECONDITION_FAILED) {
		a->index = STATUS_412;
		a->resp = routes_precondition_failed(r, a->slot);
		a->len = PRECONDITION_LEN;
	} else {
		a->index = STATUS_404;
		a->resp = routes_user_not_found(r, a->slot);
		a->len = USER_NOT_FOUND_LEN;
	}
}

void
proxy_response(const struct routes *r, enum proxy_step step,
               struct relay_job *job, struct proxy_answer *a)
{
	const struct relay_outcome *out;
	const char *body;

	a->persistent = 0;
	a->len = 0;
	if (step == PROXY_PRECONDITION || step == PROXY_NOT_FOUND) {
		answer_prebuilt(r, step == PROXY_NOT_FOUND ? MHD_HTTP_NOT_FOUND
		                   : MHD_HTTP_PRECONDITION_FAILED, a);
		return;
	}
	if (job == NULL) {
		a->status = proxy_error_status(RELAY_KIND_COUNT);
		a->index = proxy_error_index(RELAY_KIND_COUNT);
		body = proxy_error_body(RELAY_KIND_COUNT);
		a->len = strlen(body);
		a->resp = answer_error(r, body, a);
		return;
	}
	a->slot = relay_note(job);
	a->route = relay_job_id(job) != NULL ? ROUTE_USER : ROUTE_LIST;
	out = relay_outcome(job);
	if (out->kind == RELAY_OK && out->status >= 200 && out->status <= 299) {
		a->status = MHD_HTTP_OK;
		a->index = STATUS_200;
		a->len = out->len;
		a->resp = answer_ok(r, job, out, a); /* the slot goes with it */
		return;
	}
	if (out->kind == RELAY_OK && out->status == MHD_HTTP_NOT_MODIFIED) {
		a->status = MHD_HTTP_NOT_MODIFIED;
		a->index = STATUS_304;
		a->resp = answer_not_modified(r, out, a);
		relay_release(job); /* the ETag is copied */
		return;
	}
	if (out->kind == RELAY_OK && (out->status == MHD_HTTP_NOT_FOUND ||
	                              out->status ==
	                              MHD_HTTP_PRECONDITION_FAILED)) {
		answer_prebuilt(r, out->status, a);
		relay_release(job);
		return;
	}
	/* RELAY_OK cannot get here: its statuses are above. */
	a->status = proxy_error_status(out->kind);
	a->index = proxy_error_index(out->kind);
	body = proxy_error_body(out->kind);
	a->len = strlen(body);
	relay_release(job);
	a->resp = answer_error(r, body, a);
}
