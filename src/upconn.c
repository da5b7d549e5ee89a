/* upconn.c -- the relay's upstream connections: a keep-alive pool, HTTP/1.1 on each. */
/*
 * Each connection slot is closed, connecting, sending the request,
 * reading the answer's head, reading its body, or idle.  A connection
 * goes back to the idle list only after an answer that was whole and
 * unambiguous with nothing read past it, and is reused only if nothing
 * arrived on it since (conn_reusable); anything else closes it.  The
 * response head is read into the connection's buffer; the body is read
 * straight into the request's buffer (what came with the head is copied
 * there once; chunks are decoded in place), which the server then sends
 * as is.  Sockets are edge-triggered in the owner's epoll set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/uio.h>

#include "atomicvar.h"
#include "upconn.h"
#include "upstream.h"

/* Room past --upstream-max-bytes: to see that a body delimited by the
 * close goes over, and for the framing of a chunked one. */
#define BUF_SLACK ((size_t)1024)
/* A body buffer grows from this size, and one larger than BUF_KEEP is
 * freed when its slot is returned, so idle slots keep little memory (the
 * slack keeps a 64 KiB cap's buffer). */
#define BUF_MIN ((size_t)16 * 1024)
#define BUF_KEEP ((size_t)64 * 1024 + BUF_SLACK)

enum conn_state {
	CONN_CLOSED,
	CONN_CONNECTING,
	CONN_SENDING,
	CONN_HEAD,
	CONN_BODY,
	CONN_IDLE
};

/* One upstream connection slot. */
struct upconn {
	int fd;
	enum conn_state state;
	uint32_t gen;                /* bumped at each close: stale events */
	uint32_t index;
	int reused;                  /* a response came over it before */
	struct upconn_req *req;
	size_t sent;
	char *head;                  /* UPSTREAM_HEAD_MAX bytes, kept */
	size_t hlen, scan;
	struct upstream_head h;
	struct upstream_chunks chunks;
	unsigned long long left;     /* UPSTREAM_LENGTH: body bytes to come */
	struct upconn *next, *prev;  /* idle list, or free list (next) */
};

struct upconn_pool {
	struct upconn *conns;        /* connection slots */
	unsigned nconns, nopen;      /* slots, sockets open */
	struct upconn *idle;         /* idle connections, latest first */
	struct upconn *free_conns;   /* closed slots */
	int epfd;
	const char *request;         /* "GET PATH HTTP/1.1\r\nHost: ..." */
	size_t request_len;
	size_t path_end;             /* where a request's target goes */
	size_t max_bytes;
	upconn_end_fn *end;
	void *owner;
	unsigned long connects;      /* one writer: atom_bump */
};

/* Take C out of the idle list. */
static void
idle_remove(struct upconn_pool *p, struct upconn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		p->idle = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

/* Close C and give its slot back; its request, if any, is the caller's. */
static void
conn_close(struct upconn_pool *p, struct upconn *c)
{
	if (c->state == CONN_IDLE)
		idle_remove(p, c);
	close(c->fd);
	c->fd = -1;
	/* 31 bits: the relay's front end tags its own events with the
	 * 64th (RELAY_FRONT_TAG). */
	c->gen = (c->gen + 1) & 0x7fffffffu;
	c->state = CONN_CLOSED;
	c->req = NULL;
	p->nopen--;
	c->prev = NULL;
	c->next = p->free_conns;
	p->free_conns = c;
}

/* Make C idle, ready for the next request. */
static void
conn_idle(struct upconn_pool *p, struct upconn *c)
{
	c->state = CONN_IDLE;
	c->req = NULL;
	c->reused = 1;
	c->prev = NULL;
	c->next = p->idle;
	if (p->idle != NULL)
		p->idle->prev = c;
	p->idle = c;
}

/* C's request ended with KIND: keep the connection if KEEP, then tell. */
static void
conn_end(struct upconn_pool *p, struct upconn *c, enum relay_kind kind,
         int keep)
{
	struct upconn_req *req = c->req;

	if (keep)
		conn_idle(p, c);
	else
		conn_close(p, c);
	p->end(p->owner, req, UPCONN_DONE, kind);
}

/*
 * The connection broke (an error, or the end) before any byte of the
 * answer.  A kept-alive connection the upstream closed while idle looks
 * like this: the owner may send the request once more on a fresh
 * connection (GET is idempotent).  Otherwise the request failed with
 * KIND.
 */
static void
conn_broke(struct upconn_pool *p, struct upconn *c, enum relay_kind kind)
{
	struct upconn_req *req = c->req;
	int reused = c->reused;

	conn_close(p, c);
	p->end(p->owner, req, reused ? UPCONN_BROKEN : UPCONN_DONE, kind);
}

/* C's connect failed with ERR: close it; the owner may try the next
 * address. */
static void
conn_unreachable(struct upconn_pool *p, struct upconn *c, int err)
{
	struct upconn_req *req = c->req;

	req->error = err;
	conn_close(p, c);
	p->end(p->owner, req, UPCONN_UNREACHABLE, RELAY_CONNECT);
}

/* Make room for WANT more body bytes in REQ's buffer (fewer if the cap
 * comes first).  Returns the room, 0 if out of memory. */
static size_t
req_room(struct upconn_pool *p, struct upconn_req *req, size_t want)
{
	size_t limit = p->max_bytes + BUF_SLACK, cap;
	char *buf;

	if (req->cap - req->len >= want || req->cap >= limit)
		return req->cap - req->len;
	cap = req->cap > BUF_MIN ? req->cap : BUF_MIN;
	while (cap < req->len + want && cap < limit)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	buf = realloc(req->buf, cap);
	if (buf == NULL)
		return 0;
	req->buf = buf;
	req->cap = cap;
	return cap - req->len;
}

/* N new body bytes sit at the end of C's request's buffer: take them as
 * the framing says.  Returns 1 when the body is whole, 0 when more is to
 * come, -1 when C's request has ended (with an error). */
static int
body_feed(struct upconn_pool *p, struct upconn *c, size_t n)
{
	struct upconn_req *req = c->req;
	size_t out, used;
	int rc;

	switch (c->h.framing) {
	case UPSTREAM_LENGTH:
		if (n > c->left) {
			n = (size_t)c->left; /* more than announced: drop the */
			c->h.close = 1;      /* rest with the connection */
		}
		req->len += n;
		c->left -= n;
		return c->left == 0;
	case UPSTREAM_CHUNKED:
		rc = upstream_chunks_decode(&c->chunks, req->buf + req->len, n,
		                            p->max_bytes - req->len, &out,
		                            &used);
		req->len += out;
		if (rc == -2) {
			conn_end(p, c, RELAY_TOO_LARGE, 0);
			return -1;
		}
		if (rc < 0) {
			conn_end(p, c, RELAY_PROTOCOL, 0);
			return -1;
		}
		if (rc == 1 && used < n)
			c->h.close = 1;
		return rc;
	default: /* UPSTREAM_CLOSE */
		req->len += n;
		if (req->len > p->max_bytes) {
			conn_end(p, c, RELAY_TOO_LARGE, 0);
			return -1;
		}
		return 0;
	}
}

/* C's request has its whole body: check it (unless it has a content
 * coding: a gzip body is not JSON text) and keep the connection. */
static void
body_done(struct upconn_pool *p, struct upconn *c)
{
	struct upconn_req *req = c->req;

	conn_end(p, c, req->coding[0] != '\0' ||
	         upstream_json_body(req->buf, req->len) ? RELAY_OK
	                                                : RELAY_BODY,
	         !c->h.close);
}

/* Copy the ETag of C's answer into its request if it is an entity-tag
 * that fits, else leave it empty (dropped). */
static void
head_etag(struct upconn *c)
{
	const struct upstream_head *h = &c->h;

	if (upstream_etag(h->etag, h->etag_len, RELAY_ETAG_MAX)) {
		memcpy(c->req->etag, h->etag, h->etag_len);
		c->req->etag[h->etag_len] = '\0';
	}
}

/* Whether C's answer, a 2xx, is one to read: a JSON type, a coding that
 * can be passed on (copied into the request), a length within the cap.
 * Returns RELAY_OK or the error. */
static enum relay_kind
head_check(struct upconn_pool *p, struct upconn *c)
{
	const struct upstream_head *h = &c->h;
	int coded = upstream_coding(h->coding, h->coding_len);

	if (!upstream_json_type(h->type, h->type_len))
		return RELAY_CONTENT_TYPE;
	/* A coding that cannot be passed back as it came would leave the
	 * client with a body it cannot read: not an answer. */
	if (coded < 0 || h->coding_len > RELAY_CODING_MAX)
		return RELAY_PROTOCOL;
	if (h->framing == UPSTREAM_LENGTH && h->length > p->max_bytes)
		return RELAY_TOO_LARGE;
	if (coded > 0) {
		memcpy(c->req->coding, h->coding, h->coding_len);
		c->req->coding[h->coding_len] = '\0';
	}
	head_etag(c);
	return RELAY_OK;
}

/* Whether STATUS (not 2xx) is an answer REQ may get (upconn_req.accept). */
static int
status_accepted(const struct upconn_req *req, unsigned status)
{
	return (status == 304 && (req->accept & UPCONN_ACCEPT_304)) ||
	       (status == 412 && (req->accept & UPCONN_ACCEPT_412)) ||
	       (status == 404 && (req->accept & UPCONN_ACCEPT_404));
}

/*
 * The head of C's answer is complete (c->h): check the status, type and
 * coding, then copy the body bytes that came with the head into the
 * request's buffer (the body's one copy).  A 304, 412 or 404 the request
 * may get ends it at once, as an answer, its body (if any) dropped.
 * Returns 1 when the body is whole, 0 when more is to come, -1 when the
 * request has ended.
 */
static int
head_done(struct upconn_pool *p, struct upconn *c)
{
	struct upconn_req *req = c->req;
	const struct upstream_head *h = &c->h;
	enum relay_kind early = RELAY_OK;
	size_t off = h->size;
	int rc = 0;

	req->status = h->status;
	if (h->status >= 200 && h->status <= 299) {
		early = head_check(p, c);
	} else if (status_accepted(req, h->status)) {
		if (h->status == 304) {
			head_etag(c);
			req->declared = h->declared;
		}
		/* Keep the connection only if the whole (small) answer is in:
		 * for a 304 the head (RFC 9112 6.3), whatever its
		 * Content-Length says, as nginx keeps an upstream's. */
		conn_end(p, c, RELAY_OK, !h->close &&
		         h->framing == UPSTREAM_LENGTH &&
		         c->hlen - off == h->length);
		return -1;
	} else {
		early = RELAY_STATUS;
	}
	if (early != RELAY_OK) {
		/* Keep the connection only if the whole (small) answer is in,
		 * and never after a 304 nobody asked for (issue 11: an upstream
		 * that answers so may send a body after it). */
		conn_end(p, c, early, !h->close && h->status != 304 &&
		         h->framing == UPSTREAM_LENGTH &&
		         c->hlen - off == h->length);
		return -1;
	}
	c->state = CONN_BODY;
	c->left = h->length;
	if (h->framing == UPSTREAM_CHUNKED)
		upstream_chunks_init(&c->chunks);
	if (h->framing == UPSTREAM_LENGTH && h->length == 0)
		return 1;
	while (off < c->hlen && rc == 0) {
		size_t want = c->hlen - off, n;

		if (h->framing == UPSTREAM_LENGTH)
			want = (size_t)h->length;
		n = req_room(p, req, want);
		if (n == 0) {
			conn_end(p, c, RELAY_PROTOCOL, 0); /* out of memory */
			return -1;
		}
		if (n > c->hlen - off)
			n = c->hlen - off;
		memcpy(req->buf + req->len, c->head + off, n);
		off += n;
		rc = body_feed(p, c, n);
	}
	if (rc == 1 && off < c->hlen)
		c->h.close = 1; /* bytes after the answer: do not reuse */
	return rc;
}

/* Read what C's socket has, as long as it has some.  A read shorter than
 * the room means the socket is drained (the next bytes bring an
 * edge-triggered event), unless HUP: the upstream's end, or an error,
 * came with the event and no other event will tell, so read on until
 * the end or EAGAIN. */
static void
conn_read(struct upconn_pool *p, struct upconn *c, int hup)
{
	for (;;) {
		struct upconn_req *req = c->req;
		size_t room;
		ssize_t r;
		int rc;

		if (c->state == CONN_HEAD) {
			room = UPSTREAM_HEAD_MAX - c->hlen;
			if (room == 0) {
				conn_end(p, c, RELAY_PROTOCOL, 0); /* head too big */
				return;
			}
			r = read(c->fd, c->head + c->hlen, room);
		} else {
			room = c->h.framing == UPSTREAM_LENGTH
			       ? (size_t)c->left : BUF_MIN;
			room = req_room(p, req, room);
			if (room == 0) {
				conn_end(p, c, RELAY_PROTOCOL, 0);
				return;
			}
			if (c->h.framing == UPSTREAM_LENGTH && room > c->left)
				room = (size_t)c->left;
			r = read(c->fd, req->buf + req->len, room);
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			if (c->state == CONN_HEAD && c->hlen == 0)
				conn_broke(p, c, RELAY_PROTOCOL);
			else if (r == 0 && c->state == CONN_BODY &&
			         c->h.framing == UPSTREAM_CLOSE)
				body_done(p, c);
			else
				conn_end(p, c, RELAY_PROTOCOL, 0);
			return;
		}
		if (c->state == CONN_HEAD) {
			c->hlen += (size_t)r;
			rc = upstream_head_parse(c->head, c->hlen, &c->scan, &c->h);
			while (rc == 1 && c->h.status < 200) {
				/* An interim answer (100, 103): skip it.  (A 101 is
				 * refused by the parser.) */
				c->hlen -= c->h.size;
				memmove(c->head, c->head + c->h.size, c->hlen);
				c->scan = 0;
				rc = upstream_head_parse(c->head, c->hlen, &c->scan,
				                         &c->h);
			}
			if (rc < 0) {
				conn_end(p, c, RELAY_PROTOCOL, 0);
				return;
			}
			if (rc == 1)
				rc = head_done(p, c);
		} else {
			rc = body_feed(p, c, (size_t)r);
		}
		if (rc < 0)
			return;
		if (rc == 1) {
			if (hup)
				c->h.close = 1; /* its end is in: no event to come */
			body_done(p, c);
			return;
		}
		if ((size_t)r < room && !hup)
			return;
	}
}

/* Send (the rest of) the request on C, then wait for the answer: the
 * prebuilt request's line up to the end of its path, the request's
 * TARGET, the rest of the prebuilt request up to its empty line, the
 * request's own FWD lines, the empty line; C->SENT counts across the
 * five, and a part already sent (or empty) is left out of the vector. */
static void
conn_send(struct upconn_pool *p, struct upconn *c)
{
	const struct upconn_req *req = c->req;
	size_t head = p->request_len - 2;
	const struct iovec part[5] = {
		{(char *)p->request, p->path_end},
		{(char *)req->target, req->target_len},
		{(char *)p->request + p->path_end, head - p->path_end},
		{(char *)req->fwd, req->fwd_len},
		{(char *)p->request + head, 2}};
	size_t total = p->request_len + req->target_len + req->fwd_len;

	while (c->sent < total) {
		struct iovec iov[5];
		struct msghdr msg;
		size_t off = c->sent;
		int n = 0, i;
		ssize_t r;

		for (i = 0; i < 5; i++) {
			if (off >= part[i].iov_len) {
				off -= part[i].iov_len;
				continue;
			}
			iov[n].iov_base = (char *)part[i].iov_base + off;
			iov[n++].iov_len = part[i].iov_len - off;
			off = 0;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		r = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->state = CONN_SENDING;
			return;
		}
		if (r < 0) {
			conn_broke(p, c, RELAY_PROTOCOL);
			return;
		}
		c->sent += (size_t)r;
	}
	c->state = CONN_HEAD;
	c->hlen = 0;
	c->scan = 0;
}

void
upconn_start(struct upconn_pool *p, struct upconn *c, struct upconn_req *req)
{
	c->req = req;
	c->sent = 0;
	req->upc = c;
	req->status = 0;
	req->declared = 0;
	req->etag[0] = req->coding[0] = '\0';
	conn_send(p, c);
}

/* The event data for C: its index and generation, never 0 (the
 * owner's). */
static uint64_t
conn_key(const struct upconn *c)
{
	return ((uint64_t)c->gen << 32) | (uint64_t)(c->index + 1);
}

/* Open a connection for REQ on a free slot (there is one) to SA.
 * Returns 0 when connecting or connected, -1 (with the slot given back)
 * when the connect failed at once. */
static int
conn_open(struct upconn_pool *p, struct upconn_req *req,
          const struct sockaddr_storage *sa, socklen_t len)
{
	struct upconn *c = p->free_conns;
	struct epoll_event ev;
	int one = 1;

	if (c->head == NULL) {
		c->head = malloc(UPSTREAM_HEAD_MAX);
		if (c->head == NULL)
			return -1;
	}
	c->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	               SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	p->free_conns = c->next;
	c->next = c->prev = NULL;
	p->nopen++;
	c->reused = 0;
	c->req = req;
	c->state = CONN_CONNECTING;
	req->upc = c;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = conn_key(c);
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0 ||
	    (connect(c->fd, (const struct sockaddr *)sa, len) < 0 &&
	     errno != EINPROGRESS)) {
		int e = errno;

		c->req = NULL;
		req->upc = NULL;
		conn_close(p, c);
		errno = e;
		return -1;
	}
	return 0;
}

void
upconn_open(struct upconn_pool *p, struct upconn_req *req,
            const struct sockaddr_storage *sa, socklen_t len)
{
	if (conn_open(p, req, sa, len) == 0)
		return;
	if (errno == ECONNREFUSED || errno == ENETUNREACH ||
	    errno == EHOSTUNREACH || errno == EADDRNOTAVAIL) {
		req->error = errno;
		p->end(p->owner, req, UPCONN_UNREACHABLE, RELAY_CONNECT);
	} else {
		p->end(p->owner, req, UPCONN_DONE, RELAY_PROTOCOL); /* no fd,
		                                                     * no memory */
	}
}

/* An event on C (EVENTS from epoll): go on with whatever it is doing. */
static void
conn_event(struct upconn_pool *p, struct upconn *c, uint32_t events)
{
	int hup = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
	char b[64];
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	ssize_t r;

	switch (c->state) {
	case CONN_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
		    soerr != 0) {
			conn_unreachable(p, c, soerr != 0 ? soerr : errno);
			return;
		}
		atom_bump(p->connects, 1);
		upconn_start(p, c, c->req);
		return;
	case CONN_SENDING:
		conn_send(p, c);
		if (c->state == CONN_HEAD)
			conn_read(p, c, hup);
		return;
	case CONN_HEAD:
	case CONN_BODY:
		conn_read(p, c, hup);
		return;
	case CONN_IDLE:
		/* The upstream closed it, or sent what nobody asked for (as
		 * nginx closes a cached upstream connection whose read event
		 * fires; upconn_take_idle looks again before reusing it). */
		r = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		               errno != EINTR))
			conn_close(p, c);
		return;
	default:
		return;
	}
}

void
upconn_event(struct upconn_pool *p, uint64_t key, uint32_t events)
{
	struct upconn *c = &p->conns[(uint32_t)key - 1];

	if ((uint32_t)(key >> 32) == c->gen && c->state != CONN_CLOSED)
		conn_event(p, c, events);
}

/*
 * Whether the idle connection C may carry another request: nothing to
 * read and no end or error on it.  Bytes there are what the upstream
 * sent after the answer it was kept for (a second, unsolicited answer;
 * one byte past a body read to its Content-Length), and would be taken
 * for the next request's answer.  The idle event handler (conn_event)
 * sees most of them, but not bytes that came with the answer's last
 * read event (edge-triggered: read to the Content-Length, the rest
 * raised no new event) nor those whose event is still queued behind
 * this dispatch.  So look, as h2o's socket pool does before each reuse:
 * one recv(MSG_PEEK | MSG_DONTWAIT) of a byte, only EAGAIN meaning
 * clean.  That is one cheap system call (no copy, no wait) beside the
 * send and reads of the request it guards, and far less than the
 * connect it saves.  Bytes that come only after the request went out
 * cannot be told from its answer (HTTP/1.1 has no request ids): that is
 * why an answer whose end is a guess (204, 304, both framings) never
 * leaves its connection idle at all (upstream_head_parse).
 */
static int
conn_reusable(const struct upconn *c)
{
	char b;
	ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct upconn *
upconn_take_idle(struct upconn_pool *p)
{
	struct upconn *c;

	while ((c = p->idle) != NULL) {
		if (conn_reusable(c)) {
			idle_remove(p, c);
			return c;
		}
		conn_close(p, c); /* takes it off the idle list */
	}
	return NULL;
}

int
upconn_make_room(struct upconn_pool *p)
{
	if (p->nopen < p->nconns)
		return 1;
	if (p->idle == NULL)
		return 0;
	conn_close(p, p->idle);
	return 1;
}

int
upconn_abort(struct upconn_pool *p, struct upconn_req *req)
{
	struct upconn *c = req->upc;
	int connecting = c->state == CONN_CONNECTING;

	conn_close(p, c);
	return connecting;
}

void
upconn_close_all(struct upconn_pool *p)
{
	unsigned i;

	for (i = 0; i < p->nconns; i++)
		if (p->conns[i].state != CONN_CLOSED)
			conn_close(p, &p->conns[i]);
}

unsigned long
upconn_connects(const struct upconn_pool *p)
{
	return atom_load(p->connects);
}

void
upconn_req_reset(struct upconn_req *req)
{
	if (req->cap > BUF_KEEP) {
		free(req->buf);
		req->buf = NULL;
		req->cap = 0;
	}
	req->len = 0;
}

struct upconn_pool *
upconn_pool_new(unsigned n, int epfd, const char *request,
                size_t request_len, size_t path_end, size_t max_bytes,
                upconn_end_fn *end, void *owner)
{
	struct upconn_pool *p = calloc(1, sizeof(*p));
	unsigned i;

	if (p == NULL)
		return NULL;
	p->conns = calloc(n, sizeof(struct upconn));
	if (p->conns == NULL) {
		free(p);
		return NULL;
	}
	p->nconns = n;
	for (i = n; i-- > 0;) {
		p->conns[i].fd = -1;
		p->conns[i].index = i;
		p->conns[i].next = p->free_conns;
		p->free_conns = &p->conns[i];
	}
	p->epfd = epfd;
	p->request = request;
	p->request_len = request_len;
	p->path_end = path_end;
	p->max_bytes = max_bytes;
	p->end = end;
	p->owner = owner;
	return p;
}

void
upconn_pool_free(struct upconn_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nconns; i++) {
		if (p->conns[i].fd >= 0)
			close(p->conns[i].fd);
		free(p->conns[i].head);
	}
	free(p->conns);
	free(p);
}
