/* fuzz_guard.c -- libFuzzer target for the framing rule, guard.c ("make
 * fuzz").  A differential test, no I/O: each input is fed to guard_feed
 *
 *   whole:    in one call;
 *   split:    in two calls, cut where a hash of the input says;
 *   pieces:   in calls of 1 to 17 bytes, sizes taken from the input;
 *   bytewise: one byte per call;
 *
 * and all four must give the same verdict, the same count of whole
 * requests (done), the same idle state and the same parser state.  What
 * each hands on (the sum of *good over its calls) must be, as in
 * check_outcome (tests/check_guard.c): for GUARD_OK all the bytes; else
 * fed whole exactly the good prefix (the bytes up to the end of the last
 * whole request, found byte by byte), and fed in pieces the larger of
 * that prefix and the start of the piece holding the offending byte
 * (earlier pieces were handed on before the rest was seen) -- so never
 * the offending byte itself.
 *
 * The only change guard_feed makes to its buffer is renaming a Cookie
 * field whose name lies whole in it ("cookie:" -> "Xookie:"); the whole
 * call is checked to change nothing else.  A renamed Cookie costs less
 * in the pool model than one whose name was cut (guard.h), so split
 * feeds of the same bytes may legitimately differ; the split, pieces
 * and bytewise feeds therefore read the whole call's output, where no
 * Cookie name is left.  The original bytes are also fed in pieces,
 * unchecked, so that the cookie path runs under the sanitizers.
 *
 * Every call gets a heap buffer of exactly its length, so that a read or
 * write past it is an AddressSanitizer report.  Each input is run under
 * the server's limits (guard_limits_init with server_pool_size()) and
 * under small ones that bring the 413/414/431 limits within reach of
 * short inputs.  A mismatch aborts, with what differed.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The outcome of one way of feeding an input. */
struct outcome {
	struct guard g;
	enum guard_verdict v;
	size_t handed;  /* sum of *good */
	size_t piece;   /* start of the piece that got the verdict */
	size_t bad;     /* bytewise only: the offending byte's offset */
	size_t end_at;  /* bytewise only: end of the last whole request */
};

static const char *how_name = "";

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_guard (%s): ", how_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

enum feed_kind { WHOLE, SPLIT, PIECES, BYTEWISE };

/* The length of the K-th piece, starting at AT: SPLIT cuts at CUT (and
 * may feed an empty piece either side); PIECES takes 1 to 17 bytes as
 * SIZES says. */
static size_t
piece_len(enum feed_kind kind, size_t k, size_t at, size_t n, size_t cut,
          const uint8_t *sizes, size_t nsizes)
{
	switch (kind) {
	case WHOLE:
		return n;
	case SPLIT:
		return k == 0 ? cut : n - at;
	case PIECES:
		return 1 + (nsizes != 0 ? sizes[k % nsizes] % 17u : 0u);
	default:
		return 1;
	}
}

/* Feed IN[0..N) in pieces of KIND into O. */
static void
feed(const struct guard_limits *lim, const char *in, size_t n,
     enum feed_kind kind, size_t cut, const uint8_t *sizes, size_t nsizes,
     struct outcome *o)
{
	size_t at = 0, k;

	memset(o, 0, sizeof(*o));
	guard_reset(&o->g);
	o->v = GUARD_OK;
	for (k = 0; at < n || (kind == SPLIT && k < 2); k++) {
		size_t len = piece_len(kind, k, at, n, cut, sizes, nsizes), good;
		uint32_t done = o->g.done;
		char *buf;

		if (len > n - at)
			len = n - at;
		/* Exactly LEN bytes (at least 1 for malloc): ASan sees any
		 * access beyond them.  A SPLIT may feed an empty piece. */
		buf = malloc(len != 0 ? len : 1);
		if (buf == NULL)
			abort();
		memcpy(buf, in + at, len);
		o->v = guard_feed(&o->g, lim, buf, len, &good);
		free(buf);
		if (good > len)
			fail("good %zu beyond the %zu bytes fed", good, len);
		if (o->v == GUARD_OK && good != len)
			fail("GUARD_OK but good %zu of %zu", good, len);
		o->handed += good;
		if (kind == BYTEWISE && o->g.done != done) {
			if (o->g.done != done + 1)
				fail("one byte ended %u requests",
				     (unsigned)(o->g.done - done));
			o->end_at = at + 1;
		}
		if (o->v != GUARD_OK) {
			o->piece = at;
			o->bad = at;  /* bytewise: the offending byte */
			return;
		}
		at += len;
	}
	o->piece = o->bad = n;
}

/* Same state, but for match: a scratch mask read only within a field
 * name, which a renamed Cookie leaves different. */
static int
same_state(const struct guard *a, const struct guard *b)
{
	return a->state == b->state && a->sub == b->sub &&
	       a->field == b->field && a->npos == b->npos &&
	       a->http10 == b->http10 && a->hosts == b->hosts &&
	       a->lengths == b->lengths && a->codings == b->codings &&
	       a->bad_value == b->bad_value && a->bad_coding == b->bad_coding &&
	       a->trailer == b->trailer && a->fields == b->fields &&
	       a->line == b->line && a->head == b->head && a->cost == b->cost &&
	       a->num == b->num && a->left == b->left && a->body == b->body &&
	       a->requests == b->requests && a->done == b->done;
}

static void
compare(const struct outcome *ref, const struct outcome *o, size_t n)
{
	size_t want;

	if (o->v != ref->v)
		fail("verdict %d, bytewise %d", (int)o->v, (int)ref->v);
	if (o->g.done != ref->g.done)
		fail("%u requests done, bytewise %u", (unsigned)o->g.done,
		     (unsigned)ref->g.done);
	if (guard_idle(&o->g) != guard_idle(&ref->g))
		fail("idle %d, bytewise %d", guard_idle(&o->g),
		     guard_idle(&ref->g));
	/* After a verdict the state is dead (guard.h: not fed again), and
	 * its counts may differ: a run of target or value bytes is counted
	 * whole before the limits are checked. */
	if (o->v == GUARD_OK && !same_state(&o->g, &ref->g))
		fail("parser state differs from bytewise");
	if (o->v == GUARD_OK) {
		want = n;
	} else {
		if (o->piece > ref->bad)
			fail("verdict in a piece at %zu, after the offending "
			     "byte at %zu", o->piece, ref->bad);
		want = o->piece > ref->end_at ? o->piece : ref->end_at;
		if (want > ref->bad)
			fail("would hand on the offending byte at %zu", ref->bad);
	}
	if (o->handed != want)
		fail("handed on %zu bytes, want %zu (good prefix %zu, "
		     "offending byte at %zu)", o->handed, want, ref->end_at,
		     ref->bad);
}

static void
check(const struct guard_limits *lim, const uint8_t *data, size_t n)
{
	struct outcome whole, byte, o;
	char *renamed = malloc(n != 0 ? n : 1);
	uint32_t h = 2166136261u;
	size_t i, cut, good;

	if (renamed == NULL)
		abort();
	memcpy(renamed, data, n);
	/* Whole, by hand: the renamed bytes are the input of the rest. */
	how_name = "whole";
	memset(&whole, 0, sizeof(whole));
	guard_reset(&whole.g);
	whole.v = guard_feed(&whole.g, lim, renamed, n, &good);
	whole.handed = good;
	whole.piece = 0;
	if (good > n || (whole.v == GUARD_OK && good != n))
		fail("good %zu of %zu", good, n);
	for (i = 0; i < n; i++) {
		if (renamed[i] == (char)data[i])
			continue;
		if ((data[i] | 0x20) != 'c' || renamed[i] != 'X' ||
		    i + 7 > n || strncasecmp(renamed + i + 1, "ookie:", 6) != 0 ||
		    (i > 0 && renamed[i - 1] != '\n'))
			fail("byte %zu changed, and not as a Cookie rename", i);
	}
	if (whole.v != GUARD_OK) {
		if ((unsigned)whole.v >= GUARD_VERDICT_COUNT ||
		    guard_reason(whole.v) == NULL)
			fail("verdict %d out of range", (int)whole.v);
		switch (guard_status(whole.v)) {
		case 400: case 413: case 414: case 431: case 501: case 505:
			break;
		default:
			fail("status %u", guard_status(whole.v));
		}
	}
	if (whole.g.done > whole.g.requests)
		fail("%u done of %u requests", (unsigned)whole.g.done,
		     (unsigned)whole.g.requests);

	how_name = "bytewise";
	feed(lim, renamed, n, BYTEWISE, 0, NULL, 0, &byte);
	if (byte.v != GUARD_OK && byte.bad >= n)
		fail("verdict %d without an offending byte", (int)byte.v);
	if (byte.end_at > byte.bad)
		fail("a request ended at %zu, after the offending byte at %zu",
		     byte.end_at, byte.bad);
	how_name = "whole";
	compare(&byte, &whole, n);
	if (whole.v != GUARD_OK && whole.handed != byte.end_at)
		fail("whole: handed on %zu, not the good prefix %zu",
		     whole.handed, byte.end_at);

	for (i = 0; i < n; i++)
		h = (h ^ data[i]) * 16777619u;
	cut = n != 0 ? h % (n + 1) : 0;
	how_name = "split";
	feed(lim, renamed, n, SPLIT, cut, NULL, 0, &o);
	compare(&byte, &o, n);

	how_name = "pieces";
	feed(lim, renamed, n, PIECES, 0, data, n, &o);
	compare(&byte, &o, n);

	/* The original bytes, Cookie names and all: for the sanitizers. */
	how_name = "pieces, not renamed";
	feed(lim, (const char *)data, n, PIECES, 0, data + (n > 0), n - (n > 0),
	     &o);
	free(renamed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct guard_limits server_lim, small_lim;
	static int ready;

	if (!ready) {
		guard_limits_init(&server_lim, server_pool_size());
		/* Budget 1024, request line 512 bytes, 8 fields, 64-byte
		 * bodies: each limit reachable by a short input. */
		guard_limits_init(&small_lim, 2048);
		small_lim.fields_max = 8;
		small_lim.body_max = 64;
		ready = 1;
	}
	check(&server_lim, data, size);
	check(&small_lim, data, size);
	return 0;
}
