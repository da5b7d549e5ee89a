/* routes.c -- every answer the API gives, built once, and the routing. */
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "routes.h"

static const char body_healthz[] = "{\"status\":\"ok\"}";
static const char *const body_readyz[ROUTES_READINESS_COUNT] = {
	"{\"status\":\"ready\"}",
	"{\"status\":\"not ready\",\"reason\":\"stopping\"}",
	"{\"status\":\"not ready\",\"reason\":\"upstream unreachable\"}"};
static const char body_not_found[] = "{\"error\":\"not found\"}";
static const char body_user_not_found[] = "{\"error\":\"user not found\"}";
static const char body_method[] = "{\"error\":\"method not allowed\"}";
static const char body_internal[] = "{\"error\":\"internal error\"}";

int
routes_headers(struct MHD_Response *resp, const char *type, int closing)
{
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            type != NULL ? type : "application/json")
	    != MHD_YES ||
	    MHD_add_response_header(resp, "Engine", ROUTES_ENGINE) != MHD_YES ||
	    (closing &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
	                             "close") != MHD_YES))
		return -1;
	return 0;
}

struct MHD_Response *
routes_response(const char *body, size_t len, const char *type, int closing)
{
	struct MHD_Response *resp;

	/* MUST_COPY: the response owns its body, so it can outlive the
	 * fixture after a reload while a slow client still reads it. */
	resp = MHD_create_response_from_buffer(len, (void *)body,
	                                       MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return NULL;
	if (routes_headers(resp, type, closing) < 0) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* A JSON response with an optional header NAME: VALUE. */
static struct MHD_Response *
json_response(const char *body, size_t len, const char *name,
              const char *value, int closing)
{
	struct MHD_Response *resp = routes_response(body, len, NULL, closing);

	if (resp != NULL && name != NULL &&
	    MHD_add_response_header(resp, name, value) != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Write PREFIX then ID percent-encoded (RFC 3986 unreserved characters
 * and sub-delims kept) into OUT.  Returns 0, or -1 if it does not fit. */
static int
location_format(char *out, size_t size, const char *prefix, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(prefix);
	const unsigned char *p;

	if (o >= size)
		return -1;
	memcpy(out, prefix, o);
	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		if (o + 4 > size)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~!$&'()*+,;=:@", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

void
routes_free(struct routes *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->list != NULL)
		MHD_destroy_response(r->list);
	for (i = 0; r->users != NULL && i < r->count; i++)
		if (r->users[i] != NULL)
			MHD_destroy_response(r->users[i]);
	free(r->users);
	if (r->healthz != NULL)
		MHD_destroy_response(r->healthz);
	for (i = 0; i < ROUTES_READINESS_COUNT; i++)
		if (r->readyz[i] != NULL)
			MHD_destroy_response(r->readyz[i]);
	if (r->not_found != NULL)
		MHD_destroy_response(r->not_found);
	if (r->user_not_found != NULL)
		MHD_destroy_response(r->user_not_found);
	if (r->method_not_allowed != NULL)
		MHD_destroy_response(r->method_not_allowed);
	if (r->internal_error != NULL)
		MHD_destroy_response(r->internal_error);
	if (r->owns_fx)
		fixture_free(r->fx);
	free(r);
}

struct routes *
routes_build(struct fixture *fx, int owns_fx, const char *path, int closing)
{
	char location[3 * 1024 + CONFIG_PATH_MAX + 2];
	struct routes *r;
	size_t i;

	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		if (owns_fx)
			fixture_free(fx);
		return NULL;
	}
	r->fx = fx;
	r->owns_fx = owns_fx;
	r->path = path;
	r->closing = closing;
	if (strcmp(path, "/") == 0)
		strcpy(r->prefix, "/");
	else
		snprintf(r->prefix, sizeof(r->prefix), "%s/", path);
	r->prefix_len = strlen(r->prefix);
	r->count = fx->count;
	r->users = calloc(fx->count ? fx->count : 1,
	                  sizeof(struct MHD_Response *));
	if (r->users == NULL)
		goto fail;
	r->list = json_response(fx->body, fx->body_len,
	                        MHD_HTTP_HEADER_LOCATION, path, closing);
	r->healthz = json_response(body_healthz, strlen(body_healthz), NULL,
	                           NULL, closing);
	for (i = 0; i < ROUTES_READINESS_COUNT; i++) {
		r->readyz[i] = json_response(body_readyz[i],
		                             strlen(body_readyz[i]), NULL, NULL,
		                             closing);
		if (r->readyz[i] == NULL)
			goto fail;
	}
	r->not_found = json_response(body_not_found, strlen(body_not_found),
	                             NULL, NULL, closing);
	r->user_not_found = json_response(body_user_not_found,
	                                  strlen(body_user_not_found), NULL,
	                                  NULL, closing);
	r->method_not_allowed = json_response(body_method, strlen(body_method),
	                                      MHD_HTTP_HEADER_ALLOW, "GET, HEAD",
	                                      closing);
	r->internal_error = json_response(body_internal, strlen(body_internal),
	                                  NULL, NULL, closing);
	if (r->list == NULL || r->healthz == NULL || r->not_found == NULL ||
	    r->user_not_found == NULL || r->method_not_allowed == NULL ||
	    r->internal_error == NULL)
		goto fail;
	for (i = 0; i < fx->count; i++) {
		const struct fixture_user *u = &fx->users[i];

		if (location_format(location, sizeof(location), r->prefix,
		                    u->id) < 0)
			goto fail;
		r->users[i] = json_response(u->body, u->body_len,
		                            MHD_HTTP_HEADER_LOCATION, location,
		                            closing);
		if (r->users[i] == NULL)
			goto fail;
	}
	return r;

fail:
	routes_free(r);
	return NULL;
}

struct MHD_Response *
routes_match(const struct routes *r, const char *url, const char *method,
             unsigned *status, enum route_status *index, enum route *route)
{
	struct MHD_Response *resp;
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	          strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	*status = MHD_HTTP_OK;
	*index = STATUS_200;
	if (strcmp(url, "/healthz") == 0) {
		*route = ROUTE_HEALTHZ;
		resp = r->healthz;
	} else if (strcmp(url, "/readyz") == 0) {
		*route = ROUTE_READYZ;
		resp = r->readyz[ROUTES_READY];
	} else if (strcmp(url, "/metrics") == 0) {
		*route = ROUTE_METRICS;
		resp = NULL;
	} else if (strcmp(url, r->path) == 0) {
		*route = ROUTE_LIST;
		resp = r->list;
	} else if (strncmp(url, r->prefix, r->prefix_len) == 0 &&
	           url[r->prefix_len] != '\0' &&
	           strchr(url + r->prefix_len, '/') == NULL) {
		const struct fixture_user *u;

		*route = ROUTE_USER;
		u = fixture_find(r->fx, url + r->prefix_len);
		if (u != NULL) {
			resp = r->users[u - r->fx->users];
		} else {
			resp = r->user_not_found;
			*status = MHD_HTTP_NOT_FOUND;
			*index = STATUS_404;
		}
	} else {
		*route = ROUTE_OTHER;
		*status = MHD_HTTP_NOT_FOUND;
		*index = STATUS_404;
		return r->not_found;
	}
	if (!get) {
		*status = MHD_HTTP_METHOD_NOT_ALLOWED;
		*index = STATUS_405;
		return r->method_not_allowed;
	}
	return resp;
}

size_t
routes_body_len(const struct routes *r, const struct MHD_Response *resp,
                const char *url)
{
	const struct fixture_user *u;

	if (resp == r->list)
		return r->fx->body_len;
	if (resp == r->healthz)
		return sizeof(body_healthz) - 1;
	if (resp == r->not_found)
		return sizeof(body_not_found) - 1;
	if (resp == r->user_not_found)
		return sizeof(body_user_not_found) - 1;
	if (resp == r->method_not_allowed)
		return sizeof(body_method) - 1;
	if (resp == r->internal_error)
		return sizeof(body_internal) - 1;
	u = fixture_find(r->fx, url + r->prefix_len);
	return u != NULL ? u->body_len : 0;
}
