/* fuzz_request.c -- libFuzzer target for request handling ("make fuzz").
 *
 * The real server runs in this process: LLVMFuzzerInitialize loads the
 * bundled fixture and starts it on 127.0.0.1, port 0, in epoll mode with
 * one thread, as the Check suites do.  Each input is sent as is over a new
 * loopback connection, so libmicrohttpd parses it exactly as it would a
 * client's; the write side is then shut down and the answer read until
 * the server closes, or has read everything and gone quiet (QUIET_MS),
 * or 1 s has passed.  A server that stops accepting
 * connections is a failure.  The server thread is built with the same
 * sanitizers: a report from there ends the process too.
 *
 * Then the answer is checked against the framing rule (guard.h), end to
 * end (issue 11).  guard_feed over the whole input, under the server's
 * limits, gives the verdict V and the count D of whole requests before
 * it; the bytes received are cut into responses by Content-Length (none
 * after a HEAD), and:
 *
 *   (b) every response is this service's: a status line
 *       "HTTP/1.1 NNN", a Content-Type of application/json or the
 *       metrics text type, the Engine header, one Content-Length (a 204
 *       has neither type nor length, a 304 no type); and "<html"
 *       appears nowhere (libmicrohttpd's own error pages);
 *   (c) no interim (1xx) status line, no more responses than requests
 *       (D, plus one for a bad request), nothing after the last that is
 *       not a response: never two status lines for one request;
 *   (a) if V is not GUARD_OK the server closes (EOF or reset within
 *       CLOSE_TIMEOUT_MS; the quiet rule is not used), and, when the
 *       close was clean, response D+1 is the refusal: status
 *       guard_status(V), JSON {"error":"..."}, Engine, Connection: close,
 *       and the last bytes on the wire.
 *
 * What is not certain is not asserted:
 *   - A whole request may legitimately end the connection after its
 *     answer: HTTP/1.0 (or 1.2 and later, which libmicrohttpd may not
 *     read as 1.1), a Connection field (close), an Expect field (answered
 *     on the first handler call with "Connection: close", see
 *     server_handle).  If request K is the first such, only "at least K
 *     answers" is asserted, and that the last answer, if not the
 *     refusal, says "Connection: close".
 *   - Expect also means that a request is answered as soon as its head
 *     is read: a request begun after the whole ones, with its head
 *     whole and an Expect field, may get an answer too (one more is
 *     allowed, and no count is exact).
 *   - The server's guard sees the bytes as its recv calls cut them, and
 *     a Cookie field whose name is cut costs more in the pool model than
 *     one renamed whole (guard.h).  So the input is also fed byte by
 *     byte without renaming (every Cookie at full cost): only if that
 *     gives the same verdict, count and offending byte as the whole feed
 *     is the outcome independent of the cuts; else only (b) and (c),
 *     with the larger count, are checked.
 *   - Counts are exact only when the server closed cleanly (EOF): after
 *     the quiet rule or a reset, answers may still be in flight or lost,
 *     and an incomplete last response is then not an error.
 *   - Over RECV_MAX bytes of answers, only the close is checked.
 *
 * The fixture is $AVATAR_API_FIXTURE if set, else the one in the source
 * tree "make fuzz" was built from (FUZZ_FIXTURE), else data/users.json
 * next to or above the directory holding this program.
 *
 * Built with FUZZ_RELAY (tests/fuzz_relay.c), the server under test is a
 * relay (epoll, one thread, no fixture: records relayed too) in front of
 * a second server in this process that serves the fixture: the inputs
 * then meet the relay's front end (src/front.c) first, and what it hands
 * to libmicrohttpd with the bytes it read.  The same checks hold.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "config.h"
#include "error.h"
#include "fixture.h"
#include "guard.h"
#include "routes.h"
#include "server.h"

#define READ_TIMEOUT_MS 1000

/* libmicrohttpd 0.9.75 keeps a connection whose client shut down its
 * write side open until the idle timeout (60 s) after a keep-alive
 * answer, or after a partial request, instead of closing it.  So once the
 * server has read every byte sent (its receive queue, from sock_diag, is
 * empty) and has then written nothing for this long, the exchange is
 * over.  Without sock_diag only READ_TIMEOUT_MS ends it. */
#define QUIET_MS 5

/* How long the server may take to close after a bad request. */
#define CLOSE_TIMEOUT_MS 3000

/* The answers kept for checking. */
#define RECV_MAX ((size_t)4 << 20)

/* How the exchange ended. */
enum ending { END_EOF, END_RESET, END_QUIET, END_DEADLINE };

static struct server *srv;
static unsigned port;
/* A copy of stderr for this program's own messages: "make fuzz" runs
 * with -close_fd_mask=2 to silence the server's log (libFuzzer keeps its
 * own copy for its reports). */
static FILE *diag;
/* A NETLINK_SOCK_DIAG socket, or -1: see server_rqueue. */
static int diag_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
readable(const char *path)
{
	return path != NULL && *path != '\0' && access(path, R_OK) == 0;
}

/* The fixture to serve, or NULL. */
static const char *
fixture_path(const char *argv0)
{
	static const char *const rel[] = {"data/users.json",
	                                  "../data/users.json",
	                                  "../../data/users.json"};
	static char buf[PATH_MAX];
	char exe[PATH_MAX];
	const char *p = getenv("AVATAR_API_FIXTURE");
	ssize_t n;
	size_t i;
	char *slash;

	if (readable(p))
		return p;
	if (p != NULL && *p != '\0')
		fprintf(diag, "fuzz_request: AVATAR_API_FIXTURE=%s is not "
		        "readable\n", p);
#ifdef FUZZ_FIXTURE
	if (readable(FUZZ_FIXTURE))
		return FUZZ_FIXTURE;
#endif
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	else if (argv0 != NULL && strlen(argv0) < sizeof(exe))
		strcpy(exe, argv0);
	else
		return NULL;
	slash = strrchr(exe, '/');
	if (slash == NULL)
		strcpy(exe, ".");
	else
		*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (snprintf(buf, sizeof(buf), "%s/%s", exe, rel[i]) <
		    (int)sizeof(buf) && readable(buf))
			return buf;
	}
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct config cfg;
	struct error err = {0, ""};
	struct fixture *fx;
	const char *path;

	if (diag == NULL) {
		int fd = dup(2);

		diag = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (diag == NULL)
			diag = stderr;
		setvbuf(diag, NULL, _IONBF, 0);
	}
	path = fixture_path(argc != NULL && *argc > 0 ? (*argv)[0] : NULL);
	if (path == NULL) {
		fprintf(diag, "fuzz_request: cannot find data/users.json; "
		        "set AVATAR_API_FIXTURE\n");
		exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	diag_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC,
	                 NETLINK_SOCK_DIAG);
	if (diag_fd < 0)
		fprintf(diag, "fuzz_request: no sock_diag (%s): each input "
		        "waits up to %d ms\n", strerror(errno), READ_TIMEOUT_MS);
	fx = fixture_load(path, &err);
	if (fx == NULL) {
		fprintf(diag, "fuzz_request: %s\n", err.text);
		exit(1);
	}
	config_defaults(&cfg);
	cfg.address = "127.0.0.1";
	cfg.port = 0;
	cfg.mode = CONFIG_MODE_EPOLL;
	cfg.threads = 1;
#ifdef FUZZ_RELAY
	{
		static char upstream[64];
		struct server *up = server_start(&cfg, fx, &err);

		if (up == NULL) {
			fprintf(diag, "fuzz_request: the upstream: %s\n",
			        err.text);
			exit(1);
		}
		snprintf(upstream, sizeof(upstream),
		         "http://127.0.0.1:%u/v1/user", server_port(up));
		cfg.upstream = upstream;
		fx = fixture_empty();
		path = upstream;
	}
#endif
	srv = server_start(&cfg, fx, &err);
	if (srv == NULL) {
		fprintf(diag, "fuzz_request: server_start: %s\n", err.text);
		exit(1);
	}
	port = server_port(srv);
	fprintf(diag, "fuzz_request: serving %s on 127.0.0.1:%u\n", path,
	        port);
	return 0;
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
conn_open(void)
{
	struct sockaddr_in sa;
	int one = 1, tries, fd;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (tries = 0; tries < 200; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(diag, "fuzz_request: socket: %s\n", strerror(errno));
			abort();
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		/* Out of local ports (TIME_WAIT) or the backlog is full:
		 * wait and retry.  Anything else means the server is gone. */
		if (errno != EADDRNOTAVAIL && errno != EAGAIN &&
		    errno != EINTR && errno != ETIMEDOUT)
			break;
		usleep(5000);
	}
	fprintf(diag, "fuzz_request: connect to 127.0.0.1:%u: %s\n", port,
	        strerror(errno));
	abort(); /* the server no longer accepts connections */
}

/* The bytes the server has not read yet on the connection from local
 * port LPORT, from the kernel (sock_diag), or -1 if that is unknown. */
static long
server_rqueue(unsigned lport)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q;
	union {
		struct nlmsghdr nlh;
		char raw[8192];
	} a;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct nlmsghdr *h;
	long found = -1;
	ssize_t n;

	if (diag_fd < 0)
		return -1;
	memset(&q, 0, sizeof(q));
	q.nlh.nlmsg_len = sizeof(q);
	q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nlh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = AF_INET;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0u;
	q.req.id.idiag_sport = htons((unsigned short)port);
	q.req.id.idiag_dport = htons((unsigned short)lport);
	q.req.id.idiag_src[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_dst[0] = htonl(INADDR_LOOPBACK);
	q.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(diag_fd, &q, sizeof(q), 0, (struct sockaddr *)&sa,
	           sizeof(sa)) < 0)
		return -1;
	n = recv(diag_fd, &a, sizeof(a), 0);
	if (n < 0)
		return -1;
	for (h = &a.nlh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			found = (long)m->idiag_rqueue;
		}
	}
	return found;
}

/* The answers being checked, shown when a check fails. */
static const char *shown;
static size_t shown_len;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;
	size_t i;

	fprintf(diag, "fuzz_request: ");
	va_start(ap, fmt);
	vfprintf(diag, fmt, ap);
	va_end(ap);
	fputc('\n', diag);
	if (shown != NULL) {
		fprintf(diag, "fuzz_request: received %zu bytes: \"", shown_len);
		for (i = 0; i < shown_len && i < 1024; i++) {
			unsigned char c = (unsigned char)shown[i];

			if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
				fputc(c, diag);
			else
				fprintf(diag, "\\x%02x", c);
		}
		fprintf(diag, "\"%s\n", shown_len > 1024 ? "..." : "");
	}
	abort();
}

/* What the framing rule says of an input. */
struct expect {
	enum guard_verdict v;
	uint32_t done;       /* D: whole requests before the verdict */
	int idle;            /* GUARD_OK: no partial request at the end */
	int certain;         /* the outcome does not depend on the cuts */
	uint32_t done_max;   /* the most whole requests any cut could give */
	size_t first_close;  /* 1 + the first request that may close, or 0 */
	int early;           /* the request after them may be answered early */
	unsigned char *head; /* [D]: request I is a HEAD (no body answered) */
};

/* Feed IN[0..N) to a guard byte by byte.  *BAD: the offending byte's
 * offset (N if none); STARTS, if not NULL: where each request begins. */
static enum guard_verdict
feed_bytewise(const struct guard_limits *lim, const char *in, size_t n,
              struct guard *g, size_t *bad, size_t *starts)
{
	enum guard_verdict v = GUARD_OK;
	size_t i, good;

	guard_reset(g);
	for (i = 0; i < n; i++) {
		char c = in[i];
		uint32_t begun = g->requests;

		v = guard_feed(g, lim, &c, 1, &good);
		if (starts != NULL && g->requests != begun)
			starts[begun] = i;
		if (v != GUARD_OK)
			break;
	}
	*bad = i;
	return v;
}

/* Length of the line at P (up to LEN bytes) without its line end, and
 * in *NEXT the offset after the line end. */
static size_t
line_at(const char *p, size_t len, size_t *next)
{
	const char *nl = memchr(p, '\n', len);
	size_t n = nl != NULL ? (size_t)(nl - p) : len;

	*next = nl != NULL ? n + 1 : len;
	return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* The head of a whole, valid request at P: is it HEAD, may the server
 * close the connection after answering it (see the top of the file)? */
static void
request_kind(const char *p, size_t len, int *head, int *may_close,
             int *expect)
{
	size_t n, next, at;
	const char *sp = memchr(p, ' ', len);

	*head = sp != NULL && sp - p == 4 && memcmp(p, "HEAD", 4) == 0;
	n = line_at(p, len, &next);
	*may_close = n == 0 || p[n - 1] != '1';  /* "HTTP/1.1" */
	*expect = 0;
	for (at = next; at < len; at = next) {
		const char *l = p + at;

		n = line_at(l, len - at, &next);
		next += at;
		if (n == 0)
			break;
		if (n >= 11 && strncasecmp(l, "connection:", 11) == 0)
			*may_close = 1;
		if (n >= 7 && strncasecmp(l, "expect:", 7) == 0)
			*may_close = *expect = 1;
	}
}

/* Work out what the framing rule says of DATA: see struct expect. */
static void
expect_of(const uint8_t *data, size_t size, struct expect *ex)
{
	static struct guard_limits lim;
	static int lim_ready;
	struct guard g, gb;
	char *copy = malloc(size + 1);
	size_t *starts = malloc((size + 1) * sizeof(*starts));
	size_t good, bad, bad_full, i;
	enum guard_verdict vb, vfull;

	if (copy == NULL || starts == NULL)
		fail("out of memory");
	if (!lim_ready) {
		guard_limits_init(&lim, server_pool_size());
		lim_ready = 1;
	}
	memcpy(copy, data, size);
	guard_reset(&g);
	ex->v = guard_feed(&g, &lim, copy, size, &good);
	ex->done = g.done;
	ex->idle = guard_idle(&g);
	/* The renamed bytes, byte by byte: where each request begins (and
	 * the same outcome, which fuzz_guard checks at length). */
	vb = feed_bytewise(&lim, copy, size, &gb, &bad, starts);
	if (vb != ex->v || gb.done != g.done)
		fail("guard: whole and bytewise differ (%d/%u, %d/%u)",
		     (int)ex->v, (unsigned)g.done, (int)vb, (unsigned)gb.done);
	/* Every Cookie at full cost, as when each name is cut. */
	vfull = feed_bytewise(&lim, (const char *)data, size, &gb, &bad_full,
	                      NULL);
	ex->certain = vfull == ex->v && gb.done == g.done && bad_full == bad;
	ex->done_max = gb.done > g.done ? gb.done : g.done;
	ex->first_close = 0;
	ex->head = malloc(ex->done + 1);
	if (ex->head == NULL)
		fail("out of memory");
	/* A request with an Expect field is answered on the first handler
	 * call, as soon as its head is read (server_handle): the request
	 * after the whole ones may be answered too if its head is whole in
	 * the bytes that may be handed on (with GUARD_OK all of them; else
	 * those before the offending byte, if the server's reads cut the
	 * input there). */
	ex->early = 0;
	if (g.requests > ex->done) {
		size_t from = starts[ex->done];
		size_t upto = ex->v == GUARD_OK ? size : bad;
		int head, may_close, expect;

		for (i = from; i + 1 < upto; i++) {
			if (copy[i] == '\n' && (copy[i + 1] == '\n' ||
			    (i + 2 < upto && copy[i + 1] == '\r' &&
			     copy[i + 2] == '\n'))) {
				request_kind(copy + from, size - from, &head,
				             &may_close, &expect);
				ex->early = expect;
				break;
			}
		}
	}
	for (i = 0; i < ex->done; i++) {
		int head, may_close, expect;

		request_kind(copy + starts[i], size - starts[i], &head,
		             &may_close, &expect);
		ex->head[i] = (unsigned char)head;
		if (may_close && ex->first_close == 0)
			ex->first_close = i + 1;
	}
	free(starts);
	free(copy);
}

/* One response on the wire. */
struct response {
	unsigned status;
	int json, metrics, engine, close;
	size_t body_at, body_len;
};

static int
header_is(const char *l, size_t n, const char *name, const char **value,
          size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(l, name, k) != 0 || l[k] != ':')
		return 0;
	*value = l + k + 1;
	*vlen = n - k - 1;
	while (*vlen > 0 && (**value == ' ' || **value == '\t')) {
		(*value)++;
		(*vlen)--;
	}
	return 1;
}

/* Parse the response at BUF[*AT..LEN) into R, the INDEX-th (from 1).
 * Returns 1 and moves *AT past it; 0 if it is cut short; fails on
 * anything that breaks (b) or (c). */
static int
response_at(const char *buf, size_t len, size_t *at,
            const struct expect *ex, size_t index, struct response *r)
{
	const char *p = buf + *at, *end, *value;
	size_t left = len - *at, n, next, off, vlen, lengths = 0;
	unsigned long long clen = 0;
	int bodyless;

	memset(r, 0, sizeof(*r));
	if (left < 13)
		goto cut_short_or_bad;
	if (memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5' ||
	    p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
	    p[12] != ' ')
		fail("(c) response %zu: no status line at byte %zu: \"%.40s\"",
		     index, *at, p);
	r->status = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 +
	                       (p[11] - '0'));
	if (r->status < 200)
		fail("(c) response %zu: an interim %u status line", index,
		     r->status);
	end = memmem(p, left, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	line_at(p, left, &next);
	for (off = next; off < (size_t)(end - p) + 2; off = next) {
		const char *l = p + off;

		n = line_at(l, left - off, &next);
		next += off;
		if (header_is(l, n, "Content-Type", &value, &vlen)) {
			r->json = vlen >= 16 &&
			          memcmp(value, "application/json", 16) == 0;
			r->metrics = vlen >= 25 &&
			             memcmp(value, "text/plain; version=0.0.4", 25)
			             == 0;
		} else if (header_is(l, n, "Engine", &value, &vlen)) {
			r->engine = vlen == strlen(ROUTES_ENGINE) &&
			            memcmp(value, ROUTES_ENGINE, vlen) == 0;
		} else if (header_is(l, n, "Connection", &value, &vlen)) {
			r->close = vlen == 5 && strncasecmp(value, "close", 5) == 0;
		} else if (header_is(l, n, "Content-Length", &value, &vlen)) {
			size_t k;

			lengths++;
			clen = 0;
			for (k = 0; k < vlen && k < 12; k++) {
				if (value[k] < '0' || value[k] > '9')
					fail("(b) response %zu: Content-Length "
					     "\"%.*s\"", index, (int)vlen, value);
				clen = clen * 10 + (unsigned)(value[k] - '0');
			}
			if (vlen == 0 || vlen >= 12)
				fail("(b) response %zu: Content-Length \"%.*s\"",
				     index, (int)vlen, value);
		} else if (header_is(l, n, "Transfer-Encoding", &value, &vlen)) {
			fail("(b) response %zu: Transfer-Encoding", index);
		}
	}
	/* A 204 (OPTIONS) and a 304 have no body, so no Content-Type; a
	 * 204 has no Content-Length either (RFC 9110 8.6), a 304 may have
	 * its 200's. */
	if (!r->json && !r->metrics && r->status != 204 && r->status != 304)
		fail("(b) response %zu (%u): not application/json nor the "
		     "metrics type", index, r->status);
	if (!r->engine)
		fail("(b) response %zu (%u): no Engine: " ROUTES_ENGINE, index,
		     r->status);
	if (r->status == 204 ? lengths != 0
	    : r->status == 304 ? lengths > 1 : lengths != 1)
		fail("(b) response %zu (%u): %zu Content-Length fields", index,
		     r->status, lengths);
	bodyless = (index <= ex->done && ex->head[index - 1]) ||
	           r->status == 204 || r->status == 304;
	r->body_at = (size_t)(end - buf) + 4;
	r->body_len = bodyless ? 0 : (size_t)clen;
	if (r->body_len > len - r->body_at)
		return 0;
	*at = r->body_at + r->body_len;
	return 1;

cut_short_or_bad:
	if (memcmp(p, "HTTP/1.1 ", left < 9 ? left : 9) != 0)
		fail("(c) response %zu: no status line at byte %zu", index, *at);
	return 0;
}

/* A case-insensitive search for NEEDLE (lower case) in BUF[0..LEN). */
static int
has_caseless(const char *buf, size_t len, const char *needle)
{
	size_t k = strlen(needle), i, j;

	for (i = 0; i + k <= len; i++) {
		for (j = 0; j < k; j++)
			if ((buf[i + j] | 0x20) != needle[j])
				break;
		if (j == k)
			return 1;
	}
	return 0;
}

/* Check the LEN bytes received (all of them unless TRUNCATED), which
 * ended as END, against EX: see the top of the file. */
static void
check_answers(const char *buf, size_t len, int truncated, enum ending end,
              const struct expect *ex)
{
	struct response r, last;
	size_t at = 0, count = 0, max;
	int whole = 1, closed = end == END_EOF || end == END_RESET;

	shown = buf;
	shown_len = len;
	if (ex->v != GUARD_OK && !closed)
		fail("(a) verdict %u, but the server did not close (%s)",
		     guard_status(ex->v),
		     end == END_QUIET ? "quiet" : "deadline");
	if (truncated)
		return;
	if (has_caseless(buf, len, "<html"))
		fail("(b) \"<html\" in the answers");
	max = (ex->certain ? ex->done : ex->done_max) + (ex->v != GUARD_OK) +
	      ex->early;
	memset(&last, 0, sizeof(last));
	while (at < len) {
		if (count == max)
			fail("(c) more than %zu responses (verdict %u, %u "
			     "requests before it): \"%.40s\"", max,
			     ex->v != GUARD_OK ? guard_status(ex->v) : 0,
			     (unsigned)ex->done, buf + at);
		if (!response_at(buf, len, &at, ex, count + 1, &r)) {
			whole = 0;
			break;
		}
		last = r;
		count++;
	}
	/* Exact counts only after a clean close with every byte parsed and
	 * an outcome that does not depend on how the server's reads cut
	 * the input. */
	if (!whole) {
		if (end == END_EOF)
			fail("response %zu cut short before a clean close",
			     count + 1);
		return;
	}
	if (end != END_EOF || !ex->certain || ex->early)
		return;
	if (ex->first_close == 0) {
		size_t want = ex->done + (ex->v != GUARD_OK);

		/* GUARD_OK with a partial request: it gets no answer. */
		if (count != want)
			fail("%zu responses, want %zu (verdict %u, %u requests "
			     "before it, none closing)", count, want,
			     ex->v != GUARD_OK ? guard_status(ex->v) : 0,
			     (unsigned)ex->done);
	} else if (count < ex->first_close) {
		fail("%zu responses, but request %zu is the first that may "
		     "close", count, ex->first_close);
	}
	if (ex->v != GUARD_OK && count == ex->done + 1) {
		if (last.status != guard_status(ex->v))
			fail("(a) the last response is %u, want %u", last.status,
			     guard_status(ex->v));
		if (!last.json || !last.close)
			fail("(a) the refusal (%u) is not JSON with "
			     "Connection: close", last.status);
		if (last.body_len < 12 ||
		    memcmp(buf + last.body_at, "{\"error\":\"", 10) != 0 ||
		    memcmp(buf + last.body_at + last.body_len - 2, "\"}", 2) != 0)
			fail("(a) the refusal's body is not {\"error\":...}");
	} else if (count > 0 && count < ex->done + (ex->v != GUARD_OK) &&
	           !last.close) {
		fail("the server closed after response %zu (%u) of %u without "
		     "Connection: close", count, last.status,
		     (unsigned)(ex->done + (ex->v != GUARD_OK)));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *buf;
	unsigned lport = 0;
	struct pollfd pfd;
	struct expect ex;
	enum ending end = END_DEADLINE;
	long deadline;
	size_t done = 0, got = 0;
	struct linger lg = {1, 0};
	int fd, truncated = 0;

	if (srv == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
	if (buf == NULL && (buf = malloc(RECV_MAX)) == NULL)
		fail("out of memory");
	expect_of(data, size, &ex);
	fd = conn_open();
	{
		struct sockaddr_in me;
		socklen_t melen = sizeof(me);

		if (getsockname(fd, (struct sockaddr *)&me, &melen) == 0)
			lport = ntohs(me.sin_port);
	}
	pfd.fd = fd;
	/* Send what the server takes; it may close early (an error page). */
	while (done < size) {
		ssize_t n = send(fd, data + done, size - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	/* After a bad request the server must close: wait for that, not
	 * for quiet. */
	deadline = now_ms() + (ex.v != GUARD_OK ? CLOSE_TIMEOUT_MS
	                                        : READ_TIMEOUT_MS);
	for (;;) {
		long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			break;
		if (left > QUIET_MS && diag_fd >= 0 && ex.v == GUARD_OK)
			left = QUIET_MS;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			if (now_ms() >= deadline)
				break;
			if (ex.v == GUARD_OK && server_rqueue(lport) == 0) {
				end = END_QUIET;
				break; /* all read, nothing more written */
			}
			continue;
		}
		if (got == RECV_MAX) {
			static char drop[65536];

			truncated = 1;
			n = recv(fd, drop, sizeof(drop), 0);
		} else {
			n = recv(fd, buf + got, RECV_MAX - got, 0);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* EOF or reset: the server closed */
			end = n == 0 ? END_EOF : END_RESET;
			break;
		}
		if (!truncated)
			got += (size_t)n;
	}
	/* An abortive close: a connection the server still holds (see
	 * QUIET_MS) is reset and dropped at once. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	check_answers(buf, got, truncated, end, &ex);
	free(ex.head);
	return 0;
}
