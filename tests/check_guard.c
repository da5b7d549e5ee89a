/* check_guard.c -- unit tests for guard.c, the framing rule: each case
 * fed whole, split in two at every byte, and byte by byte, must give the
 * same verdict and hand on the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "guard.h"
#include "testutil.h"

#define R(s) s, sizeof(s) - 1
#define HOST "Host: x\r\n"
#define GET "GET / HTTP/1.1\r\n" HOST "\r\n"
#define POST "POST / HTTP/1.1\r\n" HOST

struct gcase {
	const char *name;
	const char *in;
	size_t len;
	enum guard_verdict verdict;
	size_t good;     /* bytes handed on (all of them for GUARD_OK) */
	unsigned done;   /* whole requests seen */
	int idle;        /* for GUARD_OK: between requests at the end */
};

static const struct gcase cases[] = {
	/* good */
	{"get", R(GET), GUARD_OK, 0, 1, 1},
	{"two_pipelined", R(GET GET), GUARD_OK, 0, 2, 1},
	{"partial", R("GET / HTTP/1.1\r\nHo"), GUARD_OK, 0, 0, 0},
	{"leading_crlf", R("\r\n\r\n" GET), GUARD_OK, 0, 1, 1},
	{"bare_lf", R("GET / HTTP/1.1\nHost: x\n\n"), GUARD_OK, 0, 1, 1},
	{"http10_no_host", R("GET / HTTP/1.0\r\n\r\n"), GUARD_OK, 0, 1, 1},
	{"http12", R("GET / HTTP/1.2\r\n" HOST "\r\n"), GUARD_OK, 0, 1, 1},
	{"cl_body", R(POST "Content-Length: 5\r\n\r\nhello" GET),
	 GUARD_OK, 0, 2, 1},
	{"cl_body_partial", R(POST "Content-Length: 5\r\n\r\nhel"),
	 GUARD_OK, 0, 0, 0},
	{"cl_leading_ows", R(POST "Content-Length:\t 2\r\n\r\nhi"),
	 GUARD_OK, 0, 1, 1},
	{"cl_zero", R(POST "Content-Length: 0\r\n\r\n" GET), GUARD_OK, 0, 2, 1},
	{"chunked", R(POST "Transfer-Encoding: chunked\r\n\r\n"
	              "5\r\nhello\r\nA;x=\"y\"\r\n0123456789\r\n0\r\n"
	              "T: v\r\n\r\n" GET), GUARD_OK, 0, 2, 1},
	{"chunked_case", R(POST "transfer-encoding:  ChUnKeD\r\n\r\n0\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"chunked_lf", R(POST "Transfer-Encoding: chunked\n\n2\nhi\n0\n\n"),
	 GUARD_OK, 0, 1, 1},
	{"obs_text_value", R("GET / HTTP/1.1\r\n" HOST "X: \xff\x80\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"host_ipv6", R("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"host_empty", R("GET / HTTP/1.1\r\nHost:\r\n\r\n"), GUARD_OK, 0, 1, 1},
	{"host_regname", R("GET / HTTP/1.1\r\nHost: a-b.c_d~e%41!$&'()*+,;=:1"
	                   "\r\n\r\n"), GUARD_OK, 0, 1, 1},
	{"absolute_form", R("GET http://x/v1/user HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_OK, 0, 1, 1},
	/* request line */
	{"lone_cr", R("GET / HTTP/1.1\r" HOST "\r\n"), GUARD_400, 0, 0, 0},
	{"double_space", R("GET  / HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"tab", R("GET\t/ HTTP/1.1\r\n" HOST "\r\n"), GUARD_400, 0, 0, 0},
	{"http09", R("GET /\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"ctl_target", R("GET /\x7f HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"high_target", R("GET /\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"lowercase_http", R("GET / http/1.1\r\n" HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"http2", R("GET / HTTP/2.0\r\n" HOST "\r\n"), GUARD_505, 0, 0, 0},
	{"http1_10", R("GET / HTTP/1.10\r\n" HOST "\r\n"), GUARD_400, 0, 0, 0},
	{"leading_space", R(" GET / HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	/* fields */
	{"obs_fold", R("GET / HTTP/1.1\r\n" HOST "X: a\r\n b\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"obs_fold_tab", R("GET / HTTP/1.1\r\n" HOST "X: a\r\n\tb\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"empty_name", R("GET / HTTP/1.1\r\n" HOST ": x\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"space_before_colon", R("GET / HTTP/1.1\r\n" HOST "X : y\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"vtab_before_colon", R("GET / HTTP/1.1\r\n" HOST "X\v: y\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"no_colon", R("GET / HTTP/1.1\r\n" HOST "X\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"nul_value", R("GET / HTTP/1.1\r\n" HOST "X: a\0b\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"del_value", R("GET / HTTP/1.1\r\n" HOST "X: a\x7f\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"cr_in_value", R("GET / HTTP/1.1\r\n" HOST "X: a\rb\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	/* Host */
	{"no_host", R("GET / HTTP/1.1\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"two_hosts", R("GET / HTTP/1.1\r\n" HOST HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"two_hosts_10", R("GET / HTTP/1.0\r\n" HOST HOST "\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_space", R("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_lt", R("GET / HTTP/1.1\r\nHost: a<c>\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_slash", R("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_port_alpha", R("GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_open_bracket", R("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_open_bracket_ows", R("GET / HTTP/1.1\r\nHost: [::1 \r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_after_bracket", R("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"host_port_only", R("GET / HTTP/1.1\r\nHost: :80\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"host_empty_port", R("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"host_ows", R("GET / HTTP/1.1\r\nHost:\t a \t\r\n\r\n"),
	 GUARD_OK, 0, 1, 1},
	{"host_port_space", R("GET / HTTP/1.1\r\nHost: a:80 x\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"target_args", R("GET /?a=1&b=2&c HTTP/1.1\r\n" HOST "\r\n"),
	 GUARD_OK, 0, 1, 1},
	/* Content-Length */
	{"cl_twice", R(POST "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
	 GUARD_400, 0, 0, 0},
	{"cl_plus", R(POST "Content-Length: +1\r\n\r\nx"), GUARD_400, 0, 0, 0},
	{"cl_inner_space", R(POST "Content-Length: 1 2\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"cl_trailing_space", R(POST "Content-Length: 1 \r\n\r\nx"),
	 GUARD_400, 0, 0, 0},
	{"cl_empty", R(POST "Content-Length:\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"cl_list", R(POST "Content-Length: 1, 1\r\n\r\nx"), GUARD_400, 0, 0, 0},
	{"cl_too_big", R(POST "Content-Length: 1048577\r\n\r\n"),
	 GUARD_413, 0, 0, 0},
	{"cl_overflow", R(POST "Content-Length: 999999999999999999999999\r\n\r\n"),
	 GUARD_413, 0, 0, 0},
	/* Transfer-Encoding */
	{"te_identity", R(POST "Transfer-Encoding: identity\r\n\r\n"),
	 GUARD_501, 0, 0, 0},
	{"te_chunked_identity", R(POST "Transfer-Encoding: chunked, identity"
	                          "\r\n\r\n"), GUARD_501, 0, 0, 0},
	{"te_gzip_chunked", R(POST "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	 GUARD_501, 0, 0, 0},
	{"te_chunked_comma", R(POST "Transfer-Encoding: chunked,\r\n\r\n"),
	 GUARD_501, 0, 0, 0},
	{"te_chunkedx", R(POST "Transfer-Encoding: chunkedx\r\n\r\n"),
	 GUARD_501, 0, 0, 0},
	{"te_empty", R(POST "Transfer-Encoding:\r\n\r\n"), GUARD_501, 0, 0, 0},
	{"te_trailing_space", R(POST "Transfer-Encoding: chunked \r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	{"te_twice", R(POST "Transfer-Encoding: chunked\r\n"
	               "Transfer-Encoding: chunked\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"te_and_cl", R(POST "Transfer-Encoding: chunked\r\n"
	                "Content-Length: 5\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"te_http10", R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	 GUARD_400, 0, 0, 0},
	/* chunked bodies */
	{"chunk_inner_space", R(POST "Transfer-Encoding: chunked\r\n\r\n2 0\r\n"),
	 GUARD_400, 0, 0, 0},
	{"chunk_size_ws", R(POST "Transfer-Encoding: chunked\r\n\r\n2 \r\nhi"),
	 GUARD_400, 0, 0, 0},
	{"chunk_no_size", R(POST "Transfer-Encoding: chunked\r\n\r\n;x\r\n"),
	 GUARD_400, 0, 0, 0},
	{"chunk_neg", R(POST "Transfer-Encoding: chunked\r\n\r\n-1\r\n"),
	 GUARD_400, 0, 0, 0},
	{"chunk_short", R(POST "Transfer-Encoding: chunked\r\n\r\n3\r\nhello"),
	 GUARD_400, 0, 0, 0},
	{"chunk_long", R(POST "Transfer-Encoding: chunked\r\n\r\n"
	                 "FFFFFFFF\r\n"), GUARD_413, 0, 0, 0},
	{"chunk_total", R(POST "Transfer-Encoding: chunked\r\n\r\n"
	                  "80000\r\n"), GUARD_OK, 0, 0, 0},
	{"chunk_fold_trailer", R(POST "Transfer-Encoding: chunked\r\n\r\n"
	                         "0\r\nT: a\r\n b\r\n\r\n"), GUARD_400, 0, 0, 0},
	{"chunk_ext_nul", R(POST "Transfer-Encoding: chunked\r\n\r\n"
	                    "1;a\0\r\nx\r\n"), GUARD_400, 0, 0, 0},
	/* good requests before a bad one are handed on, the rest not */
	{"good_then_bad", R(GET GET "BAD\0"), GUARD_400, 2 * (sizeof(GET) - 1),
	 2, 0},
	{"body_then_bad", R(POST "Content-Length: 2\r\n\r\nhi" " GET"),
	 GUARD_400, sizeof(POST "Content-Length: 2\r\n\r\nhi") - 1, 1, 0},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static struct guard_limits lim;

static void
setup(void)
{
	guard_limits_init(&lim, 10 * 1024);
}

/* Feed C->in cut at the offsets CUTS (ascending, within the input) and
 * return the verdict; *HANDED receives the bytes handed on. */
static enum guard_verdict
feed_cut(const struct gcase *c, const size_t *cuts, size_t ncuts,
         size_t *handed, struct guard *g)
{
	char *buf = malloc(c->len + 1);
	size_t start = 0, k;
	enum guard_verdict v = GUARD_OK;

	ck_assert(buf != NULL);
	memcpy(buf, c->in, c->len);
	guard_reset(g);
	*handed = 0;
	for (k = 0; k <= ncuts && v == GUARD_OK; k++) {
		size_t end = k < ncuts ? cuts[k] : c->len, good = 0;

		if (end == start)
			continue;
		v = guard_feed(g, &lim, buf + start, end - start, &good);
		*handed += good;
		start = end;
	}
	free(buf);
	return v;
}

/* Check the outcome of one way of feeding C.  What is handed on: all
 * of a good input; of a bad one, at least the whole requests before the
 * bad one and never its offending byte, at offset BAD (bytes of an
 * earlier piece are handed on before the rest is seen: libmicrohttpd
 * acts on no partial head).  Fed whole: exactly the whole requests. */
static void
check_outcome(const struct gcase *c, enum guard_verdict v, size_t handed,
              const struct guard *g, const char *how, size_t bad)
{
	ck_assert_msg(v == c->verdict, "%s (%s): verdict %d, want %d", c->name,
	              how, (int)v, (int)c->verdict);
	if (c->verdict == GUARD_OK)
		ck_assert_msg(handed == c->len, "%s (%s): handed on %zu of "
		              "%zu bytes", c->name, how, handed, c->len);
	else
		ck_assert_msg(handed >= c->good && handed <= bad,
		              "%s (%s): handed on %zu bytes, want %zu to %zu",
		              c->name, how, handed, c->good, bad);
	ck_assert_msg(g->done == c->done, "%s (%s): %u requests done, want %u",
	              c->name, how, g->done, c->done);
	if (v == GUARD_OK)
		ck_assert_msg(guard_idle(g) == c->idle, "%s (%s): idle %d",
		              c->name, how, guard_idle(g));
}

START_TEST(test_whole)
{
	const struct gcase *c = &cases[_i];
	struct guard g;
	size_t handed;
	enum guard_verdict v = feed_cut(c, NULL, 0, &handed, &g);

	check_outcome(c, v, handed, &g, "whole", c->good);
}
END_TEST

/* Fed byte by byte; returns the offset of the offending byte (all the
 * bytes handed on before the verdict), or the length if none. */
static size_t
bytewise(const struct gcase *c)
{
	struct guard g;
	size_t *cuts = malloc(c->len * sizeof(*cuts)), i, handed;
	enum guard_verdict v;

	ck_assert(cuts != NULL);
	for (i = 0; i + 1 < c->len; i++)
		cuts[i] = i + 1;
	v = feed_cut(c, cuts, c->len > 0 ? c->len - 1 : 0, &handed, &g);
	free(cuts);
	check_outcome(c, v, handed, &g, "bytewise", handed);
	return handed;
}

START_TEST(test_bytewise)
{
	bytewise(&cases[_i]);
}
END_TEST

START_TEST(test_split_two)
{
	const struct gcase *c = &cases[_i];
	size_t cut, handed, bad = bytewise(c);
	struct guard g;
	char how[32];

	for (cut = 1; cut < c->len; cut++) {
		enum guard_verdict v = feed_cut(c, &cut, 1, &handed, &g);

		snprintf(how, sizeof(how), "split at %zu", cut);
		check_outcome(c, v, handed, &g, how, bad);
	}
}
END_TEST

/* Cookie fields whose name arrives whole are renamed in place: the
 * only change the guard makes to the bytes. */
START_TEST(test_cookie_renamed)
{
	char buf[] = "GET / HTTP/1.1\r\nHost: x\r\ncookie: a=b\r\n"
	             "X-Cookie: c\r\n\r\n";
	struct guard g;
	size_t good;

	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, sizeof(buf) - 1, &good),
	                 GUARD_OK);
	ck_assert_str_eq(buf, "GET / HTTP/1.1\r\nHost: x\r\nXookie: a=b\r\n"
	                 "X-Cookie: c\r\n\r\n");
}
END_TEST

/* What libmicrohttpd's pool would take: a 10 KiB pool takes 8 KB of
 * fields and a 6 KB cookie (renamed), but not 12 KB of fields, nor 200
 * fields, nor a cookie too big to copy when its name was split off. */
START_TEST(test_limits)
{
	static char buf[32768];
	struct guard g;
	size_t n, good, i;

	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\nCookie: ");
	memset(buf + n, 'c', 6000);
	n += 6000;
	n += (size_t)sprintf(buf + n, "\r\nX-A: ");
	memset(buf + n, 'a', 2000);
	n += 2000;
	n += (size_t)sprintf(buf + n, "\r\n\r\n");
	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, n, &good), GUARD_OK);
	ck_assert_uint_eq(g.done, 1);

	/* The same, with the name "Cookie" split across two reads: not
	 * renamed, so its copy counts, and 6 KB of it no longer fit. */
	ck_assert(memcmp(buf + 25, "Xookie:", 7) == 0);
	buf[25] = 'C';
	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, 28, &good), GUARD_OK);
	ck_assert_int_eq(guard_feed(&g, &lim, buf + 28, n - 28, &good),
	                 GUARD_431);

	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\nX-A: ");
	memset(buf + n, 'a', 12000);
	n += 12000;
	n += (size_t)sprintf(buf + n, "\r\n\r\n");
	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, n, &good), GUARD_431);

	n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 200; i++)
		n += (size_t)sprintf(buf + n, "X-%zu: v\r\n", i);
	n += (size_t)sprintf(buf + n, "\r\n");
	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, n, &good), GUARD_431);

	n = (size_t)sprintf(buf, "GET /");
	memset(buf + n, 'p', 9000);
	n += 9000;
	n += (size_t)sprintf(buf + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	guard_reset(&g);
	ck_assert_int_eq(guard_feed(&g, &lim, buf, n, &good), GUARD_414);
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_uint_eq(guard_status(GUARD_400), 400);
	ck_assert_uint_eq(guard_status(GUARD_501), 501);
	ck_assert_str_eq(guard_reason(GUARD_431),
	                 "Request Header Fields Too Large");
	ck_assert_str_eq(guard_reason(GUARD_505), "HTTP Version Not Supported");
}
END_TEST

static Suite *
guard_suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_loop_test(tc, test_whole, 0, (int)NCASES);
	tcase_add_loop_test(tc, test_split_two, 0, (int)NCASES);
	tcase_add_loop_test(tc, test_bytewise, 0, (int)NCASES);
	tcase_add_test(tc, test_cookie_renamed);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_status_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return tu_run_suite(guard_suite());
}
