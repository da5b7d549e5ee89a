/* check_routes.c -- unit tests for routes.c: routes_match on every route,
 * method and edge of the id, under the default path, a custom one and
 * "/", and the Location each built response carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <microhttpd.h>
/* next_in as a pointer to const (zlib 1.2.5.2 and later) */
#define ZLIB_CONST
#include <zlib.h>

#include "fixture.h"
#include "routes.h"
#include "testutil.h"

/* Which of the set's responses an answer must be. */
enum want {
	W_LIST,
	W_USER,           /* the record ID, found */
	W_USER_NOT_FOUND,
	W_HEALTHZ,
	W_READYZ,
	W_METRICS,        /* NULL: the caller renders /metrics */
	W_NOT_FOUND,
	W_METHOD,         /* 405 */
	W_OPTIONS         /* 204 */
};

struct rcase {
	const char *url;
	const char *method;
	enum want want;
	const char *id;   /* W_USER: the record */
	enum route route;
};

/* The options of a set served under PATH: gzip on, no CORS. */
static struct routes_opts
opts_of(const char *path, int closing)
{
	struct routes_opts o = {0};

	o.path = path;
	o.gzip = 1;
	o.cache_control = "no-cache";
	o.closing = closing;
	return o;
}

/* The set over FIXTURE (the bundled one: ids "1" to "20") under OPTS. */
static struct routes *
build_opts(const char *fixture, const struct routes_opts *opts)
{
	struct error err = {0, ""};
	struct fixture *fx = fixture_load(fixture, &err);
	struct routes *r;

	ck_assert_msg(fx != NULL, "%s: %s", fixture, err.text);
	r = routes_build(fx, 1, opts);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The set over FIXTURE served under PATH. */
static struct routes *
build(const char *fixture, const char *path)
{
	struct routes_opts o = opts_of(path, 0);

	return build_opts(fixture, &o);
}

/* The identity 200 of the list, without CORS. */
static struct MHD_Response *
list_response(const struct routes *r)
{
	return r->reps_resp[routes_rep_index(r, 0, 0, 0, NEGOTIATE_IDENTITY)];
}

/* The identity 200 of the I-th record of r->fx->users, without CORS. */
static struct MHD_Response *
record_response(const struct routes *r, size_t i)
{
	return r->reps_resp[routes_rep_index(r, 1 + i, 0, 0,
	                                     NEGOTIATE_IDENTITY)];
}

/* The response built for the record ID. */
static struct MHD_Response *
user_response(const struct routes *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->fx->count; i++)
		if (strcmp(r->fx->users[i].id, id) == 0)
			return record_response(r, i);
	ck_abort_msg("no record %s in the fixture", id);
	return NULL;
}

/* routes_match on C must give exactly what C wants. */
static void
check_case(const struct routes *r, const struct rcase *c)
{
	struct MHD_Response *want = NULL;
	enum route_status want_index = STATUS_200;
	struct routes_answer a;
	unsigned want_status = MHD_HTTP_OK;
	int data = c->route == ROUTE_LIST || c->route == ROUTE_USER;

	memset(&a, 0xff, sizeof(a));
	switch (c->want) {
	case W_LIST:
		want = list_response(r);
		break;
	case W_USER:
		want = user_response(r, c->id);
		break;
	case W_USER_NOT_FOUND:
		want = r->user_not_found[0];
		want_status = MHD_HTTP_NOT_FOUND;
		want_index = STATUS_404;
		break;
	case W_HEALTHZ:
		want = r->healthz;
		break;
	case W_READYZ:
		want = r->readyz[ROUTES_READY];
		break;
	case W_METRICS:
		break;
	case W_NOT_FOUND:
		want = r->not_found;
		want_status = MHD_HTTP_NOT_FOUND;
		want_index = STATUS_404;
		break;
	case W_METHOD:
		want = data ? r->api_not_allowed[0] : r->method_not_allowed;
		want_status = MHD_HTTP_METHOD_NOT_ALLOWED;
		want_index = STATUS_405;
		break;
	case W_OPTIONS:
		want = data ? r->api_options[0] : r->options;
		want_status = MHD_HTTP_NO_CONTENT;
		want_index = STATUS_204;
		break;
	}
	routes_match(r, c->url, c->method, NULL, &a);
	ck_assert_msg(a.resp == want, "%s '%s' (path %s): wrong response",
	              c->method, c->url, r->path);
	ck_assert_msg(a.status == want_status, "%s '%s' (path %s): status %u, "
	              "want %u", c->method, c->url, r->path, a.status,
	              want_status);
	ck_assert_msg(a.index == want_index, "%s '%s' (path %s): index %d, "
	              "want %d", c->method, c->url, r->path, (int)a.index,
	              (int)want_index);
	ck_assert_msg(a.route == c->route, "%s '%s' (path %s): route %d, "
	              "want %d", c->method, c->url, r->path, (int)a.route,
	              (int)c->route);
	ck_assert_uint_eq(a.slot, 0);
	ck_assert_int_eq(a.relay, 0);
}

static void
check_cases(const char *path, const struct rcase *c, size_t n)
{
	struct routes *r = build(tu_env("AVATAR_API_FIXTURE"), path);
	size_t i;

	for (i = 0; i < n; i++)
		check_case(r, &c[i]);
	routes_free(r);
}

/* Every route of the default path with every method: GET and HEAD get
 * the route's answer, OPTIONS a 204, any other method (methods are
 * case-sensitive) a 405 counted under the route, except an unknown path:
 * 404 whatever the method. */
static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
	"CONNECT", "get", "head", ""};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

static const struct rcase per_route[] = {
	{"/v1/user", NULL, W_LIST, NULL, ROUTE_LIST},
	{"/v1/user/7", NULL, W_USER, "7", ROUTE_USER},
	{"/v1/user/999", NULL, W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/healthz", NULL, W_HEALTHZ, NULL, ROUTE_HEALTHZ},
	{"/readyz", NULL, W_READYZ, NULL, ROUTE_READYZ},
	{"/metrics", NULL, W_METRICS, NULL, ROUTE_METRICS},
	{"/nope", NULL, W_NOT_FOUND, NULL, ROUTE_OTHER},
};
#define NROUTES (sizeof(per_route) / sizeof(per_route[0]))

START_TEST(test_route_method)
{
	struct rcase c = per_route[_i / (int)NMETHODS];
	const char *m = methods[_i % (int)NMETHODS];
	int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

	c.method = m;
	if (strcmp(m, "OPTIONS") == 0 && c.want != W_NOT_FOUND)
		c.want = W_OPTIONS;
	else if (!get && c.want != W_NOT_FOUND)
		c.want = W_METHOD;
	check_cases("/v1/user", &c, 1);
}
END_TEST

/* The id is the rest of the path, whole, compared as a string with the
 * records' ids: no number parsing, no normalisation.  An empty id, or one
 * with a '/', is no user route at all. */
static const struct rcase ids[] = {
	{"/v1/user/1", "GET", W_USER, "1", ROUTE_USER},
	{"/v1/user/20", "GET", W_USER, "20", ROUTE_USER},
	{"/v1/user/0", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/21", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/01", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/007", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/-1", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/+1", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/1.0", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/1e0", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/ 1", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/1 ", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/1a", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/abc", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/%31", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/18446744073709551617", "GET", W_USER_NOT_FOUND, NULL,
	 ROUTE_USER},
	{"/v1/user/99999999999999999999999999999999999999999999999999999999",
	 "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/..", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/v1/user/01", "POST", W_METHOD, NULL, ROUTE_USER},
	{"/v1/user/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user/", "POST", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user/1/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user/1/x", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user//1", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user//", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/users", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user1", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/use", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/V1/USER", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/V1/USER/1", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"//v1/user", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	/* The query is MHD's to strip: routes_match sees a path. */
	{"/v1/user?x=1", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/healthz/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/HEALTHZ", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/metrics/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/metrics", "HEAD", W_METRICS, NULL, ROUTE_METRICS},
};

START_TEST(test_ids)
{
	check_cases("/v1/user", ids, sizeof(ids) / sizeof(ids[0]));
}
END_TEST

/* A custom --path moves the list and the records, not /healthz or
 * /metrics; the default path is then an unknown one. */
static const struct rcase custom[] = {
	{"/api/people", "GET", W_LIST, NULL, ROUTE_LIST},
	{"/api/people", "HEAD", W_LIST, NULL, ROUTE_LIST},
	{"/api/people", "POST", W_METHOD, NULL, ROUTE_LIST},
	{"/api/people/3", "GET", W_USER, "3", ROUTE_USER},
	{"/api/people/3", "DELETE", W_METHOD, NULL, ROUTE_USER},
	{"/api/people/33", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/api/people/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/api/people/3/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/api/peoplex", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/api", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/api/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/v1/user/3", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/healthz", "GET", W_HEALTHZ, NULL, ROUTE_HEALTHZ},
	{"/metrics", "GET", W_METRICS, NULL, ROUTE_METRICS},
};

START_TEST(test_custom_path)
{
	check_cases("/api/people", custom, sizeof(custom) / sizeof(custom[0]));
}
END_TEST

/* --path=/: the records sit right under the root, where /healthz and
 * /metrics keep their meaning (they are matched first). */
static const struct rcase root[] = {
	{"/", "GET", W_LIST, NULL, ROUTE_LIST},
	{"/", "PUT", W_METHOD, NULL, ROUTE_LIST},
	{"/3", "GET", W_USER, "3", ROUTE_USER},
	{"/abc", "HEAD", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	{"/healthz", "GET", W_HEALTHZ, NULL, ROUTE_HEALTHZ},
	{"/metrics", "GET", W_METRICS, NULL, ROUTE_METRICS},
	{"/v1/user", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"/3/", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"//", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
	{"", "GET", W_NOT_FOUND, NULL, ROUTE_OTHER},
};

START_TEST(test_root_path)
{
	check_cases("/", root, sizeof(root) / sizeof(root[0]));
}
END_TEST

/* A --path equal to /healthz: the health check wins, the list is out of
 * reach, and the records below it are served. */
static const struct rcase shadow[] = {
	{"/healthz", "GET", W_HEALTHZ, NULL, ROUTE_HEALTHZ},
	{"/healthz/3", "GET", W_USER, "3", ROUTE_USER},
	{"/healthz/x", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
};

START_TEST(test_shadowed_path)
{
	check_cases("/healthz", shadow, sizeof(shadow) / sizeof(shadow[0]));
}
END_TEST

static void
assert_location(struct MHD_Response *resp, const char *want)
{
	const char *got = MHD_get_response_header(resp, "Location");

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
}

/* Every record is found under its own id, and its response, like the
 * list's, names itself in Location (percent-encoded but for RFC 3986's
 * unreserved characters and sub-delims). */
START_TEST(test_every_record)
{
	struct routes *r = build(tu_env("AVATAR_API_FIXTURE"), "/v1/user");
	char url[256];
	size_t i;

	ck_assert_uint_eq(r->count, 20);
	assert_location(list_response(r), "/v1/user");
	for (i = 0; i < r->fx->count; i++) {
		struct rcase c = {url, "GET", W_USER, r->fx->users[i].id,
		                  ROUTE_USER};

		snprintf(url, sizeof(url), "/v1/user/%s", r->fx->users[i].id);
		check_case(r, &c);
		assert_location(record_response(r, i), url);
	}
	routes_free(r);
}
END_TEST

START_TEST(test_unicode_ids)
{
	char path[4096];
	struct routes *r;
	static const struct rcase c[] = {
		{"/v1/user/a b", "GET", W_USER, "a b", ROUTE_USER},
		{"/v1/user/\xc3\xa4-1", "GET", W_USER, "\xc3\xa4-1", ROUTE_USER},
		{"/v1/user/x.y-z_~!$&'()*+,;=:@", "GET", W_USER,
		 "x.y-z_~!$&'()*+,;=:@", ROUTE_USER},
		{"/v1/user/\xf0\x9f\x98\x80", "GET", W_USER, "\xf0\x9f\x98\x80",
		 ROUTE_USER},
		{"/v1/user/a%20b", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
		{"/v1/user/a", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	};
	size_t i;

	snprintf(path, sizeof(path), "%s/valid/unicode.json",
	         tu_env("AVATAR_API_TEST_DATA"));
	r = build(path, "/v1/user");
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_case(r, &c[i]);
	assert_location(user_response(r, "a b"), "/v1/user/a%20b");
	assert_location(user_response(r, "\xc3\xa4-1"), "/v1/user/%C3%A4-1");
	assert_location(user_response(r, "\xf0\x9f\x98\x80"),
	                "/v1/user/%F0%9F%98%80");
	assert_location(user_response(r, "x.y-z_~!$&'()*+,;=:@"),
	                "/v1/user/x.y-z_~!$&'()*+,;=:@");
	routes_free(r);
}
END_TEST

/* An empty fixture (relay mode without --data): the list, and no user. */
START_TEST(test_empty_fixture)
{
	struct fixture *fx = fixture_empty();
	struct routes *r;
	static const struct rcase c[] = {
		{"/v1/user", "GET", W_LIST, NULL, ROUTE_LIST},
		{"/v1/user/1", "GET", W_USER_NOT_FOUND, NULL, ROUTE_USER},
	};

	struct routes_opts o = opts_of("/v1/user", 0);

	ck_assert_ptr_nonnull(fx);
	r = routes_build(fx, 1, &o);
	ck_assert_ptr_nonnull(r);
	check_case(r, &c[0]);
	check_case(r, &c[1]);
	routes_free(r);
}
END_TEST

/* CLOSING adds "Connection: close" to every response; without it none
 * carries a Connection header. */
START_TEST(test_closing)
{
	struct error err = {0, ""};
	struct fixture *fx = fixture_load(tu_env("AVATAR_API_FIXTURE"), &err);
	struct routes *open, *closing;
	struct routes_opts o_open = opts_of("/v1/user", 0);
	struct routes_opts o_closing = opts_of("/v1/user", 1);
	const char *v;

	ck_assert_msg(fx != NULL, "%s", err.text);
	open = routes_build(fx, 0, &o_open);
	closing = routes_build(fx, 0, &o_closing);
	ck_assert_ptr_nonnull(open);
	ck_assert_ptr_nonnull(closing);
	ck_assert_int_eq(open->closing, 0);
	ck_assert_int_eq(closing->closing, 1);
	ck_assert_ptr_null(MHD_get_response_header(list_response(open),
	                                           "Connection"));
	ck_assert_ptr_null(MHD_get_response_header(record_response(open, 0),
	                                           "Connection"));
	v = MHD_get_response_header(list_response(closing), "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	v = MHD_get_response_header(closing->not_found, "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	v = MHD_get_response_header(record_response(closing, 19),
	                            "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	routes_free(closing);
	routes_free(open);
	fixture_free(fx); /* not owned by either set */
}
END_TEST

/* --- negotiation: what the request's fields ask (routes_ask) --- */

/* An ask made of the NAME, VALUE pairs of FIELDS (NULL-terminated). */
static void
ask_of(struct routes_ask *ask, const char *const *fields)
{
	routes_ask_init(ask);
	for (; fields[0] != NULL; fields += 2)
		routes_ask_field(ask, fields[0], strlen(fields[0]), fields[1]);
}

/* routes_match of GET URL with the header FIELDS. */
static void
match_with(const struct routes *r, const char *method, const char *url,
           const char *const *fields, struct routes_answer *a)
{
	struct routes_ask ask;

	ask_of(&ask, fields);
	routes_match(r, url, method, &ask, a);
}

static const char *
header_of(struct MHD_Response *resp, const char *name)
{
	return MHD_get_response_header(resp, name);
}

/* Inflate the gzip form of rep I and compare it with the identity form. */
static void
assert_gzip_of(const struct routes *r, size_t i)
{
	const struct routes_rep *rep = &r->reps[i];
	char out[65536];
	z_stream z;

	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (const Bytef *)rep->body[NEGOTIATE_GZIP];
	z.avail_in = (uInt)rep->len[NEGOTIATE_GZIP];
	z.next_out = (Bytef *)out;
	z.avail_out = sizeof(out);
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(sizeof(out) - z.avail_out, rep->len[NEGOTIATE_IDENTITY]);
	ck_assert(memcmp(out, rep->body[NEGOTIATE_IDENTITY],
	                 rep->len[NEGOTIATE_IDENTITY]) == 0);
	inflateEnd(&z);
}

/* Accept-Encoding picks the gzip form, built once: its own tag, its
 * Content-Encoding, the Vary both forms carry, and a body that inflates
 * to the identity form's bytes. */
START_TEST(test_gzip)
{
	struct routes *r = build(tu_env("AVATAR_API_FIXTURE"), "/v1/user");
	static const char *const gz[] = {"Accept-Encoding", "gzip", NULL};
	static const char *const none[] = {NULL};
	struct routes_answer a;
	const char *tag, *tag_gz;
	size_t i;

	ck_assert_uint_eq(r->codings, 2);
	match_with(r, "GET", "/v1/user", none, &a);
	ck_assert_ptr_eq(a.resp, list_response(r));
	ck_assert_uint_eq(a.len, r->fx->body_len);
	ck_assert_ptr_null(header_of(a.resp, "Content-Encoding"));
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding");
	ck_assert_str_eq(header_of(a.resp, "Cache-Control"), "no-cache");
	tag = header_of(a.resp, "ETag");
	match_with(r, "GET", "/v1/user", gz, &a);
	ck_assert_uint_eq(a.status, 200);
	ck_assert_ptr_eq(a.resp, r->reps_resp[routes_rep_index(r, 0, 0, 0,
	                                                       NEGOTIATE_GZIP)]);
	ck_assert_uint_eq(a.len, r->reps[0].len[NEGOTIATE_GZIP]);
	ck_assert_uint_lt(a.len, r->fx->body_len / 3);
	ck_assert_str_eq(header_of(a.resp, "Content-Encoding"), "gzip");
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding");
	tag_gz = header_of(a.resp, "ETag");
	ck_assert_ptr_nonnull(tag);
	ck_assert_ptr_nonnull(tag_gz);
	ck_assert_str_ne(tag, tag_gz);
	ck_assert_int_eq(tag[0], '"');
	ck_assert_int_eq(tag_gz[0], '"');
	for (i = 0; i <= r->count; i++)
		assert_gzip_of(r, i);
	match_with(r, "HEAD", "/v1/user/3", gz, &a);
	ck_assert_ptr_eq(a.resp, r->reps_resp[routes_rep_index(r,
	        1 + (size_t)(fixture_find(r->fx, "3") - r->fx->users), 0, 0,
	        NEGOTIATE_GZIP)]);
	routes_free(r);
}
END_TEST

/* --compression off: one form, no Vary, Accept-Encoding ignored. */
START_TEST(test_gzip_off)
{
	struct routes_opts o = opts_of("/v1/user", 0);
	struct routes *r;
	static const char *const gz[] = {"Accept-Encoding", "gzip", NULL};
	struct routes_answer a;

	o.gzip = 0;
	o.cache_control = "max-age=60, public";
	r = build_opts(tu_env("AVATAR_API_FIXTURE"), &o);
	ck_assert_uint_eq(r->codings, 1);
	match_with(r, "GET", "/v1/user", gz, &a);
	ck_assert_ptr_eq(a.resp, list_response(r));
	ck_assert_ptr_null(header_of(a.resp, "Content-Encoding"));
	ck_assert_ptr_null(header_of(a.resp, "Vary"));
	ck_assert_str_eq(header_of(a.resp, "Cache-Control"),
	                 "max-age=60, public");
	routes_free(r);
}
END_TEST

/* RFC 9110 13.2.2 on the list and a record: If-Match first (strong,
 * 412), then If-None-Match (weak, 304); a record that does not exist
 * stays 404 whatever the preconditions. */
START_TEST(test_conditional)
{
	struct routes *r = build(tu_env("AVATAR_API_FIXTURE"), "/v1/user");
	const char *tag = r->reps[0].etag[NEGOTIATE_IDENTITY];
	const char *tag_gz = r->reps[0].etag[NEGOTIATE_GZIP];
	char weak[64], list[128];
	struct routes_answer a;
	struct MHD_Response *not_modified =
		r->reps_resp[routes_rep_index(r, 0, 0, 1, NEGOTIATE_IDENTITY)];

	snprintf(weak, sizeof(weak), "W/%s", tag);
	snprintf(list, sizeof(list), "\"x\", %s, \"y\"", tag);
	{
		const char *const f[] = {"If-None-Match", tag, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
		ck_assert_int_eq(a.index, STATUS_304);
		ck_assert_ptr_eq(a.resp, not_modified);
		ck_assert_uint_eq(a.len, 0);
		ck_assert_str_eq(header_of(a.resp, "ETag"), tag);
		ck_assert_str_eq(header_of(a.resp, "Cache-Control"), "no-cache");
		ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding");
		ck_assert_ptr_null(header_of(a.resp, "Content-Type"));
		ck_assert_ptr_null(header_of(a.resp, "Location"));
		match_with(r, "HEAD", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{
		const char *const f[] = {"if-none-match", weak, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{
		const char *const f[] = {"If-None-Match", list, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{
		const char *const f[] = {"If-None-Match", "*", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{	/* the identity tag does not validate the gzip form */
		const char *const f[] = {"If-None-Match", tag,
		                         "Accept-Encoding", "gzip", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
		ck_assert_str_eq(header_of(a.resp, "ETag"), tag_gz);
	}
	{	/* two fields make one list */
		const char *const f[] = {"If-None-Match", "\"x\"",
		                         "If-None-Match", tag, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{
		const char *const f[] = {"If-None-Match", "\"x\"", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
		ck_assert_ptr_eq(a.resp, list_response(r));
	}
	{
		const char *const f[] = {"If-Match", tag, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
	}
	{
		const char *const f[] = {"If-Match", "*", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
	}
	{
		const char *const f[] = {"If-Match", "\"x\"", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 412);
		ck_assert_int_eq(a.index, STATUS_412);
		ck_assert_ptr_eq(a.resp, r->precondition_failed[0]);
		ck_assert_str_eq(header_of(a.resp, "Cache-Control"), "no-store");
	}
	{	/* strong comparison: a weak tag never matches */
		const char *const f[] = {"If-Match", weak, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 412);
	}
	{	/* a malformed field spoils the list: 412, */
		const char *const f[] = {"If-Match", tag, "If-Match", "nope",
		                         NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 412);
	}
	{	/* and If-None-Match is then ignored */
		const char *const f[] = {"If-None-Match", tag,
		                         "If-None-Match", "nope", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
	}
	{	/* If-Match is evaluated first */
		const char *const f[] = {"If-None-Match", tag,
		                         "If-Match", "\"x\"", NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 412);
	}
	{
		const char *const f[] = {"If-None-Match", tag, "If-Match", tag,
		                         NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 304);
	}
	{	/* 404 wins over the preconditions (RFC 9110 13.2.1) */
		const char *const f[] = {"If-Match", "\"x\"", NULL};

		match_with(r, "GET", "/v1/user/nope", f, &a);
		ck_assert_uint_eq(a.status, 404);
	}
	{	/* the tag beyond the fields kept: If-Match fails safe
		 * (412), */
		const char *const f[] = {"If-Match", "\"a\"", "If-Match",
		                         "\"b\"", "If-Match", "\"c\"",
		                         "If-Match", "\"d\"", "If-Match", tag,
		                         NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 412);
	}
	{	/* If-None-Match too (200) */
		const char *const f[] = {"If-None-Match", "\"a\"",
		                         "If-None-Match", "\"b\"",
		                         "If-None-Match", "\"c\"",
		                         "If-None-Match", "\"d\"",
		                         "If-None-Match", tag, NULL};

		match_with(r, "GET", "/v1/user", f, &a);
		ck_assert_uint_eq(a.status, 200);
	}
	{	/* a record's own tag */
		const struct fixture_user *u = fixture_find(r->fx, "7");
		size_t i = 1 + (size_t)(u - r->fx->users);
		const char *const f[] = {"If-None-Match",
		                         r->reps[i].etag[NEGOTIATE_IDENTITY],
		                         NULL};

		match_with(r, "GET", "/v1/user/7", f, &a);
		ck_assert_uint_eq(a.status, 304);
		match_with(r, "GET", "/v1/user/8", f, &a);
		ck_assert_uint_eq(a.status, 200);
	}
	routes_free(r);
}
END_TEST

/* The tags come from the bytes: the same in two builds, different for
 * different records. */
START_TEST(test_etag_stable)
{
	struct routes *r1 = build(tu_env("AVATAR_API_FIXTURE"), "/v1/user");
	struct routes *r2 = build(tu_env("AVATAR_API_FIXTURE"), "/api");
	size_t i, j;

	for (i = 0; i <= r1->count; i++) {
		ck_assert_str_eq(r1->reps[i].etag[0], r2->reps[i].etag[0]);
		ck_assert_str_eq(r1->reps[i].etag[1], r2->reps[i].etag[1]);
		ck_assert_uint_eq(strlen(r1->reps[i].etag[0]), 18);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(r1->reps[i].etag[0],
			                 r1->reps[j].etag[0]);
	}
	routes_free(r1);
	routes_free(r2);
}
END_TEST

/* CORS: one slot per configured origin, chosen by an exact Origin; the
 * answers of the data routes (200, 304, 404, 405, 412, OPTIONS) carry
 * its headers, the others never; Vary names Origin on every data
 * answer. */
START_TEST(test_cors)
{
	static const char *const origins[] = {"https://a.example",
	                                      "https://b.example"};
	struct routes_opts o = opts_of("/v1/user", 0);
	struct routes *r;
	struct routes_answer a;
	static const char *const fb[] = {"Origin", "https://b.example", NULL};
	static const char *const fc[] = {"Origin", "https://c.example", NULL};
	static const char *const f2[] = {"Origin", "https://a.example",
	                                 "Origin", "https://a.example", NULL};
	static const char *const none[] = {NULL};

	o.origins = origins;
	o.origin_count = 2;
	r = build_opts(tu_env("AVATAR_API_FIXTURE"), &o);
	ck_assert_uint_eq(r->slots, 3);
	match_with(r, "GET", "/v1/user", fb, &a);
	ck_assert_uint_eq(a.slot, 2);
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Allow-Origin"),
	                 "https://b.example");
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Expose-Headers"),
	                 "ETag, Location, Engine");
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding, Origin");
	match_with(r, "GET", "/v1/user/nope", fb, &a);
	ck_assert_uint_eq(a.status, 404);
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Allow-Origin"),
	                 "https://b.example");
	match_with(r, "DELETE", "/v1/user/1", fb, &a);
	ck_assert_uint_eq(a.status, 405);
	ck_assert_str_eq(header_of(a.resp, "Allow"), "GET, HEAD, OPTIONS");
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Allow-Origin"),
	                 "https://b.example");
	match_with(r, "OPTIONS", "/v1/user/1", fb, &a);
	ck_assert_uint_eq(a.status, 204);
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Allow-Methods"),
	                 "GET, HEAD, OPTIONS");
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Max-Age"), "600");
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Origin");
	match_with(r, "GET", "/v1/user", fc, &a);
	ck_assert_uint_eq(a.slot, 0);
	ck_assert_ptr_null(header_of(a.resp, "Access-Control-Allow-Origin"));
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding, Origin");
	match_with(r, "GET", "/v1/user", none, &a);
	ck_assert_uint_eq(a.slot, 0);
	match_with(r, "GET", "/v1/user", f2, &a);
	ck_assert_uint_eq(a.slot, 0);
	match_with(r, "OPTIONS", "/v1/user", fc, &a);
	ck_assert_uint_eq(a.status, 204);
	ck_assert_ptr_null(header_of(a.resp, "Access-Control-Allow-Origin"));
	ck_assert_ptr_null(header_of(a.resp, "Access-Control-Max-Age"));
	match_with(r, "GET", "/healthz", fb, &a);
	ck_assert_uint_eq(a.slot, 0);
	ck_assert_ptr_null(header_of(a.resp, "Access-Control-Allow-Origin"));
	ck_assert_str_eq(header_of(a.resp, "Cache-Control"), "no-store");
	match_with(r, "OPTIONS", "/healthz", fb, &a);
	ck_assert_ptr_null(header_of(a.resp, "Access-Control-Allow-Origin"));
	routes_free(r);
}
END_TEST

/* "*": any Origin gets "*", and nothing varies by origin. */
START_TEST(test_cors_any)
{
	static const char *const origins[] = {"https://a.example", "*"};
	struct routes_opts o = opts_of("/v1/user", 0);
	struct routes *r;
	struct routes_answer a;
	static const char *const fc[] = {"Origin", "https://c.example", NULL};

	o.origins = origins;
	o.origin_count = 2;
	r = build_opts(tu_env("AVATAR_API_FIXTURE"), &o);
	ck_assert_uint_eq(r->slots, 2);
	match_with(r, "GET", "/v1/user", fc, &a);
	ck_assert_uint_eq(a.slot, 1);
	ck_assert_str_eq(header_of(a.resp, "Access-Control-Allow-Origin"), "*");
	ck_assert_str_eq(header_of(a.resp, "Vary"), "Accept-Encoding");
	routes_free(r);
}
END_TEST

/* Relay mode: GET and HEAD of a relayed route are the caller's to relay;
 * OPTIONS and other methods are still answered here. */
START_TEST(test_relayed)
{
	struct routes_opts o = opts_of("/v1/user", 0);
	struct routes *r;
	struct routes_answer a;
	static const char *const none[] = {NULL};

	o.relay_list = 1;
	o.relay_users = 1;
	r = routes_build(fixture_empty(), 1, &o);
	ck_assert_ptr_nonnull(r);
	match_with(r, "GET", "/v1/user", none, &a);
	ck_assert_int_eq(a.relay, 1);
	ck_assert_ptr_null(a.resp);
	match_with(r, "HEAD", "/v1/user/42", none, &a);
	ck_assert_int_eq(a.relay, 1);
	ck_assert_int_eq(a.route, ROUTE_USER);
	match_with(r, "OPTIONS", "/v1/user/42", none, &a);
	ck_assert_int_eq(a.relay, 0);
	ck_assert_uint_eq(a.status, 204);
	match_with(r, "POST", "/v1/user", none, &a);
	ck_assert_int_eq(a.relay, 0);
	ck_assert_uint_eq(a.status, 405);
	routes_free(r);
}
END_TEST

static Suite *
routes_suite(void)
{
	Suite *s = suite_create("routes");
	TCase *tc = tcase_create("match");

	tcase_add_loop_test(tc, test_route_method, 0,
	                    (int)(NROUTES * NMETHODS));
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_custom_path);
	tcase_add_test(tc, test_root_path);
	tcase_add_test(tc, test_shadowed_path);
	tcase_add_test(tc, test_every_record);
	tcase_add_test(tc, test_unicode_ids);
	tcase_add_test(tc, test_empty_fixture);
	tcase_add_test(tc, test_closing);
	suite_add_tcase(s, tc);
	tc = tcase_create("negotiate");
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_gzip_off);
	tcase_add_test(tc, test_conditional);
	tcase_add_test(tc, test_etag_stable);
	tcase_add_test(tc, test_cors);
	tcase_add_test(tc, test_cors_any);
	tcase_add_test(tc, test_relayed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(routes_suite());
}
