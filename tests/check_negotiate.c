/* check_negotiate.c -- unit tests for negotiate.c: Accept-Encoding, the
 * entity-tag lists of If-Match and If-None-Match, and origins, each
 * table-driven; and that a value split over several fields (RFC 9110
 * 5.3) gives the answer it gives whole. */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "negotiate.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* Accept-Encoding                                                     */
/* ------------------------------------------------------------------ */

#define MAXF 3
#define ID NEGOTIATE_IDENTITY
#define GZ NEGOTIATE_GZIP

/* Fields V (up to the first NULL: none is a request without the field)
 * with gzip available or not must choose WANT and leave the state
 * MALFORMED, QI, QG, QS (q * 1000, -1 not listed). */
struct acase {
	const char *v[MAXF];
	int avail;
	enum negotiate_coding want;
	int malformed;
	short qi, qg, qs;
};

static const struct acase accepts[] = {
	/* Absent, or empty (an empty list: a field, nothing listed). */
	{{NULL}, 1, ID, 0, -1, -1, -1},
	{{""}, 1, ID, 0, -1, -1, -1},
	{{","}, 1, ID, 0, -1, -1, -1},
	{{" , ,\t"}, 1, ID, 0, -1, -1, -1},
	/* gzip, its q, and x-gzip (RFC 9110 8.4.1.3), any case. */
	{{"gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip;q=0"}, 1, ID, 0, -1, 0, -1},
	{{"gzip;q=0.5"}, 1, GZ, 0, -1, 500, -1},
	{{"gzip;q=0.001"}, 1, GZ, 0, -1, 1, -1},
	{{"gzip;q=0.000"}, 1, ID, 0, -1, 0, -1},
	{{"gzip;q=0."}, 1, ID, 0, -1, 0, -1},
	{{"gzip;q=1"}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip;q=1."}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip;q=1.000"}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip;q=0.25"}, 1, GZ, 0, -1, 250, -1},
	{{"gzip;Q=0.5"}, 1, GZ, 0, -1, 500, -1},  /* "q=" is case-insensitive ABNF */
	{{"x-gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"X-GZIP;q=0.3"}, 1, GZ, 0, -1, 300, -1},
	{{"GZIP"}, 1, GZ, 0, -1, 1000, -1},
	{{"Gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"gZiP;q=0"}, 1, ID, 0, -1, 0, -1},
	/* "*": gzip when gzip is not listed. */
	{{"*"}, 1, GZ, 0, -1, -1, 1000},
	{{"*;q=0"}, 1, ID, 0, -1, -1, 0},
	{{"*;q=0.1"}, 1, GZ, 0, -1, -1, 100},
	{{"gzip;q=0, *"}, 1, ID, 0, -1, 0, 1000},
	{{"*, gzip;q=0"}, 1, ID, 0, -1, 0, 1000},
	{{"gzip;q=0.2, *;q=0"}, 1, GZ, 0, -1, 200, 0},
	/* identity: weighed only when listed, and only a higher q wins. */
	{{"identity"}, 1, ID, 0, 1000, -1, -1},
	{{"identity;q=1, gzip;q=0.5"}, 1, ID, 0, 1000, 500, -1},
	{{"identity;q=0.9, gzip;q=0.899"}, 1, ID, 0, 900, 899, -1},
	{{"identity, gzip"}, 1, GZ, 0, 1000, 1000, -1},
	{{"identity;q=1, gzip;q=1"}, 1, GZ, 0, 1000, 1000, -1},
	{{"gzip, identity;q=0"}, 1, GZ, 0, 0, 1000, -1},
	{{"identity;q=0, gzip;q=0"}, 1, ID, 0, 0, 0, -1},
	{{"identity;q=0.5, *"}, 1, GZ, 0, 500, -1, 1000},
	{{"*;q=0.5, identity;q=0.6"}, 1, ID, 0, 600, -1, 500},
	{{"IDENTITY;Q=0.5, gzip;q=0.4"}, 1, ID, 0, 500, 400, -1},
	/* Unknown codings: accepted, ignored. */
	{{"br;q=1.0, gzip;q=0.8"}, 1, GZ, 0, -1, 800, -1},
	{{"br, deflate, zstd"}, 1, ID, 0, -1, -1, -1},
	{{"compress, gzip2, gzipx, xgzip, *x, x-gzip2"}, 1, ID, 0, -1, -1, -1},
	{{"br;q=0, gzip"}, 1, GZ, 0, -1, 1000, -1},
	/* A coding listed twice: the last q wins (x-gzip is gzip). */
	{{"gzip;q=0, gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip, gzip;q=0"}, 1, ID, 0, -1, 0, -1},
	{{"gzip;q=0, x-gzip;q=0.3"}, 1, GZ, 0, -1, 300, -1},
	{{"x-gzip, gzip;q=0"}, 1, ID, 0, -1, 0, -1},
	{{"*;q=0, *"}, 1, GZ, 0, -1, -1, 1000},
	/* OWS (spaces and tabs) around ";" and ",", empty elements. */
	{{"gzip ; q=0.5"}, 1, GZ, 0, -1, 500, -1},
	{{"gzip\t;\tq=0.5 ,\t identity;q=0.1"}, 1, GZ, 0, 100, 500, -1},
	{{"gzip;q=0.5\t, br"}, 1, GZ, 0, -1, 500, -1},
	{{"br, , gzip,,"}, 1, GZ, 0, -1, 1000, -1},
	{{", gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{" \tgzip \t"}, 1, GZ, 0, -1, 1000, -1},
	/* Malformed: identity, whatever else is listed. */
	{{"gzip;q=2"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=0.1234"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=1.001"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=1.5"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=abc"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q="}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=01"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=-1"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=.5"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=0.5x"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q = 0.5"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q= 0.5"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;q=1;q=0"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;level=9"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;qq=1"}, 1, ID, 1, -1, -1, -1},
	{{"gzip;;q=1"}, 1, ID, 1, -1, -1, -1},
	{{";q=1"}, 1, ID, 1, -1, -1, -1},
	{{"gz ip"}, 1, ID, 1, -1, -1, -1},
	{{"gzip q=1"}, 1, ID, 1, -1, -1, -1},
	{{"\"gzip\""}, 1, ID, 1, -1, -1, -1},
	{{"gzip/1"}, 1, ID, 1, -1, -1, -1},
	{{"gzip\x01"}, 1, ID, 1, -1, -1, -1},
	{{"gzip\xc3\xa9"}, 1, ID, 1, -1, -1, -1},
	{{"gzip, br;q=2"}, 1, ID, 1, -1, -1, -1},
	{{"identity;q=0, gzip;q=2"}, 1, ID, 1, -1, -1, -1},
	/* Two or three fields: one list, in order. */
	{{"identity;q=0", "gzip"}, 1, GZ, 0, 0, 1000, -1},
	{{"gzip;q=0", "*"}, 1, ID, 0, -1, 0, 1000},
	{{"gzip", "gzip;q=0"}, 1, ID, 0, -1, 0, -1},
	{{"gzip;q=0", "gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"", "gzip"}, 1, GZ, 0, -1, 1000, -1},
	{{"gzip", ""}, 1, GZ, 0, -1, 1000, -1},
	{{"br", "identity;q=0.5", "gzip;q=0.4"}, 1, ID, 0, 500, 400, -1},
	/* A malformed field spoils the whole list, and changes no q. */
	{{"gzip", "br;q=5"}, 1, ID, 1, -1, 1000, -1},
	{{"br;q=5", "gzip"}, 1, ID, 1, -1, 1000, -1},
	{{"gzip", "identity;q=1, x;y"}, 1, ID, 1, -1, 1000, -1},
	/* No gzip form: identity whatever is asked. */
	{{"gzip"}, 0, ID, 0, -1, 1000, -1},
	{{"*"}, 0, ID, 0, -1, -1, 1000},
	{{"x-gzip;q=1, identity;q=0"}, 0, ID, 0, 0, 1000, -1},
};

static void
accept_feed(struct negotiate_accept *a, const char *const *v, size_t n)
{
	size_t i;

	negotiate_accept_init(a);
	for (i = 0; i < n && v[i] != NULL; i++)
		negotiate_accept_field(a, v[i]);
}

static size_t
accept_nfields(const struct acase *c)
{
	size_t n = 0;

	while (n < MAXF && c->v[n] != NULL)
		n++;
	return n;
}

static void
accept_describe(const struct acase *c, char *buf, size_t size)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < accept_nfields(c) && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s[%s]",
		                         i > 0 ? " + " : "", c->v[i]);
	if (i == 0)
		snprintf(buf, size, "(no field)");
}

START_TEST(test_accept)
{
	const struct acase *c = &accepts[_i];
	struct negotiate_accept a;
	enum negotiate_coding got;
	char what[256];

	accept_describe(c, what, sizeof(what));
	accept_feed(&a, c->v, MAXF);
	got = negotiate_accept_choose(&a, c->avail);
	ck_assert_msg(got == c->want, "%s (gzip %s): chose %s, want %s", what,
	              c->avail ? "available" : "unavailable",
	              got == GZ ? "gzip" : "identity",
	              c->want == GZ ? "gzip" : "identity");
	ck_assert_msg(a.fields == (int)accept_nfields(c),
	              "%s: %d fields counted", what, a.fields);
	ck_assert_msg(a.malformed == c->malformed, "%s: malformed %d, want %d",
	              what, a.malformed, c->malformed);
	ck_assert_msg(a.q_identity == c->qi && a.q_gzip == c->qg &&
	              a.q_star == c->qs, "%s: q identity %d gzip %d * %d, "
	              "want %d %d %d", what, a.q_identity, a.q_gzip, a.q_star,
	              c->qi, c->qg, c->qs);
	/* The same state with gzip available or not: only the choice
	 * depends on it, and without gzip it is always identity. */
	ck_assert_int_eq(negotiate_accept_choose(&a, 0), ID);
}
END_TEST

/* Copy [P, END) into BUF as a field value the way libmicrohttpd hands it
 * on: OWS trimmed at both ends, NUL-terminated. */
static const char *
field_value(const char *p, const char *end, char *buf, size_t size)
{
	size_t len;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - p);
	ck_assert_uint_lt(len, size);
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

/* Feed V as fields, split at the commas whose bit is set in MASK (bit k:
 * the k-th comma outside a quoted string; every one when MASK is ~0). */
static void
accept_split(struct negotiate_accept *a, const char *v, unsigned long mask)
{
	const char *start = v, *p;
	char buf[256];
	unsigned k = 0;

	negotiate_accept_init(a);
	for (p = v; *p != '\0'; p++) {
		if (*p != ',')
			continue;
		if (k < sizeof(mask) * 8 && (mask >> k & 1) != 0) {
			negotiate_accept_field(a, field_value(start, p, buf,
			                                      sizeof(buf)));
			start = p + 1;
		}
		k++;
	}
	negotiate_accept_field(a, field_value(start, p, buf, sizeof(buf)));
}

/* RFC 9110 5.3: a list split over several fields is the same list.
 * Every one-field case, split at each comma alone and at all of them,
 * must give the choice it gives whole, and malformed or not as whole;
 * when well-formed, the same q values.  (A malformed list's q values are
 * whatever its well-formed fields said: nothing reads them.) */
START_TEST(test_accept_split)
{
	size_t i;

	for (i = 0; i < N(accepts); i++) {
		const struct acase *c = &accepts[i];
		struct negotiate_accept whole, split;
		unsigned commas = 0, k;
		const char *p;

		if (accept_nfields(c) != 1)
			continue;
		accept_feed(&whole, c->v, 1);
		for (p = c->v[0]; *p != '\0'; p++)
			commas += *p == ',';
		for (k = 0; k <= commas; k++) {
			unsigned long mask = k < commas ? 1ul << k : ~0ul;

			accept_split(&split, c->v[0], mask);
			ck_assert_msg(split.malformed == whole.malformed,
			              "[%s] split (mask %lx): malformed %d, whole "
			              "%d", c->v[0], mask, split.malformed,
			              whole.malformed);
			ck_assert_msg(whole.malformed ||
			              (split.q_identity == whole.q_identity &&
			               split.q_gzip == whole.q_gzip &&
			               split.q_star == whole.q_star),
			              "[%s] split (mask %lx): q values differ from "
			              "whole", c->v[0], mask);
			ck_assert_msg(negotiate_accept_choose(&split, 1) ==
			              negotiate_accept_choose(&whole, 1),
			              "[%s] split (mask %lx): another choice",
			              c->v[0], mask);
			ck_assert_int_eq(split.fields, (int)(k < commas ? 2 :
			                                     commas + 1));
		}
	}
}
END_TEST

/* A NULL value (which libmicrohttpd does not give) is an empty one. */
START_TEST(test_accept_null)
{
	struct negotiate_accept a;

	negotiate_accept_init(&a);
	negotiate_accept_field(&a, "gzip;q=0.5");
	negotiate_accept_field(&a, NULL);
	ck_assert_int_eq(a.fields, 2);
	ck_assert_int_eq(a.malformed, 0);
	ck_assert_int_eq(a.q_gzip, 500);
	ck_assert_int_eq(negotiate_accept_choose(&a, 1), GZ);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Entity-tag lists                                                    */
/* ------------------------------------------------------------------ */

#define TAG "\"abc\""

/* VALUE against TAG (TAG above when NULL): STRONG the answer of the
 * strong comparison (If-Match), WEAK of the weak one (If-None-Match). */
struct ecase {
	const char *value;
	const char *tag;
	int strong, weak;
};

static const struct ecase etags[] = {
	/* Exact, and in a list. */
	{"\"abc\"", NULL, 1, 1},
	{"\"abd\"", NULL, 0, 0},
	{"\"ab\"", NULL, 0, 0},
	{"\"abcd\"", NULL, 0, 0},
	{"\"ABC\"", NULL, 0, 0},   /* opaque: case matters */
	{"\"x\", \"abc\"", NULL, 1, 1},
	{"\"x\",\"abc\",\"y\"", NULL, 1, 1},
	{"\"x\"\t,\t\"abc\"", NULL, 1, 1},
	{"\"x\", \"y\"", NULL, 0, 0},
	{"\"abc\"", "\"abc-gz\"", 0, 0},
	{"\"abc-gz\"", "\"abc-gz\"", 1, 1},
	{"\"abc\", \"abc-gz\"", "\"abc-gz\"", 1, 1},
	/* Weak tags: only the weak comparison (RFC 9110 8.8.3.2). */
	{"W/\"abc\"", NULL, 0, 1},
	{"W/\"x\", \"abc\"", NULL, 1, 1},
	{"W/\"x\", W/\"abc\"", NULL, 0, 1},
	{"\"x\", W/\"abc\", \"y\"", NULL, 0, 1},
	{"W/\"abd\"", NULL, 0, 0},
	/* "*": alone only. */
	{"*", NULL, 1, 1},
	{"*", "\"anything\"", 1, 1},
	{"\t* ", NULL, 1, 1},
	{"*, \"abc\"", NULL, -1, -1},
	{"\"abc\", *", NULL, -1, -1},
	{"**", NULL, -1, -1},
	{"*x", NULL, -1, -1},
	{"\"*\"", NULL, 0, 0},      /* a tag whose text is "*" */
	{"\"*\"", "\"*\"", 1, 1},
	/* Empty lists and elements (RFC 9110 5.6.1). */
	{"", NULL, 0, 0},
	{",", NULL, 0, 0},
	{" , ,", NULL, 0, 0},
	{", ,\"abc\" ,,", NULL, 1, 1},
	{"\"\"", NULL, 0, 0},
	{"\"\"", "\"\"", 1, 1},
	/* Malformed: -1, even after a matching tag. */
	{"\"abc", NULL, -1, -1},
	{"\"x\", \"abc", NULL, -1, -1},
	{"abc", NULL, -1, -1},
	{"\"x\", abc", NULL, -1, -1},
	{"W/", NULL, -1, -1},
	{"W/abc", NULL, -1, -1},
	{"W/ \"abc\"", NULL, -1, -1},
	{"W/W/\"abc\"", NULL, -1, -1},
	{"w/\"abc\"", NULL, -1, -1},
	{"W\"abc\"", NULL, -1, -1},
	{"\"abc\"x", NULL, -1, -1},
	{"\"abc\"-gz", NULL, -1, -1},
	{"\"abc\" \"x\"", NULL, -1, -1},
	{"\"abc\", garbage", NULL, -1, -1},
	{"\"abc\";q=1", NULL, -1, -1},
	{"\"a b\"", "\"a b\"", -1, -1},     /* SP is no etagc */
	{"\"a\x7f\"", "\"a\x7f\"", -1, -1}, /* nor DEL */
	{"\"a\x01\"", "\"a\x01\"", -1, -1}, /* nor a control */
	{"\"a\"b\"", NULL, -1, -1},
	{"'abc'", NULL, -1, -1},
	/* obs-text is etagc. */
	{"\"\xc3\xa9\"", "\"\xc3\xa9\"", 1, 1},
	/* A comma inside a tag is the tag's: no split there. */
	{"\"a,b\"", "\"a,b\"", 1, 1},
	{"\"a,b\"", "\"a\"", 0, 0},
	{"\"a,b\"", "\"b\"", 0, 0},
	{"\"x\", \"a,b\"", "\"a,b\"", 1, 1},
	{"W/\"a,b\"", "\"a,b\"", 0, 1},
};

static void
etag_check(const char *value, const char *tag, int weak, int want)
{
	int got = negotiate_etag_match(value, tag, strlen(tag), weak);

	ck_assert_msg(got == want, "[%s] vs %s, %s comparison: %d, want %d",
	              value, tag, weak ? "weak" : "strong", got, want);
}

START_TEST(test_etag)
{
	const struct ecase *c = &etags[_i];
	const char *tag = c->tag != NULL ? c->tag : TAG;

	etag_check(c->value, tag, 0, c->strong);
	etag_check(c->value, tag, 1, c->weak);
}
END_TEST

/* Only TAG_LEN bytes of TAG count: the caller's tag need not end in a
 * NUL (the server keeps its tags in a header buffer). */
START_TEST(test_etag_len)
{
	const char *tags = "\"abc\"\"abc-gz\"";

	ck_assert_int_eq(negotiate_etag_match("\"abc\"", tags, 5, 0), 1);
	ck_assert_int_eq(negotiate_etag_match("\"abc-gz\"", tags + 5, 8, 0), 1);
	ck_assert_int_eq(negotiate_etag_match("\"abc\"", tags + 5, 8, 0), 0);
	ck_assert_int_eq(negotiate_etag_match("\"abc\"\"abc-gz\"", tags, 13, 1),
	                 -1);
	ck_assert_int_eq(negotiate_etag_match(NULL, tags, 5, 1), 0);
}
END_TEST

/* Several fields, combined as negotiate.h says (-1 if any is -1, else 1
 * if any is 1, else 0), give the answer of the value whole, split at any
 * of its commas between tags (not those inside a tag).  "*" is left
 * out: it is not a list element. */
static int
etag_split(const char *v, unsigned long mask, const char *tag, int weak)
{
	const char *start = v, *p;
	char buf[256];
	unsigned k = 0;
	int quoted = 0, any = 0, bad = 0, r;

	for (p = v;; p++) {
		if (*p == '"')
			quoted = !quoted;
		if (*p != '\0' && (*p != ',' || quoted))
			continue;
		if (*p == '\0' || (k < sizeof(mask) * 8 && (mask >> k & 1) != 0)) {
			r = negotiate_etag_match(field_value(start, p, buf,
			                                     sizeof(buf)),
			                         tag, strlen(tag), weak);
			bad |= r < 0;
			any |= r > 0;
			start = p + 1;
		}
		if (*p == '\0')
			break;
		k++;
	}
	return bad ? -1 : any;
}

START_TEST(test_etag_split)
{
	size_t i;
	int weak;

	for (i = 0; i < N(etags); i++) {
		const struct ecase *c = &etags[i];
		const char *tag = c->tag != NULL ? c->tag : TAG;
		unsigned commas = 0, k;
		const char *p;
		int quoted = 0;

		if (strchr(c->value, '*') != NULL)
			continue;
		for (p = c->value; *p != '\0'; p++) {
			quoted ^= *p == '"';
			commas += *p == ',' && !quoted;
		}
		for (weak = 0; weak <= 1; weak++)
			for (k = 0; k <= commas; k++) {
				unsigned long mask = k < commas ? 1ul << k : ~0ul;
				int got = etag_split(c->value, mask, tag, weak);

				ck_assert_msg(got == (weak ? c->weak : c->strong),
				              "[%s] vs %s, %s, split (mask %lx): "
				              "%d", c->value, tag,
				              weak ? "weak" : "strong", mask, got);
			}
	}
}
END_TEST

/* ------------------------------------------------------------------ */
/* Origins                                                             */
/* ------------------------------------------------------------------ */

static const char *const explicit_list[] = {
	"https://a.example", "http://b.example:8080", "http://[::1]:3000"};
static const char *const star_list[] = {"https://a.example", "*",
                                        "http://b.example:8080"};
static const char *const only_star[] = {"*"};

struct ocase {
	const char *const *list;
	size_t n;
	const char *origin;
	int want;
};

static const struct ocase origins[] = {
	{explicit_list, 3, "https://a.example", 0},
	{explicit_list, 3, "http://b.example:8080", 1},
	{explicit_list, 3, "http://[::1]:3000", 2},
	/* Byte for byte: no case folding, no default port, no slash. */
	{explicit_list, 3, "HTTPS://A.EXAMPLE", -1},
	{explicit_list, 3, "https://A.example", -1},
	{explicit_list, 3, "https://a.example:443", -1},
	{explicit_list, 3, "https://a.example/", -1},
	{explicit_list, 3, "http://a.example", -1},
	{explicit_list, 3, "https://a.exampl", -1},
	{explicit_list, 3, "https://a.example.", -1},
	{explicit_list, 3, "https://a.examplex", -1},
	{explicit_list, 3, "http://b.example", -1},
	{explicit_list, 3, "http://b.example:808", -1},
	{explicit_list, 3, "http://[0:0:0:0:0:0:0:1]:3000", -1},
	{explicit_list, 3, "*", -1},
	{explicit_list, 3, "", -1},
	{explicit_list, 3, "null", -1},
	{explicit_list, 0, "https://a.example", -1},
	{explicit_list, 1, "http://b.example:8080", -1},
	/* "*": any non-empty origin, "null" too; the first match's index. */
	{star_list, 3, "https://a.example", 0},
	{star_list, 3, "http://b.example:8080", 1},
	{star_list, 3, "https://z.example", 1},
	{star_list, 3, "null", 1},
	{star_list, 3, "not an origin", 1},
	{star_list, 3, "", -1},
	{only_star, 1, "x", 0},
	{only_star, 1, "", -1},
	{only_star, 1, NULL, -1},
};

START_TEST(test_origin_find)
{
	const struct ocase *c = &origins[_i];
	int got = negotiate_origin_find(c->origin, c->list, c->n);

	ck_assert_msg(got == c->want, "origin [%s] in a list of %zu: %d, "
	              "want %d", c->origin != NULL ? c->origin : "(null)",
	              c->n, got, c->want);
}
END_TEST

static const char *const origins_valid[] = {
	"*",
	"http://a",
	"https://example.com",
	"https://a-b.c-d.example:1",
	"http://xn--bcher-kva.example",
	"http://example.com.",          /* a browser keeps the dot */
	"http://x:65535",
	"http://localhost:8080",
	"https://a:80",                 /* 80 is not https's default */
	"http://a:443",
	"http://127.0.0.1:8080",
	"http://0.0.0.0",
	"http://255.255.255.255",
	"http://1.2.3.4a",              /* ends in "4a": a name, not a number */
	"http://a.0xg",
	"http://[::1]",
	"http://[::1]:8080",
	"https://[2001:db8::1]",
	"http://[::]",
	"http://[1::]",
	"http://[1:2:3:4:5:6:7:8]",
	"http://[1:2:3:4:5:6:7:0]",     /* one zero piece is not compressed */
	"http://[0:1:0:1:0:1:0:1]",
	"http://[1:0:1::1:0:0]",        /* the first longest run */
	"http://[1:0:0:2::3]",
	"http://[fe80::1:2]",
	"http://[::ffff:102:304]",
	"http://[abcd:ef01::]",
};

static const char *const origins_invalid[] = {
	"", "**", "* ", " *", "null",
	"http://", "https://", "http:/a", "http:a", "ftp://a", "ws://a",
	"HTTP://a", "Http://a", "http://A", "http://Example.com",
	"http://a/", "http://a/path", "http://a?q", "http://a#f",
	"http://a:8080/", "http://u@a", "http://u:p@a",
	"http://a:", "http://a:0", "http://a:00", "http://a:65536",
	"http://a:08080", "http://a:99999999999", "http://a:8x",
	"http://a:-1", "http://a:+80", "http://a:8080:80",
	"http://a:80",                  /* the default port: never in Origin */
	"https://a:443",
	"http://a b", "http:// a", "http://a\t", "http://a_b", "http://a,b",
	"http://a%41", "http://\xc3\xa4.example",
	"http://.a", "http://a..b", "http://.", "http://..",
	"http://127.1", "http://127.0.0.01", "http://0x7f.0.0.1",
	"http://1.2.3.4.", "http://256.0.0.1", "http://1.2.3.4.5",
	"http://1.2.3", "http://a.1", "http://a.0x", "http://a.0x1f",
	"http://1", "http://0",
	"http://[::1", "http://[::1]]", "http://[]", "http://[:1]",
	"http://[1:]", "http://[::1::]", "http://[1:2:3:4:5:6:7:8:9]",
	"http://[1:2:3:4:5:6:7]", "http://[1:2:3:4:5:6:7:8::]",
	"http://[::FFFF]", "http://[::Ab]", "http://[0:0:0:0:0:0:0:1]",
	"http://[::0001]", "http://[1::2:0:0:0:3]", "http://[1:0::]",
	"http://[1:2:3:4:5:6:7::]", "http://[1:0:1:0:0:1::]",
	"http://[12345::]", "http://[fe80::1%25eth0]",
	"http://[::ffff:1.2.3.4]", "http://[::1]x", "http://[::1]/",
	"http://[::1]:", "http://[::1]:80", "http://::1", "http://[a]",
	"http://[:::]",
};

START_TEST(test_origin_valid)
{
	ck_assert_msg(negotiate_origin_valid(origins_valid[_i]) == 1,
	              "[%s] refused", origins_valid[_i]);
}
END_TEST

START_TEST(test_origin_invalid)
{
	ck_assert_msg(negotiate_origin_valid(origins_invalid[_i]) == 0,
	              "[%s] accepted", origins_invalid[_i]);
}
END_TEST

/* Every valid origin but "*" is found, at its index, in a list of all of
 * them, and only by itself. */
START_TEST(test_origin_valid_found)
{
	size_t i;

	ck_assert_int_eq(negotiate_origin_valid(NULL), 0);
	for (i = 1; i < N(origins_valid); i++)
		ck_assert_int_eq(negotiate_origin_find(origins_valid[i],
		                                       origins_valid + 1,
		                                       N(origins_valid) - 1),
		                 (int)i - 1);
}
END_TEST

static Suite *
negotiate_suite(void)
{
	Suite *s = suite_create("negotiate");
	TCase *ae = tcase_create("accept-encoding");
	TCase *et = tcase_create("etag");
	TCase *or = tcase_create("origin");

	tcase_add_loop_test(ae, test_accept, 0, (int)N(accepts));
	tcase_add_test(ae, test_accept_split);
	tcase_add_test(ae, test_accept_null);
	suite_add_tcase(s, ae);
	tcase_add_loop_test(et, test_etag, 0, (int)N(etags));
	tcase_add_test(et, test_etag_len);
	tcase_add_test(et, test_etag_split);
	suite_add_tcase(s, et);
	tcase_add_loop_test(or, test_origin_find, 0, (int)N(origins));
	tcase_add_loop_test(or, test_origin_valid, 0, (int)N(origins_valid));
	tcase_add_loop_test(or, test_origin_invalid, 0,
	                    (int)N(origins_invalid));
	tcase_add_test(or, test_origin_valid_found);
	suite_add_tcase(s, or);
	return s;
}

int
main(void)
{
	return tu_run_suite(negotiate_suite());
}
