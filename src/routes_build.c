/* routes_build.c -- every answer the API gives, built once per load. */
/*
 * Everything a request can be answered with is made here, at load and at
 * each reload: each resource of the data routes (the list, each record)
 * in its identity and gzip forms, each with its entity-tag, as a 200 and
 * a 304 for each CORS slot; the errors; the OPTIONS answers.  The request
 * path (routes_match) only picks one: no allocation, no hashing, no
 * compression.
 *
 * The bodies live once, in a store (one allocation, reference-counted)
 * that every response points into without copying; libmicrohttpd calls
 * store_unref when it frees a response, after its last connection is
 * done with it, and the last reference frees the store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
/* next_in as a pointer to const (zlib 1.2.5.2 and later) */
#define ZLIB_CONST
#include <zlib.h>

#include "atomicvar.h"
#include "routes.h"
#include "target.h"

/* The bodies of a set, shared by its responses. */
struct routes_store {
	int refs;      /* the set's own, and one per response (atomic) */
	char data[];
};

static const char *const body_readyz[ROUTES_READINESS_COUNT] = {
	"{\"status\":\"ready\"}",
	"{\"status\":\"not ready\",\"reason\":\"stopping\"}",
	"{\"status\":\"not ready\",\"reason\":\"upstream unreachable\"}"};

/* What a CORS answer exposes to the page's script beyond the safelisted
 * fields, and what a preflight allows. */
#define CORS_EXPOSE "ETag, Location, Engine"
#define CORS_ALLOW_HEADERS "If-Match, If-None-Match, X-Request-Id, traceparent"
/* How long a browser may keep a preflight's answer, in seconds (Chrome
 * caps it at 7200, Firefox at 86400). */
#define CORS_MAX_AGE "600"

/* zlib's gzip wrapper (windowBits 15 + 16), level 9, memLevel 9: the
 * list of the shipped fixture, 3,616 bytes, becomes 742 (level 6: the
 * same to a few bytes); made once per reload, so the level costs
 * nothing per request. */
#define GZIP_LEVEL 9
#define GZIP_WINDOW_BITS (15 + 16)
#define GZIP_MEM_LEVEL 9

static void
store_unref(void *cls)
{
	struct routes_store *s = cls;

	if (atom_add_sync(s->refs, -1) == 0)
		free(s);
}

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
	if (routes_headers(resp, type, closing) < 0 ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	                            "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Add NAME: VALUE to RESP; 0, or -1 if out of memory. */
static int
header_add(struct MHD_Response *resp, const char *name, const char *value)
{
	return MHD_add_response_header(resp, name, value) == MHD_YES ? 0 : -1;
}

/* The Vary of the data routes' 200 and 304, or NULL for none. */
static const char *
vary_of(const struct routes *r)
{
	int origin = r->opts.origin_count > 0 && !r->any_origin;

	if (r->codings > 1)
		return origin ? "Accept-Encoding, Origin" : "Accept-Encoding";
	return origin ? "Origin" : NULL;
}

/* The CORS headers of SLOT (none for slot 0). */
static int
cors_headers(const struct routes *r, struct MHD_Response *resp, unsigned slot)
{
	if (slot == 0)
		return 0;
	return header_add(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
	                  r->opts.origins[slot - 1]) < 0 ||
	       header_add(resp, "Access-Control-Expose-Headers",
	                  CORS_EXPOSE) < 0 ? -1 : 0;
}

int
routes_data_headers(const struct routes *r, struct MHD_Response *resp,
                    unsigned slot)
{
	const char *vary = vary_of(r);

	if (header_add(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	               r->opts.cache_control) < 0 ||
	    (vary != NULL && header_add(resp, MHD_HTTP_HEADER_VARY, vary) < 0))
		return -1;
	return cors_headers(r, resp, slot);
}

int
routes_error_headers(const struct routes *r, struct MHD_Response *resp,
                     unsigned slot)
{
	if (header_add(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") < 0)
		return -1;
	return cors_headers(r, resp, slot);
}

/* A JSON error with Cache-Control: no-store, Allow when ALLOW, and the
 * CORS headers of SLOT. */
static struct MHD_Response *
error_response(const struct routes *r, const char *body, int allow,
               unsigned slot)
{
	struct MHD_Response *resp = routes_response(body, strlen(body), NULL,
	                                            r->closing);

	if (resp != NULL &&
	    ((allow && header_add(resp, MHD_HTTP_HEADER_ALLOW,
	                          ROUTES_ALLOW) < 0) ||
	     cors_headers(r, resp, slot) < 0)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* The 204 of OPTIONS: Allow; on a data route with an allowed origin
 * (SLOT > 0), the CORS preflight's fields too. */
static struct MHD_Response *
options_response(const struct routes *r, int data, unsigned slot)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(0, (void *)"",
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	if (header_add(resp, MHD_HTTP_HEADER_ALLOW, ROUTES_ALLOW) < 0 ||
	    header_add(resp, "Engine", ROUTES_ENGINE) < 0 ||
	    (r->closing && header_add(resp, MHD_HTTP_HEADER_CONNECTION,
	                              "close") < 0) ||
	    (data && r->opts.origin_count > 0 && !r->any_origin &&
	     header_add(resp, MHD_HTTP_HEADER_VARY, "Origin") < 0) ||
	    (slot > 0 &&
	     (header_add(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN,
	                 r->opts.origins[slot - 1]) < 0 ||
	      header_add(resp, "Access-Control-Allow-Methods",
	                 ROUTES_ALLOW) < 0 ||
	      header_add(resp, "Access-Control-Allow-Headers",
	                 CORS_ALLOW_HEADERS) < 0 ||
	      header_add(resp, "Access-Control-Max-Age", CORS_MAX_AGE) < 0))) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

int
routes_location(char *out, size_t size, const char *prefix, const char *id)
{
	size_t o = strlen(prefix);

	if (o >= size)
		return -1;
	memcpy(out, prefix, o);
	return target_encode(out + o, size - o, id) < 0 ? -1 : 0;
}

/* The strong entity-tag of the LEN bytes at BODY: FNV-1a's 64 bits in
 * hex, "-gz" added for the gzip form.  Computed once per body and
 * reload; a 64-bit hash makes two different bodies of one resource
 * share a tag with odds of 2^-64. */
static void
etag_make(struct routes_rep *rep, const char *body, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned long long h = 14695981039346656037ULL;
	size_t i;
	char *t = rep->etag[NEGOTIATE_IDENTITY];

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)body[i];
		h *= 1099511628211ULL;
	}
	t[0] = '"';
	for (i = 0; i < 16; i++)
		t[1 + i] = hex[(h >> (60 - 4 * i)) & 15];
	t[17] = '"';
	t[18] = '\0';
	rep->etag_len[NEGOTIATE_IDENTITY] = 18;
	memcpy(rep->etag[NEGOTIATE_GZIP], t, 17);
	memcpy(rep->etag[NEGOTIATE_GZIP] + 17, "-gz\"", 5);
	rep->etag_len[NEGOTIATE_GZIP] = 21;
}

/* Compress the LEN bytes at IN into OUT (room for deflateBound's worth),
 * with Z reset for it.  Returns the gzip form's size, or 0 on failure. */
static size_t
gzip_into(z_stream *z, const char *in, size_t len, char *out, size_t room)
{
	if (deflateReset(z) != Z_OK)
		return 0;
	z->next_in = (const Bytef *)in;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)out;
	z->avail_out = (uInt)room;
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return 0;
	return room - z->avail_out;
}

/* The identity body of rep I: the list, then each record. */
static void
rep_source(const struct routes *r, size_t i, const char **body, size_t *len)
{
	if (i == 0) {
		*body = r->fx->body;
		*len = r->fx->body_len;
	} else {
		*body = r->fx->users[i - 1].body;
		*len = r->fx->users[i - 1].body_len;
	}
}

/* Fill the store with every body (and its gzip form) and make each
 * rep's tags.  Returns 0, or -1 if out of memory. */
static int
store_fill(struct routes *r)
{
	size_t i, reps = r->count + 1, size = 0, off = 0;
	z_stream z;
	int gz = r->codings > 1;

	memset(&z, 0, sizeof(z));
	if (gz && deflateInit2(&z, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW_BITS,
	                       GZIP_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	for (i = 0; i < reps; i++) {
		const char *body;
		size_t len;

		rep_source(r, i, &body, &len);
		size += len + (gz ? deflateBound(&z, (uLong)len) : 0);
	}
	r->store = malloc(sizeof(*r->store) + (size ? size : 1));
	if (r->store == NULL)
		goto fail;
	r->store->refs = 1;
	for (i = 0; i < reps; i++) {
		struct routes_rep *rep = &r->reps[i];
		char *dst = r->store->data + off;
		const char *body;
		size_t len;

		rep_source(r, i, &body, &len);
		memcpy(dst, body, len);
		rep->body[NEGOTIATE_IDENTITY] = dst;
		rep->len[NEGOTIATE_IDENTITY] = len;
		off += len;
		etag_make(rep, body, len);
		if (!gz)
			continue;
		rep->body[NEGOTIATE_GZIP] = r->store->data + off;
		rep->len[NEGOTIATE_GZIP] = gzip_into(&z, body, len,
		                                     r->store->data + off,
		                                     size - off);
		if (rep->len[NEGOTIATE_GZIP] == 0)
			goto fail;
		off += rep->len[NEGOTIATE_GZIP];
	}
	if (gz)
		deflateEnd(&z);
	return 0;

fail:
	if (gz)
		deflateEnd(&z);
	return -1;
}

/* A 200 (NOT_MODIFIED 0) or 304 of REP in form CODING for SLOT, its body
 * in the store.  A 304 is made over the same body, never sent: then
 * libmicrohttpd 0.9.75's Content-Length is the 200's, as RFC 9110 8.6
 * allows, rather than a misleading 0. */
static struct MHD_Response *
rep_response(struct routes *r, const struct routes_rep *rep,
             const char *location, unsigned slot, int not_modified,
             enum negotiate_coding coding)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		rep->len[coding], (void *)rep->body[coding], store_unref,
		r->store);
	if (resp == NULL)
		return NULL;
	atom_add_sync(r->store->refs, 1);
	if (!not_modified &&
	    (header_add(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                "application/json") < 0 ||
	     (coding == NEGOTIATE_GZIP &&
	      header_add(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") < 0) ||
	     header_add(resp, MHD_HTTP_HEADER_LOCATION, location) < 0))
		goto fail;
	if (header_add(resp, "Engine", ROUTES_ENGINE) < 0 ||
	    header_add(resp, MHD_HTTP_HEADER_ETAG, rep->etag[coding]) < 0 ||
	    routes_data_headers(r, resp, slot) < 0 ||
	    (r->closing &&
	     header_add(resp, MHD_HTTP_HEADER_CONNECTION, "close") < 0))
		goto fail;
	return resp;

fail:
	MHD_destroy_response(resp);
	return NULL;
}

/* Every answer of rep I, whose Location is LOCATION. */
static int
rep_build(struct routes *r, size_t i, const char *location)
{
	unsigned slot, nm, c;

	for (slot = 0; slot < r->slots; slot++)
		for (nm = 0; nm < 2; nm++)
			for (c = 0; c < r->codings; c++) {
				size_t k = routes_rep_index(r, i, slot, (int)nm,
				                     (enum negotiate_coding)c);

				r->reps_resp[k] = rep_response(r, &r->reps[i],
				        location, slot, (int)nm,
				        (enum negotiate_coding)c);
				if (r->reps_resp[k] == NULL)
					return -1;
			}
	return 0;
}

/* Release each of the N responses of ARRAY, then ARRAY. */
static void
responses_free(struct MHD_Response **array, size_t n)
{
	size_t i;

	for (i = 0; array != NULL && i < n; i++)
		if (array[i] != NULL)
			MHD_destroy_response(array[i]);
	free(array);
}

static void
response_free(struct MHD_Response *resp)
{
	if (resp != NULL)
		MHD_destroy_response(resp);
}

void
routes_free(struct routes *r)
{
	size_t i;

	if (r == NULL)
		return;
	responses_free(r->reps_resp, (r->count + 1) * r->slots * 2 *
	                             NEGOTIATE_CODINGS);
	responses_free(r->user_not_found, r->slots);
	responses_free(r->precondition_failed, r->slots);
	responses_free(r->api_not_allowed, r->slots);
	responses_free(r->api_options, r->slots);
	response_free(r->healthz);
	for (i = 0; i < ROUTES_READINESS_COUNT; i++)
		response_free(r->readyz[i]);
	response_free(r->not_found);
	response_free(r->method_not_allowed);
	response_free(r->options);
	response_free(r->internal_error);
	if (r->store != NULL)
		store_unref(r->store);
	free(r->reps);
	if (r->owns_fx)
		fixture_free(r->fx);
	free(r);
}

/* The CORS slots and the per-slot arrays. */
static int
slots_alloc(struct routes *r)
{
	size_t i;

	r->slots = 1 + (unsigned)r->opts.origin_count;
	for (i = 0; i < r->opts.origin_count; i++)
		if (strcmp(r->opts.origins[i], "*") == 0) {
			/* "*" wins: one slot, whose header says "*" */
			r->any_origin = 1;
			r->opts.origins += i;
			r->opts.origin_count = 1;
			r->slots = 2;
			break;
		}
	r->user_not_found = calloc(r->slots, sizeof(struct MHD_Response *));
	r->precondition_failed = calloc(r->slots,
	                                sizeof(struct MHD_Response *));
	r->api_not_allowed = calloc(r->slots, sizeof(struct MHD_Response *));
	r->api_options = calloc(r->slots, sizeof(struct MHD_Response *));
	r->reps_resp = calloc((r->count + 1) * r->slots * 2 * NEGOTIATE_CODINGS,
	                      sizeof(struct MHD_Response *));
	if (r->user_not_found == NULL || r->precondition_failed == NULL ||
	    r->api_not_allowed == NULL || r->api_options == NULL ||
	    r->reps_resp == NULL)
		return -1;
	for (i = 0; i < r->slots; i++) {
		r->user_not_found[i] = error_response(r,
		        ROUTES_BODY_USER_NOT_FOUND, 0, (unsigned)i);
		r->precondition_failed[i] = error_response(r,
		        ROUTES_BODY_PRECONDITION, 0, (unsigned)i);
		r->api_not_allowed[i] = error_response(r, ROUTES_BODY_METHOD, 1,
		                                       (unsigned)i);
		r->api_options[i] = options_response(r, 1, (unsigned)i);
		if (r->user_not_found[i] == NULL ||
		    r->precondition_failed[i] == NULL ||
		    r->api_not_allowed[i] == NULL || r->api_options[i] == NULL)
			return -1;
	}
	return 0;
}

struct routes *
routes_build(struct fixture *fx, int owns_fx, const struct routes_opts *opts)
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
	r->opts = *opts;
	r->path = opts->path;
	r->closing = opts->closing;
	r->codings = opts->gzip ? 2 : 1;
	if (strcmp(r->path, "/") == 0)
		strcpy(r->prefix, "/");
	else
		snprintf(r->prefix, sizeof(r->prefix), "%s/", r->path);
	r->prefix_len = strlen(r->prefix);
	r->count = fx->count;
	r->reps = calloc(fx->count + 1, sizeof(*r->reps));
	if (r->reps == NULL || slots_alloc(r) < 0 || store_fill(r) < 0)
		goto fail;
	r->healthz = routes_response(ROUTES_BODY_HEALTHZ,
	                             strlen(ROUTES_BODY_HEALTHZ), NULL,
	                             r->closing);
	for (i = 0; i < ROUTES_READINESS_COUNT; i++) {
		r->readyz_len[i] = strlen(body_readyz[i]);
		r->readyz[i] = routes_response(body_readyz[i],
		                               r->readyz_len[i], NULL,
		                               r->closing);
		if (r->readyz[i] == NULL)
			goto fail;
	}
	r->not_found = error_response(r, ROUTES_BODY_NOT_FOUND, 0, 0);
	r->method_not_allowed = error_response(r, ROUTES_BODY_METHOD, 1, 0);
	r->options = options_response(r, 0, 0);
	r->internal_error = error_response(r, ROUTES_BODY_INTERNAL, 0, 0);
	if (r->healthz == NULL || r->not_found == NULL ||
	    r->method_not_allowed == NULL || r->options == NULL ||
	    r->internal_error == NULL || rep_build(r, 0, r->path) < 0)
		goto fail;
	for (i = 0; i < fx->count; i++)
		if (routes_location(location, sizeof(location), r->prefix,
		                    fx->users[i].id) < 0 ||
		    rep_build(r, i + 1, location) < 0)
			goto fail;
	return r;

fail:
	routes_free(r);
	return NULL;
}
