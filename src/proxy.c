/* proxy.c -- relay mode's answers: upstream outcomes as libmicrohttpd responses. */
/*
 * The server's side of the relay (relay.c knows nothing of HTTP
 * servers): suspend a client connection while its upstream request runs
 * and resume it from the relay's completion callback (epoll mode), and
 * turn each outcome into a status and a response, as h2o's
 * lib/core/proxy.c owns the 502s of its HTTP client.
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

/* The relay's completion callback in epoll mode: the job is done, resume
 * its connection (ARG), whose handler then finds it done. */
static void
proxy_resume(void *arg, struct relay_job *job, const struct relay_outcome *out)
{
	(void)job;
	(void)out;
	MHD_resume_connection(arg);
}

int
proxy_request(struct relay *rl, int blocking, struct MHD_Connection *conn,
              struct relay_job **job, void **req_cls)
{
	if (*job == NULL) {
		*job = relay_acquire(rl);
		if (*job != NULL) {
			struct relay_fields f = {
				MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
				                            "X-Request-Id"),
				MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
				                            "traceparent"),
				NULL, NULL, NULL};

			relay_forward(*job, &f);
		}
		if (*job != NULL && blocking) {
			relay_submit(*job, NULL, NULL);
			relay_wait(*job);
		} else if (*job != NULL) {
			*req_cls = *job;
			MHD_suspend_connection(conn);
			relay_submit(*job, proxy_resume, conn);
			return 1;
		}
	} else if (!relay_done(*job)) {
		MHD_suspend_connection(conn); /* not expected: wait again */
		return 1;
	}
	return 0;
}

/* MHD frees a response that owns a slot's buffer: return the slot. */
static void
proxy_response_freed(void *cls)
{
	relay_release(cls);
}

struct MHD_Response *
proxy_response(struct relay_job *job, const char *location, int closing,
               unsigned *status, enum route_status *index, size_t *len)
{
	const struct relay_outcome *out;
	const char *body;

	if (job == NULL) {
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		*index = STATUS_503;
		*len = strlen(body_busy);
		return routes_response(body_busy, strlen(body_busy), NULL,
		                       closing);
	}
	out = relay_outcome(job);
	if (out->kind == RELAY_OK) {
		struct MHD_Response *resp;

		*status = MHD_HTTP_OK;
		*index = STATUS_200;
		*len = out->len;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(
			out->len, out->body, proxy_response_freed, job);
		if (resp == NULL) {
			relay_release(job);
			return NULL;
		}
		/* From here the response owns the slot: destroying it returns
		 * the slot. */
		if (routes_headers(resp, NULL, closing) < 0 ||
		    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
		                            location) != MHD_YES) {
			MHD_destroy_response(resp);
			return NULL;
		}
		return resp;
	}
	switch (out->kind) {
	case RELAY_TIMEOUT:
		*status = MHD_HTTP_GATEWAY_TIMEOUT;
		*index = STATUS_504;
		break;
	case RELAY_STOPPED:
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		*index = STATUS_503;
		break;
	default:
		*status = MHD_HTTP_BAD_GATEWAY;
		*index = STATUS_502;
		break;
	}
	body = kind_bodies[out->kind];
	*len = strlen(body);
	relay_release(job);
	return routes_response(body, *len, NULL, closing);
}
