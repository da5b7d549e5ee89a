/* guard.c -- the framing rule: a strict, incremental check of every byte
 * a client sends, before libmicrohttpd parses it (see guard.h).  This file
 * holds the byte-by-byte path, which any split of the input leaves
 * unchanged; guard_line.c takes the lines found whole in one read. */
#include <string.h>
#include <strings.h>

#include "guard_int.h"

/* Byte classes: see guard_int.h. */
const unsigned char guard_cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	8, 67, 2, 3, 67, 67, 67, 67, 66, 66, 67, 67, 66, 67, 67, 2,
	115, 115, 115, 115, 115, 115, 115, 115, 115, 115, 2, 66, 2, 66, 2, 2,
	2, 83, 83, 83, 83, 83, 83, 67, 67, 67, 67, 67, 67, 67, 67, 67,
	67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 2, 2, 2, 3, 67,
	3, 83, 83, 83, 83, 83, 83, 67, 67, 67, 67, 67, 67, 67, 67, 67,
	67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 2, 3, 2, 67, 0,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

const char *const guard_names[F_COUNT] = {
	"", "host", "content-length", "transfer-encoding", "cookie"};
const unsigned char guard_name_len[F_COUNT] = {0, 4, 14, 17, 6};

/* The longest chunk size read: 7 hex digits, more than body_max can
 * be (more digits: 413). */
#define CHUNK_DIGITS_MAX 7

void
guard_limits_init(struct guard_limits *lim, size_t pool_size)
{
	/* Measured with libmicrohttpd 0.9.75 and pools of 10, 11 and 12 KiB
	 * (a binary search on the head size that still gets a 200, for 1
	 * to 150 field lines): the largest head it takes is the pool size
	 * less about 300 bytes (the response's own header lines) less 64
	 * bytes per field line, Host included (a struct MHD_HTTP_Header,
	 * rounded up by the pool).  512 bytes are kept instead of 300. */
	lim->field_cost = 64;
	lim->pool_budget = pool_size > GUARD_BUDGET_MAX + 512 ? GUARD_BUDGET_MAX
	                   : pool_size > 2048 ? (uint32_t)(pool_size - 512)
	                   : 1536;
	lim->head_max = lim->pool_budget;
	lim->line_max = lim->pool_budget / 4 * 3;
	lim->fields_max = 100;
	lim->body_max = (uint32_t)1 << 20;  /* nginx's client_max_body_size */
}

void
guard_reset(struct guard *g)
{
	memset(g, 0, sizeof(*g));
}

int
guard_idle(const struct guard *g)
{
	return g->state == S_START;
}

unsigned
guard_status(enum guard_verdict v)
{
	static const unsigned status[GUARD_VERDICT_COUNT] = {
		200, 400, 413, 414, 431, 501, 505};

	return v < GUARD_VERDICT_COUNT ? status[v] : 400;
}

const char *
guard_reason(enum guard_verdict v)
{
	static const char *const reason[GUARD_VERDICT_COUNT] = {
		"OK", "Bad Request", "Content Too Large", "URI Too Long",
		"Request Header Fields Too Large", "Not Implemented",
		"HTTP Version Not Supported"};

	return v < GUARD_VERDICT_COUNT ? reason[v] : reason[GUARD_400];
}

/* Start reading the next request's head. */
static void
head_begin(struct guard *g)
{
	g->state = S_START;
	g->sub = 0;
	g->field = F_OTHER;
	g->http10 = 0;
	g->hosts = g->lengths = g->codings = 0;
	g->bad_value = g->bad_coding = g->trailer = 0;
	g->fields = 0;
	g->line = g->head = g->cost = 0;
	g->num = g->left = g->body = 0;
}

/* A field value byte C (not CR or LF) of the field being read. */
void
guard_value_byte(struct guard *g, const struct guard_limits *lim, unsigned char c)
{
	int ws = c == ' ' || c == '\t';

	switch (g->field) {
	case F_LENGTH:
		/* OWS 1*DIGIT OWS: sub 0 before the digits, 1 in them, 2
		 * after; "3 6", "+36", "0x24", "36, 36" are bad. */
		if (ws) {
			if (g->sub == 1)
				g->sub = 2;
		} else if (IS(c, C_DIGIT) && g->sub < 2) {
			g->sub = 1;
			if (g->num <= lim->body_max)
				g->num = g->num * 10 + (uint32_t)(c - '0');
		} else {
			g->bad_value = 1;
		}
		break;
	case F_CODING:
		/* OWS "chunked" OWS, case-insensitively: sub 1-7 is the bytes
		 * matched, 8 the trailing OWS, 9 a mismatch. */
		if (g->sub == 9)
			break;
		if (ws) {
			if (g->sub == 7)
				g->sub = 8;
			else if (g->sub != 0 && g->sub != 8)
				g->sub = 9;
		} else if (g->sub < 7 && (c | 0x20) == (unsigned char)"chunked"[g->sub]) {
			g->sub++;
		} else {
			g->sub = 9;
		}
		break;
	case F_HOST:
		/* uri-host [":" port] (RFC 9112 3.2, RFC 3986 3.2.2): sub 0
		 * leading OWS, 1 reg-name, 2 inside "[...]", 3 after "]", 4
		 * the port, 5 trailing OWS, 9 bad. */
		switch (g->sub) {
		case 0:
			if (ws)
				break;
			g->sub = c == '[' ? 2 : IS(c, C_HOST) ? 1 : c == ':' ? 4 : 9;
			break;
		case 1:
			g->sub = IS(c, C_HOST) ? 1 : c == ':' ? 4 : ws ? 5 : 9;
			break;
		case 2:
			g->sub = c == ']' ? 3 : IS(c, C_HOST) || c == ':' ? 2 : 9;
			break;
		case 3:
			g->sub = c == ':' ? 4 : ws ? 5 : 9;
			break;
		case 4:
			g->sub = IS(c, C_DIGIT) ? 4 : ws ? 5 : 9;
			break;
		case 5:
			g->sub = ws ? 5 : 9;
			break;
		default:
			break;
		}
		if (g->sub == 9)
			g->bad_value = 1;
		break;
	case F_COOKIE:
		/* Not renamed: libmicrohttpd copies the value, and makes a
		 * record per cookie. */
		g->cost = (uint16_t)(g->cost + 1u +
		                     (c == ';' ? lim->field_cost : 0u));
		break;
	default:
		break;
	}
}

/* The empty line that ends the head: decide the framing.  Returns
 * GUARD_OK with the state set for the body (or the next request). */
static enum guard_verdict
head_end(struct guard *g, const struct guard_limits *lim)
{
	if (g->http10 ? g->hosts > 1 : g->hosts != 1)
		return GUARD_400;
	if (g->lengths > 1 || g->codings > 1 || g->bad_value ||
	    (g->codings && (g->lengths || g->http10)))
		return GUARD_400;
	if (g->bad_coding)
		return GUARD_501;
	if (g->lengths && g->num > lim->body_max)
		return GUARD_413;
	if (g->codings) {
		g->state = S_CSIZE0;
		g->num = 0;
		g->sub = 0;
	} else if (g->lengths && g->num > 0) {
		g->state = S_BODY;
		g->left = g->num;
	} else {
		head_begin(g);
	}
	return GUARD_OK;
}

/* A trailer field section has begun: it is checked as a head. */
static void
trailer_begin(struct guard *g)
{
	g->state = S_LINE;
	g->trailer = 1;
	g->line = g->head = g->cost = 0;
	g->fields = 0;
}

/* The limits of a head, after its bytes so far: 414 while in the
 * request line, 431 after it. */
static enum guard_verdict
head_limits(const struct guard *g, const struct guard_limits *lim)
{
	if (g->state <= S_RL_CR && g->line > lim->line_max)
		return GUARD_414;
	if (g->head > lim->head_max || g->head + g->cost > lim->pool_budget)
		return g->state <= S_RL_CR ? GUARD_414 : GUARD_431;
	return GUARD_OK;
}

/* Whether G is in a state whose bytes guard_feed may take as a run. */
static int
run_state(const struct guard *g)
{
	switch (g->state) {
	case S_METHOD:
	case S_TARGET:
		return 1;
	case S_NAME:
		return g->match == 0;
	case S_VALUE:
		return g->field == F_OTHER || (g->field == F_HOST && g->sub == 1);
	default:
		return 0;
	}
}

/* The recognised names a field name starting with C may be. */
static uint8_t
names_from(unsigned char c)
{
	switch (c | 0x20) {
	case 'h':
		return 1u << F_HOST;
	case 'c':
		return 1u << F_LENGTH | 1u << F_COOKIE;
	case 't':
		return 1u << F_CODING;
	default:
		return 0;
	}
}

enum guard_verdict
guard_feed(struct guard *g, const struct guard_limits *lim, char *buf,
           size_t n, size_t *good)
{
	size_t i = 0, name_at = 0, last_end = 0;
	int name_here = 0;
	enum guard_verdict v = GUARD_OK;

	while (i < n) {
		unsigned char c = (unsigned char)buf[i];

		/* Bodies: skip whole runs. */
		if (g->state == S_BODY || g->state == S_CDATA) {
			size_t take = n - i;

			if (take > g->left)
				take = g->left;
			g->left -= (uint32_t)take;
			i += take;
			if (g->left == 0) {
				if (g->state == S_BODY) {
					head_begin(g);
					g->done++;
					last_end = i;
				} else {
					g->state = S_CDATA_END;
				}
			}
			continue;
		}
		/* A whole request line in BUF: checked at once. */
		if (g->state == S_START && IS(c, C_TCHAR)) {
			size_t used;

			guard_line_request(g, lim, buf + i, n - i, &used);
			if (used > 0) {
				i += used;
				continue;
			}
		}
		/* A whole field line in BUF: checked at once (guard_line_field). */
		if (g->state == S_LINE && IS(c, C_TCHAR)) {
			size_t used;

			v = guard_line_field(g, lim, buf + i, n - i, &used);
			if (v != GUARD_OK)
				break;
			if (used > 0) {
				i += used;
				continue;
			}
		}
		/* Runs of bytes that change nothing but the counts (a method,
		 * a target, a field name that is not recognised, a value of
		 * such a field, a host name), in a line not taken whole above:
		 * counted at once, the limits checked after the run as they
		 * would be at its last byte.  Every other byte takes the
		 * switch below. */
		if (run_state(g)) {
			size_t j = i, room = (size_t)lim->head_max + 1 - g->head;
			uint32_t args = 0;
			unsigned k = g->state == S_TARGET ? C_VCHAR
			             : g->state == S_VALUE
			             ? (g->field == F_HOST ? C_HOST
			                : C_VCHAR | C_OBS | C_WS)
			             : C_TCHAR;

			if (g->state == S_TARGET) {
				while (j < n && j - i < room && IS(buf[j], k)) {
					args += buf[j] == '?' || buf[j] == '&';
					j++;
				}
			} else {
				while (j < n && j - i < room && IS(buf[j], k))
					j++;
			}
			if (j > i) {
				uint32_t cost = g->cost + args * lim->field_cost;

				if (g->state == S_NAME)
					g->npos = (uint8_t)(g->npos + (j - i) > 255
					                    ? 255 : g->npos + (j - i));
				/* Saturated: over any budget (GUARD_BUDGET_MAX). */
				g->cost = cost > 0xffff ? 0xffff : (uint16_t)cost;
				g->line = (uint16_t)(g->line + (j - i));
				g->head = (uint16_t)(g->head + (j - i));
				i = j;
				v = head_limits(g, lim);
				if (v != GUARD_OK)
					break;
				continue;
			}
		}
		if (g->state <= S_END_CR) {
			/* In a head: its limits. */
			g->line++;
			g->head++;
			v = head_limits(g, lim);
			if (v != GUARD_OK)
				break;
		}
		switch (g->state) {
		case S_START:
			if (c == '\r') {
				g->state = S_START_CR;
			} else if (c == '\n') {
				g->line = 0;
			} else if (IS(c, C_TCHAR)) {
				g->requests++;
				g->state = S_METHOD;
			} else {
				v = GUARD_400;
			}
			break;
		case S_START_CR:
			if (c != '\n')
				v = GUARD_400;
			g->state = S_START;
			g->line = 0;
			break;
		case S_METHOD:
			if (c == ' ')
				g->state = S_TARGET0;
			else if (!IS(c, C_TCHAR))
				v = GUARD_400;
			break;
		case S_TARGET0:
		case S_TARGET:
			if (c == ' ' && g->state == S_TARGET) {
				g->state = S_VERSION;
				g->sub = 0;
			} else if (IS(c, C_VCHAR)) {
				g->state = S_TARGET;
				if (c == '?' || c == '&')
					g->cost = (uint16_t)(g->cost + lim->field_cost);
			} else {
				v = GUARD_400;  /* also HTTP/0.9: no version */
			}
			break;
		case S_VERSION:
			if (g->sub < 5) {
				if (c != (unsigned char)"HTTP/"[g->sub])
					v = GUARD_400;
			} else if (g->sub == 5 || g->sub == 7) {
				if (!IS(c, C_DIGIT))
					v = GUARD_400;
				else if (g->sub == 5 && c != '1')
					v = GUARD_505;
				else if (g->sub == 7)
					g->http10 = c == '0';
			} else if (g->sub == 6) {
				if (c != '.')
					v = GUARD_400;
			} else if (c == '\r') {
				g->state = S_RL_CR;
			} else if (c == '\n') {
				g->state = S_LINE;
				g->line = 0;
			} else {
				v = GUARD_400;  /* "HTTP/1.10", "HTTP/1.1x" */
			}
			g->sub++;
			break;
		case S_RL_CR:
		case S_VALUE_CR:
			if (c != '\n') {
				v = GUARD_400;  /* a lone CR */
				break;
			}
			if (g->state == S_VALUE_CR)
				guard_value_end(g);
			g->state = S_LINE;
			g->line = 0;
			break;
		case S_LINE:
			if (c == '\r') {
				g->state = S_END_CR;
				break;
			}
			if (c == '\n')
				goto end_of_head;
			if (!IS(c, C_TCHAR)) {
				/* SP or HTAB: an obsolete fold (or whitespace
				 * before the first field); ":": an empty name. */
				v = GUARD_400;
				break;
			}
			if (++g->fields > lim->fields_max) {
				v = GUARD_431;
				break;
			}
			g->cost = (uint16_t)(g->cost + lim->field_cost);
			g->state = S_NAME;
			g->match = g->trailer ? 0 : names_from(c);
			g->npos = 0;
			name_at = i;
			name_here = 1;
			/* The name's first byte: */
			__attribute__((fallthrough));
		case S_NAME:
			if (c == ':') {
				int f;

				g->field = F_OTHER;
				for (f = 1; f < F_COUNT; f++)
					if ((g->match & (1u << f)) &&
					    guard_name_len[f] == g->npos)
						g->field = (uint8_t)f;
				guard_field_named(g, name_here ? buf + name_at : NULL);
				g->state = S_VALUE;
				break;
			}
			if (!IS(c, C_TCHAR)) {
				v = GUARD_400;  /* e.g. "Name :" or "Name\v:" */
				break;
			}
			if (g->match != 0) {
				int f;

				for (f = 1; f < F_COUNT; f++)
					if (g->npos >= guard_name_len[f] ||
					    (c | 0x20) != (unsigned char)guard_names[f][g->npos])
						g->match &= (uint8_t)~(1u << f);
			}
			if (g->npos < 255)
				g->npos++;
			break;
		case S_VALUE:
			if (c == '\r') {
				g->state = S_VALUE_CR;
			} else if (c == '\n') {
				guard_value_end(g);
				g->state = S_LINE;
				g->line = 0;
			} else if (IS(c, C_VCHAR | C_OBS | C_WS)) {
				guard_value_byte(g, lim, c);
			} else {
				v = GUARD_400;  /* NUL, a control byte, DEL */
			}
			break;
		case S_END_CR:
			if (c != '\n') {
				v = GUARD_400;
				break;
			}
		end_of_head:
			if (g->trailer) {
				head_begin(g);
			} else {
				v = head_end(g, lim);
				if (v != GUARD_OK)
					break;
			}
			if (g->state == S_START) {
				g->done++;
				last_end = i + 1;
			}
			break;
		case S_CSIZE0:
		case S_CSIZE:
			if (IS(c, C_HEX) && g->sub < CHUNK_DIGITS_MAX) {
				unsigned d = IS(c, C_DIGIT) ? (unsigned)(c - '0')
				             : (unsigned)((c | 0x20) - 'a' + 10);

				g->num = g->num * 16 + d;
				g->sub++;
				g->state = S_CSIZE;
			} else if (g->state == S_CSIZE0 || IS(c, C_HEX)) {
				v = IS(c, C_HEX) ? GUARD_413 : GUARD_400;
			} else if (c == ';') {
				g->state = S_CEXT;
			} else if (c == '\r') {
				g->state = S_CSIZE_CR;
			} else if (c == '\n') {
				goto chunk_size_end;
			} else {
				v = GUARD_400;  /* "2 0", "2\t", ... */
			}
			break;
		case S_CEXT:
			if (c == '\r')
				g->state = S_CSIZE_CR;
			else if (c == '\n')
				goto chunk_size_end;
			else if (!IS(c, C_VCHAR | C_OBS | C_WS))
				v = GUARD_400;
			break;
		case S_CSIZE_CR:
			if (c != '\n') {
				v = GUARD_400;
				break;
			}
		chunk_size_end:
			if (g->num > lim->body_max - g->body) {
				v = GUARD_413;
				break;
			}
			g->body += g->num;
			if (g->num == 0) {
				trailer_begin(g);
			} else {
				g->state = S_CDATA;
				g->left = g->num;
			}
			g->num = 0;
			g->sub = 0;
			break;
		case S_CDATA_END:
			if (c == '\r')
				g->state = S_CDATA_CR;
			else if (c == '\n')
				g->state = S_CSIZE0;
			else
				v = GUARD_400;
			break;
		case S_CDATA_CR:
			if (c == '\n')
				g->state = S_CSIZE0;
			else
				v = GUARD_400;
			break;
		default:
			v = GUARD_400;
			break;
		}
		if (v != GUARD_OK)
			break;
		i++;
	}
	*good = v == GUARD_OK ? n : last_end;
	return v;
}
