/* check_routes.c -- unit tests for routes.c: routes_match on every route,
 * method and edge of the id, under the default path, a custom one and
 * "/", and the Location each built response carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <microhttpd.h>

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
	W_METHOD          /* 405 */
};

struct rcase {
	const char *url;
	const char *method;
	enum want want;
	const char *id;   /* W_USER: the record */
	enum route route;
};

/* The set over the bundled fixture (ids "1" to "20"), served under PATH. */
static struct routes *
build(const char *fixture, const char *path)
{
	struct error err = {0, ""};
	struct fixture *fx = fixture_load(fixture, &err);
	struct routes *r;

	ck_assert_msg(fx != NULL, "%s: %s", fixture, err.text);
	r = routes_build(fx, 1, path, 0);
	ck_assert_ptr_nonnull(r);
	return r;
}

/* The response built for the record ID. */
static struct MHD_Response *
user_response(const struct routes *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->fx->count; i++)
		if (strcmp(r->fx->users[i].id, id) == 0)
			return r->users[i];
	ck_abort_msg("no record %s in the fixture", id);
	return NULL;
}

/* routes_match on C must give exactly what C wants. */
static void
check_case(const struct routes *r, const struct rcase *c)
{
	struct MHD_Response *resp, *want = NULL;
	enum route_status index = STATUS_COUNT, want_index = STATUS_200;
	enum route route = ROUTE_COUNT;
	unsigned status = 0, want_status = MHD_HTTP_OK;

	switch (c->want) {
	case W_LIST:
		want = r->list;
		break;
	case W_USER:
		want = user_response(r, c->id);
		break;
	case W_USER_NOT_FOUND:
		want = r->user_not_found;
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
		want = r->method_not_allowed;
		want_status = MHD_HTTP_METHOD_NOT_ALLOWED;
		want_index = STATUS_405;
		break;
	}
	resp = routes_match(r, c->url, c->method, &status, &index, &route);
	ck_assert_msg(resp == want, "%s '%s' (path %s): wrong response",
	              c->method, c->url, r->path);
	ck_assert_msg(status == want_status, "%s '%s' (path %s): status %u, "
	              "want %u", c->method, c->url, r->path, status,
	              want_status);
	ck_assert_msg(index == want_index, "%s '%s' (path %s): index %d, "
	              "want %d", c->method, c->url, r->path, (int)index,
	              (int)want_index);
	ck_assert_msg(route == c->route, "%s '%s' (path %s): route %d, "
	              "want %d", c->method, c->url, r->path, (int)route,
	              (int)c->route);
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
 * the route's answer, any other method (methods are case-sensitive) a
 * 405 counted under the route, except an unknown path: 404 whatever the
 * method. */
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
	if (!get && c.want != W_NOT_FOUND)
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
	assert_location(r->list, "/v1/user");
	for (i = 0; i < r->fx->count; i++) {
		struct rcase c = {url, "GET", W_USER, r->fx->users[i].id,
		                  ROUTE_USER};

		snprintf(url, sizeof(url), "/v1/user/%s", r->fx->users[i].id);
		check_case(r, &c);
		assert_location(r->users[i], url);
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

	ck_assert_ptr_nonnull(fx);
	r = routes_build(fx, 1, "/v1/user", 0);
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
	const char *v;

	ck_assert_msg(fx != NULL, "%s", err.text);
	open = routes_build(fx, 0, "/v1/user", 0);
	closing = routes_build(fx, 0, "/v1/user", 1);
	ck_assert_ptr_nonnull(open);
	ck_assert_ptr_nonnull(closing);
	ck_assert_int_eq(open->closing, 0);
	ck_assert_int_eq(closing->closing, 1);
	ck_assert_ptr_null(MHD_get_response_header(open->list, "Connection"));
	ck_assert_ptr_null(MHD_get_response_header(open->users[0],
	                                           "Connection"));
	v = MHD_get_response_header(closing->list, "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	v = MHD_get_response_header(closing->not_found, "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	v = MHD_get_response_header(closing->users[19], "Connection");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "close");
	routes_free(closing);
	routes_free(open);
	fixture_free(fx); /* not owned by either set */
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
	return s;
}

int
main(void)
{
	return tu_run_suite(routes_suite());
}
