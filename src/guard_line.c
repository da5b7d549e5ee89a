/* guard_line.c -- the framing rule on whole lines: a request line or a
 * field line found whole in one read is checked in one pass, with no
 * per-byte dispatch, and leaves the state as guard.c's byte-by-byte path
 * would (55 ns for wrk's request, 194 ns byte by byte; the ChangeLog
 * of issue 11).  A line that is not whole, or not valid, is left to that
 * path, which gives the verdict at the right byte. */
#include <string.h>
#include <strings.h>

#include "guard_int.h"

/* The Host value V (LEN bytes) at once: value_byte's rule for F_HOST
 * without the per-byte dispatch.  Returns the sub-state value_byte would
 * end in (9: bad). */
static uint8_t
host_check(const char *v, size_t len)
{
	size_t k = 0, e = len;
	uint8_t sub;

	while (k < e && (v[k] == ' ' || v[k] == '\t'))
		k++;
	if (k == e)
		return 0;
	while (e > k && (v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	if (v[k] == '[') {
		for (k++; k < e && v[k] != ']'; k++)
			if (!IS(v[k], C_HOST) && v[k] != ':')
				return 9;
		if (k == e)  /* "[" never closed: value_end finds it */
			return e < len ? 9 : 2;
		k++;
		sub = 3;
	} else {
		while (k < e && IS(v[k], C_HOST))
			k++;
		sub = 1;
	}
	if (k < e && v[k] == ':') {
		for (k++; k < e; k++)
			if (!IS(v[k], C_DIGIT))
				return 9;
		sub = 4;
	}
	if (k < e)
		return 9;
	return e < len ? 5 : sub;
}

/* See guard_int.h. */
void
guard_line_request(struct guard *g, const struct guard_limits *lim,
             const char *p, size_t n, size_t *used)
{
	const char *lf = memchr(p, '\n', n);
	size_t len, end, k = 0;
	uint32_t args = 0;

	*used = 0;
	if (lf == NULL)
		return;
	len = (size_t)(lf - p) + 1;
	end = len - 1;
	if (end > 0 && p[end - 1] == '\r')
		end--;
	while (k < end && IS(p[k], C_TCHAR))
		k++;
	if (k == 0 || k >= end || p[k++] != ' ' || k >= end || p[k] == ' ')
		return;
	while (k < end && IS(p[k], C_VCHAR)) {
		args += p[k] == '?' || p[k] == '&';
		k++;
	}
	/* What is left must be " HTTP/1." DIGIT. */
	if (k + 9 != end || memcmp(p + k, " HTTP/1.", 8) != 0 ||
	    !IS(p[k + 8], C_DIGIT))
		return;
	if (len > lim->line_max || g->head + len > lim->head_max ||
	    g->head + len + g->cost + (size_t)args * lim->field_cost >
	    lim->pool_budget)
		return;
	g->requests++;
	g->http10 = p[k + 8] == '0';
	g->cost = (uint16_t)(g->cost + args * lim->field_cost);
	g->head = (uint16_t)(g->head + len);
	g->line = 0;
	g->sub = 9;  /* as S_VERSION leaves it */
	g->state = S_LINE;
	*used = len;
}

/* See guard_int.h. */
enum guard_verdict
guard_line_field(struct guard *g, const struct guard_limits *lim, char *p,
           size_t n, size_t *used)
{
	const char *lf = memchr(p, '\n', n);
	size_t len, end, name = 0, k;

	*used = 0;
	if (lf == NULL)
		return GUARD_OK;
	len = (size_t)(lf - p) + 1;
	end = len - 1;  /* the value ends before the line end */
	if (end > 0 && p[end - 1] == '\r')
		end--;
	while (name < end && IS(p[name], C_TCHAR))
		name++;
	if (name == end || p[name] != ':')
		return GUARD_OK;
	for (k = name + 1; k < end; k++)
		if (!IS(p[k], C_VCHAR | C_OBS | C_WS))
			return GUARD_OK;
	if (g->head + len > lim->head_max ||
	    (size_t)g->fields + 1 > lim->fields_max)
		return GUARD_OK;  /* the byte-by-byte path says which limit */
	/* As the byte-by-byte path leaves G after the line. */
	g->fields++;
	g->cost = (uint16_t)(g->cost + lim->field_cost);
	g->head = (uint16_t)(g->head + len);
	g->field = F_OTHER;
	if (!g->trailer) {
		int f;

		for (f = 1; f < F_COUNT; f++)
			if (name == guard_name_len[f] &&
			    strncasecmp(p, guard_names[f], name) == 0)
				g->field = (uint8_t)f;
	}
	guard_field_named(g, p);
	if (g->field == F_HOST) {
		g->sub = host_check(p + name + 1, end - name - 1);
		g->bad_value |= g->sub == 9;
	} else if (g->field != F_OTHER) {
		for (k = name + 1; k < end; k++)
			guard_value_byte(g, lim, (unsigned char)p[k]);
	}
	guard_value_end(g);
	g->match = 0;
	g->npos = name > 255 ? 255 : (uint8_t)name;
	g->line = 0;
	*used = len;
	if (g->head + g->cost > lim->pool_budget)
		return GUARD_431;
	return GUARD_OK;
}

