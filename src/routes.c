/* routes.c -- the routing: which prebuilt answer a request gets. */
/*
 * The request path: what a request's fields ask (routes_ask) and the
 * answer routes_match picks among those routes_build.c made at load.  No
 * allocation, no hashing, no compression: a few string compares, a
 * binary search for a record, and the negotiation's parsers
 * (negotiate.c) over the fields that were sent.
 */
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "routes.h"

/* --- the request path --- */

void
routes_ask_init(struct routes_ask *a)
{
	negotiate_accept_init(&a->accept);
	a->if_match_count = a->if_none_match_count = a->origin_count = 0;
	a->origin = NULL;
}

void
routes_ask_field(struct routes_ask *a, const char *name, size_t name_len,
                 const char *value)
{
	/* By length first: most fields are none of these. */
	switch (name_len) {
	case 6:
		if (strcasecmp(name, "Origin") == 0) {
			a->origin = value;
			a->origin_count++;
		}
		break;
	case 8:
		if (strcasecmp(name, MHD_HTTP_HEADER_IF_MATCH) == 0) {
			if (a->if_match_count < ROUTES_FIELDS_MAX)
				a->if_match[a->if_match_count] = value;
			a->if_match_count++;
		}
		break;
	case 13:
		if (strcasecmp(name, MHD_HTTP_HEADER_IF_NONE_MATCH) == 0) {
			unsigned n = a->if_none_match_count;

			if (n < ROUTES_FIELDS_MAX)
				a->if_none_match[n] = value;
			a->if_none_match_count++;
		}
		break;
	case 15:
		if (strcasecmp(name, MHD_HTTP_HEADER_ACCEPT_ENCODING) == 0)
			negotiate_accept_field(&a->accept, value);
		break;
	default:
		break;
	}
}

/* The CORS slot of a request that asked ASK. */
static unsigned
cors_slot(const struct routes *r, const struct routes_ask *ask)
{
	int i;

	if (r->opts.origin_count == 0 || ask == NULL || ask->origin_count != 1)
		return 0;
	i = negotiate_origin_find(ask->origin, r->opts.origins,
	                          r->opts.origin_count);
	return i < 0 ? 0 : (unsigned)i + 1;
}

/* Whether the N fields FIELDS, one list, name TAG (LEN bytes): 1, 0, or
 * -1 when one of them is malformed (negotiate.h: then the list as a
 * whole is).  More fields than were kept count as malformed. */
static int
fields_match(const char *const *fields, unsigned n, const char *tag,
             size_t len, int weak)
{
	unsigned i;
	int found = 0;

	if (n > ROUTES_FIELDS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		int m = negotiate_etag_match(fields[i], tag, len, weak);

		if (m < 0)
			return -1;
		found |= m;
	}
	return found;
}

/* RFC 9110 13.2.2 for a GET or HEAD whose answer would be 200 with
 * entity-tag TAG: 412, 304 or 200.  No Last-Modified is sent, so
 * If-Unmodified-Since and If-Modified-Since are ignored (13.1.3-4). */
static unsigned
preconditions(const struct routes_ask *ask, const char *tag, size_t len)
{
	if (ask->if_match_count > 0 &&
	    fields_match(ask->if_match, ask->if_match_count, tag, len, 0) != 1)
		return MHD_HTTP_PRECONDITION_FAILED;
	if (ask->if_none_match_count > 0 &&
	    fields_match(ask->if_none_match, ask->if_none_match_count, tag, len,
	                 1) == 1)
		return MHD_HTTP_NOT_MODIFIED;
	return MHD_HTTP_OK;
}

/* A GET or HEAD of rep I, in slot SLOT. */
static void
rep_answer(const struct routes *r, size_t i, const struct routes_ask *ask,
           struct routes_answer *a)
{
	const struct routes_rep *rep = &r->reps[i];
	enum negotiate_coding c = NEGOTIATE_IDENTITY;
	unsigned status = MHD_HTTP_OK;

	if (ask != NULL) {
		c = negotiate_accept_choose(&ask->accept, r->codings > 1);
		status = preconditions(ask, rep->etag[c], rep->etag_len[c]);
	}
	if (status == MHD_HTTP_PRECONDITION_FAILED) {
		a->status = status;
		a->index = STATUS_412;
		a->resp = r->precondition_failed[a->slot];
		a->len = sizeof(ROUTES_BODY_PRECONDITION) - 1;
		return;
	}
	a->status = status;
	a->index = status == MHD_HTTP_OK ? STATUS_200 : STATUS_304;
	a->resp = r->reps_resp[routes_rep_index(r, i, a->slot,
	                       status == MHD_HTTP_NOT_MODIFIED, c)];
	a->len = status == MHD_HTTP_OK ? rep->len[c] : 0;
}

/* Set A to an error: RESP, STATUS, INDEX, body LEN. */
static void
answer_error(struct routes_answer *a, struct MHD_Response *resp,
             unsigned status, enum route_status index, size_t len)
{
	a->resp = resp;
	a->status = status;
	a->index = index;
	a->len = len;
}

void
routes_match(const struct routes *r, const char *url, const char *method,
             const struct routes_ask *ask, struct routes_answer *a)
{
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	          strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int options = !get && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
	const struct fixture_user *u = NULL;

	a->status = MHD_HTTP_OK;
	a->index = STATUS_200;
	a->slot = 0;
	a->relay = 0;
	a->len = 0;
	/* The fixed routes first: they win over a --path that shadows them
	 * ("/" or "/healthz"). */
	if (strcmp(url, "/healthz") == 0) {
		a->route = ROUTE_HEALTHZ;
		a->resp = r->healthz;
		a->len = sizeof(ROUTES_BODY_HEALTHZ) - 1;
	} else if (strcmp(url, "/readyz") == 0) {
		a->route = ROUTE_READYZ;
		a->resp = r->readyz[ROUTES_READY];
		a->len = r->readyz_len[ROUTES_READY];
	} else if (strcmp(url, "/metrics") == 0) {
		a->route = ROUTE_METRICS;
		a->resp = NULL;
	} else if (strcmp(url, r->path) == 0) {
		a->route = ROUTE_LIST;
	} else if (strncmp(url, r->prefix, r->prefix_len) == 0 &&
	           url[r->prefix_len] != '\0' &&
	           strchr(url + r->prefix_len, '/') == NULL) {
		a->route = ROUTE_USER;
	} else {
		routes_not_found(r, a);
		return;
	}
	if (a->route != ROUTE_LIST && a->route != ROUTE_USER) {
		if (options)
			answer_error(a, r->options, MHD_HTTP_NO_CONTENT,
			             STATUS_204, 0);
		else if (!get)
			answer_error(a, r->method_not_allowed,
			             MHD_HTTP_METHOD_NOT_ALLOWED, STATUS_405,
			             sizeof(ROUTES_BODY_METHOD) - 1);
		return;
	}
	/* A data route. */
	a->slot = cors_slot(r, ask);
	if (options) {
		answer_error(a, r->api_options[a->slot], MHD_HTTP_NO_CONTENT,
		             STATUS_204, 0);
		return;
	}
	if (!get) {
		answer_error(a, r->api_not_allowed[a->slot],
		             MHD_HTTP_METHOD_NOT_ALLOWED, STATUS_405,
		             sizeof(ROUTES_BODY_METHOD) - 1);
		return;
	}
	if (a->route == ROUTE_LIST ? r->opts.relay_list : r->opts.relay_users) {
		a->relay = 1;
		a->resp = NULL;
		return;
	}
	if (a->route == ROUTE_LIST) {
		rep_answer(r, 0, ask, a);
		return;
	}
	u = fixture_find(r->fx, url + r->prefix_len);
	if (u == NULL) {
		answer_error(a, r->user_not_found[a->slot], MHD_HTTP_NOT_FOUND,
		             STATUS_404,
		             sizeof(ROUTES_BODY_USER_NOT_FOUND) - 1);
		return;
	}
	rep_answer(r, 1 + (size_t)(u - r->fx->users), ask, a);
}
