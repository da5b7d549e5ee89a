/* fuzz_negotiate.c -- libFuzzer target for negotiate.c's parsers ("make
 * fuzz").  Each input, up to its first NUL, is one field value, in a heap
 * buffer of exactly its length and the NUL (so a read past the NUL is an
 * AddressSanitizer report), given to every parser:
 *
 *   Accept-Encoding:  whole as one field, and again split into fields at
 *       every comma and at one comma a hash of the input picks: the same
 *       choice and the same malformed flag each way, the same q values
 *       when well-formed; every q within -1..1000; gzip chosen only as
 *       negotiate_accept_choose says.
 *   entity-tag lists: against two tags, strong and weak: each answer -1,
 *       0 or 1, malformed (-1) for both comparisons or for neither, a
 *       strong match a weak one too; and split into fields at the commas
 *       between tags, combined as negotiate.h says, the same answer
 *       (unless a field is "*", which is not a list element).
 *   origins: a valid --cors-origin is found in a list of itself, is
 *       printable ASCII without upper case, and is no longer valid with a
 *       '/' after it; any value is found by "*" exactly when non-empty.
 *
 * A mismatch aborts, with what differed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "negotiate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void __attribute__((noreturn))
fail(const char *what, const char *value)
{
	fprintf(stderr, "fuzz_negotiate: %s: [%s]\n", what, value);
	abort();
}

/* A heap copy of [P, END) with OWS trimmed at both ends, as
 * libmicrohttpd hands a field value on, and exactly its NUL after. */
static char *
field_copy(const char *p, const char *end)
{
	char *f;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	f = malloc((size_t)(end - p) + 1);
	if (f == NULL)
		abort();
	memcpy(f, p, (size_t)(end - p));
	f[end - p] = '\0';
	return f;
}

/* Feed V into A split at every comma (CUT 0) or at the CUT-th only. */
static void
accept_split(struct negotiate_accept *a, const char *v, size_t cut)
{
	const char *start = v, *p;
	size_t k = 0;
	char *f;

	negotiate_accept_init(a);
	for (p = v; *p != '\0'; p++) {
		if (*p != ',')
			continue;
		if (cut == 0 || ++k == cut) {
			f = field_copy(start, p);
			negotiate_accept_field(a, f);
			free(f);
			start = p + 1;
		}
	}
	f = field_copy(start, p);
	negotiate_accept_field(a, f);
	free(f);
}

static void
check_accept(const char *v, size_t commas, uint32_t h)
{
	struct negotiate_accept whole, split;
	enum negotiate_coding c;
	int q, i;

	negotiate_accept_init(&whole);
	negotiate_accept_field(&whole, v);
	if (whole.fields != 1)
		fail("accept: fields not 1", v);
	if (whole.q_identity < -1 || whole.q_identity > 1000 ||
	    whole.q_gzip < -1 || whole.q_gzip > 1000 ||
	    whole.q_star < -1 || whole.q_star > 1000)
		fail("accept: q out of range", v);
	c = negotiate_accept_choose(&whole, 1);
	if (negotiate_accept_choose(&whole, 0) != NEGOTIATE_IDENTITY)
		fail("accept: gzip chosen while unavailable", v);
	q = whole.q_gzip >= 0 ? whole.q_gzip : whole.q_star;
	if ((c == NEGOTIATE_GZIP) !=
	    (!whole.malformed && q > 0 && whole.q_identity <= q))
		fail("accept: choice against the rule", v);
	for (i = 0; i < 2; i++) {
		accept_split(&split, v, i == 0 ? 0 : 1 + h % (commas + 1));
		if (split.malformed != whole.malformed)
			fail("accept: split malformed differs", v);
		if (!whole.malformed &&
		    (split.q_identity != whole.q_identity ||
		     split.q_gzip != whole.q_gzip || split.q_star != whole.q_star))
			fail("accept: split q values differ", v);
		if (negotiate_accept_choose(&split, 1) != c)
			fail("accept: split choice differs", v);
	}
}

/* The answer of V split at the commas between tags, combined as
 * negotiate.h says; *STAR set if a field was "*". */
static int
etag_split(const char *v, const char *tag, int weak, int *star)
{
	const char *start = v, *p;
	int quoted = 0, any = 0, bad = 0, r;

	*star = 0;
	for (p = v;; p++) {
		char *f;

		if (*p == '"')
			quoted = !quoted;
		if (*p != '\0' && (*p != ',' || quoted))
			continue;
		f = field_copy(start, p);
		*star |= strcmp(f, "*") == 0;
		r = negotiate_etag_match(f, tag, strlen(tag), weak);
		free(f);
		if (r < -1 || r > 1)
			fail("etag: split answer out of range", v);
		bad |= r < 0;
		any |= r > 0;
		if (*p == '\0')
			break;
		start = p + 1;
	}
	return bad ? -1 : any;
}

static void
check_etag(const char *v)
{
	static const char *const tags[] = {"\"abc\"",
	                                   "\"0123456789abcdef-gz\""};
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		int strong = negotiate_etag_match(v, tags[i], strlen(tags[i]), 0);
		int weak = negotiate_etag_match(v, tags[i], strlen(tags[i]), 1);
		int star, s;

		if (strong < -1 || strong > 1 || weak < -1 || weak > 1)
			fail("etag: answer out of range", v);
		if ((strong < 0) != (weak < 0))
			fail("etag: malformed for one comparison only", v);
		if (strong == 1 && weak != 1)
			fail("etag: a strong match but no weak one", v);
		s = etag_split(v, tags[i], 0, &star);
		if (!star && s != strong)
			fail("etag: split differs (strong)", v);
		s = etag_split(v, tags[i], 1, &star);
		if (!star && s != weak)
			fail("etag: split differs (weak)", v);
	}
}

static void
check_origin(const char *v, size_t n)
{
	static const char *const star[] = {"*"};
	const char *self[1];
	char *slash;
	size_t i;

	self[0] = v;
	if (negotiate_origin_find(v, star, 1) != (n > 0 ? 0 : -1))
		fail("origin: \"*\" and a value", v);
	if (!negotiate_origin_valid(v) || strcmp(v, "*") == 0)
		return;
	if (negotiate_origin_find(v, self, 1) != 0)
		fail("origin: valid, not found in a list of itself", v);
	for (i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e || (v[i] >= 'A' && v[i] <= 'Z'))
			fail("origin: valid with a byte a browser never sends", v);
	slash = malloc(n + 2);
	if (slash == NULL)
		abort();
	memcpy(slash, v, n);
	memcpy(slash + n, "/", 2);
	if (negotiate_origin_valid(slash))
		fail("origin: valid with a trailing slash", v);
	free(slash);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul != NULL ? (size_t)(nul - data) : size, i, commas = 0;
	uint32_t h = 2166136261u;
	char *v = malloc(n + 1);

	if (v == NULL)
		abort();
	memcpy(v, data, n);
	v[n] = '\0';
	for (i = 0; i < n; i++) {
		h = (h ^ data[i]) * 16777619u;
		commas += data[i] == ',';
	}
	check_accept(v, commas, h);
	check_etag(v);
	check_origin(v, n);
	free(v);
	return 0;
}
