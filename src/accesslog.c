/* accesslog.c -- the optional access log: one line per request, written
 * in batches by a thread of its own (see accesslog.h).
 *
 * Each thread that logs owns a ring: one producer (the thread, which
 * formats each line on its stack and copies it in) and one consumer
 * (the writer thread, which writes what is between its tail and the
 * head with writev and moves its tail on).  Head and tail only grow;
 * a release store of each publishes the bytes before it, as in a
 * classic single-producer single-consumer queue, so neither side
 * takes a lock or waits for the other.  A full ring drops the line, as
 * nginx's buffered access_log cannot, rather than make a request wait
 * for the disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <microhttpd.h>

#include "accesslog.h"
#include "atomicvar.h"
#include "clock.h"

/* 64 KiB holds some 400 lines of 150 bytes: at 100,000 requests per
 * second on one thread, the writer is woken every 2 ms. */
#define RING_DEFAULT ((size_t)64 * 1024)
/* The longest line (on the stack of the thread that logs); paths are
 * cut at PATH_MAX_LOGGED bytes, whose escapes take at most 6 each. */
#define LINE_MAX_BYTES 8192
#define PATH_MAX_LOGGED 1024
/* The largest descriptor table, as wire.c's. */
#define TABLE_MAX ((size_t)1 << 20)
/* The writer writes at least this often. */
#define FLUSH_MS 1000

int accesslog_on;

/* One thread's lines. */
struct ring {
	char *buf;
	size_t mask;          /* size - 1 */
	size_t head;          /* bytes appended: the producer's (release) */
	size_t tail;          /* bytes written: the writer's (release) */
	unsigned long dropped;/* the producer's (relaxed readers) */
	int orphaned;         /* the producer exited: free once empty */
	time_t sec;           /* the second TIME holds */
	char time[24];        /* "YYYY-MM-DDTHH:MM:SS." */
	struct ring *next;    /* the registry, newest first */
};

/* One descriptor's request, between its handler and its completion. */
struct req_slot {
	uint64_t start_us;    /* 0: no request seen */
	uint64_t bytes;
	const char *method, *url, *version;
	unsigned status;
} __attribute__((aligned(64)));

static struct {
	int fd;
	int own_fd;           /* fd is ours to close (not stdout) */
	enum log_format format;
	size_t ring_size;
	int wakefd;
	int wake_pending;     /* a wake-up is on its way (atomic) */
	int stopping;         /* atomic */
	pthread_t writer;
	pthread_key_t key;    /* orphans a thread's ring when it exits */
	pthread_mutex_t lock; /* rings: push and unlink */
	struct ring *rings;   /* pushed with a release store */
	unsigned long dropped_gone;  /* rings freed, write errors: lock */
	unsigned long reported;      /* the writer's */
	uint64_t reported_ms;        /* the writer's */
	struct req_slot *table;
	size_t table_size;
} L = {.fd = -1, .wakefd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

/* The calling thread's ring; set once per thread: one TLS load per line,
 * a %fs-relative move in an executable. */
static __thread struct ring *my_ring;

/* --- formatting, by hand: no locale, no allocation, no lock --- */

struct out {
	char *p, *end;
};

static void
put_mem(struct out *o, const char *s, size_t n)
{
	if (n > (size_t)(o->end - o->p))
		n = (size_t)(o->end - o->p);
	memcpy(o->p, s, n);
	o->p += n;
}

static void
put_str(struct out *o, const char *s)
{
	put_mem(o, s, strlen(s));
}

static void
put_u64(struct out *o, uint64_t v)
{
	char d[20];
	size_t n = 0;

	do {
		d[sizeof(d) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_mem(o, d + sizeof(d) - n, n);
}

/* V as exactly WIDTH digits. */
static void
put_fixed(struct out *o, unsigned long v, int width)
{
	char d[20];
	int i;

	for (i = width - 1; i >= 0; i--) {
		d[i] = (char)('0' + v % 10);
		v /= 10;
	}
	put_mem(o, d, (size_t)width);
}

/* S (N bytes) escaped for a quoted field: '"', '\' and bytes outside
 * 0x20-0x7e as \xHH (text) or \" \\ \u00HH (JSON). */
static void
put_escaped(struct out *o, const char *s, size_t n, int json)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n && o->end - o->p >= 6; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			*o->p++ = (char)c;
		} else if (json && (c == '"' || c == '\\')) {
			*o->p++ = '\\';
			*o->p++ = (char)c;
		} else {
			*o->p++ = '\\';
			if (json) {
				memcpy(o->p, "u00", 3);
				o->p += 3;
			} else {
				*o->p++ = 'x';
			}
			*o->p++ = hex[c >> 4];
			*o->p++ = hex[c & 15];
		}
	}
}

/* The UTC calendar date of DAYS since 1970-01-01 (H. Hinnant's
 * civil_from_days): gmtime_r takes glibc's time zone lock. */
static void
civil(long days, long *y, unsigned *m, unsigned *d)
{
	long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned long doe = (unsigned long)(z - era * 146097);
	unsigned long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned long mp = (5 * doy + 2) / 153;

	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = (long)yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", the seconds' part made once per second per
 * ring. */
static void
put_time(struct out *o, struct ring *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != r->sec || r->time[0] == '\0') {
		struct out t = {r->time, r->time + sizeof(r->time)};
		long y, s = (long)(ts.tv_sec % 86400);
		unsigned m, d;

		civil((long)(ts.tv_sec / 86400), &y, &m, &d);
		put_fixed(&t, (unsigned long)y, 4);
		put_mem(&t, "-", 1);
		put_fixed(&t, m, 2);
		put_mem(&t, "-", 1);
		put_fixed(&t, d, 2);
		put_mem(&t, "T", 1);
		put_fixed(&t, (unsigned long)(s / 3600), 2);
		put_mem(&t, ":", 1);
		put_fixed(&t, (unsigned long)(s / 60 % 60), 2);
		put_mem(&t, ":", 1);
		put_fixed(&t, (unsigned long)(s % 60), 2);
		put_mem(&t, ".", 1);
		r->sec = ts.tv_sec;
	}
	put_mem(o, r->time, 20);
	put_fixed(o, (unsigned long)ts.tv_nsec / 1000000u, 3);
	put_mem(o, "Z", 1);
}

/* Microseconds as seconds with six decimals. */
static void
put_seconds(struct out *o, uint64_t us)
{
	put_u64(o, us / 1000000u);
	put_mem(o, ".", 1);
	put_fixed(o, (unsigned long)(us % 1000000u), 6);
}

/* The dotted quad of the IPv4 address A (network order) into BUF. */
static const char *
ipv4_format(const unsigned char *a, char *buf, size_t size)
{
	struct out o = {buf, buf + size - 1};
	int i;

	for (i = 0; i < 4; i++) {
		if (i > 0)
			put_mem(&o, ".", 1);
		put_u64(&o, a[i]);
	}
	*o.p = '\0';
	return buf;
}

/* The client address of CONN, numeric, into BUF.  IPv4 by hand:
 * glibc's inet_ntop took 1,700 instructions, half the log's cost per
 * request (callgrind). */
static const char *
client_of(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = info != NULL ? info->client_addr : NULL;
	if (sa != NULL && sa->sa_family == AF_INET)
		return ipv4_format((const unsigned char *)&((const struct
		                   sockaddr_in *)(const void *)sa)->sin_addr,
		                   buf, size);
	if (sa != NULL && sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)
	              ->sin6_addr, buf, (socklen_t)size) != NULL)
		return buf;
	return "-";
}

const char *
accesslog_id(const char *s, size_t *len)
{
	size_t n;

	*len = 0;
	if (s == NULL)
		return NULL;
	for (n = 0; s[n] != '\0'; n++)
		if (n == ACCESSLOG_ID_MAX || (unsigned char)s[n] < 0x20 ||
		    (unsigned char)s[n] >= 0x7f)
			return NULL;
	if (n == 0)
		return NULL;
	*len = n;
	return s;
}

/* The request id of CONN: X-Request-Id, else traceparent. */
static const char *
request_id(struct MHD_Connection *conn, size_t *len)
{
	const char *id;

	id = accesslog_id(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                              "X-Request-Id"), len);
	if (id == NULL)
		id = accesslog_id(MHD_lookup_connection_value(
			conn, MHD_HEADER_KIND, "traceparent"), len);
	return id;
}

/* Format the line of request S on CONN into O. */
static void
format_line(struct out *o, struct ring *r, const struct req_slot *s,
            struct MHD_Connection *conn, uint64_t us)
{
	int json = L.format == LOG_FORMAT_JSON;
	char addr[INET6_ADDRSTRLEN];
	const char *client = client_of(conn, addr, sizeof(addr)), *id;
	size_t plen = strlen(s->url), idlen;

	id = request_id(conn, &idlen);
	if (json) {
		put_str(o, "{\"time\":\"");
		put_time(o, r);
		put_str(o, "\",\"client\":\"");
		put_str(o, client);
		put_str(o, "\",\"method\":\"");
		put_escaped(o, s->method, strlen(s->method), 1);
		put_str(o, "\",\"path\":\"");
		put_escaped(o, s->url, plen > PATH_MAX_LOGGED ? PATH_MAX_LOGGED
		            : plen, 1);
		put_str(o, "\",\"protocol\":\"");
		put_escaped(o, s->version, strlen(s->version), 1);
		put_str(o, "\",\"status\":");
		put_u64(o, s->status);
		put_str(o, ",\"bytes\":");
		put_u64(o, s->bytes);
		put_str(o, ",\"duration\":");
		put_seconds(o, us);
		put_str(o, ",\"request_id\":");
		if (id != NULL) {
			put_str(o, "\"");
			put_escaped(o, id, idlen, 1);
			put_str(o, "\"}");
		} else {
			put_str(o, "null}");
		}
	} else {
		put_str(o, client);
		put_str(o, " - - [");
		put_time(o, r);
		put_str(o, "] \"");
		put_escaped(o, s->method, strlen(s->method), 0);
		put_str(o, " ");
		put_escaped(o, s->url, plen > PATH_MAX_LOGGED ? PATH_MAX_LOGGED
		            : plen, 0);
		if (plen > PATH_MAX_LOGGED)
			put_str(o, "...");
		put_str(o, " ");
		put_escaped(o, s->version, strlen(s->version), 0);
		put_str(o, "\" ");
		put_u64(o, s->status);
		put_str(o, " ");
		put_u64(o, s->bytes);
		put_str(o, " ");
		put_seconds(o, us);
		if (id != NULL) {
			put_str(o, " \"");
			put_escaped(o, id, idlen, 0);
			put_str(o, "\"");
		} else {
			put_str(o, " -");
		}
	}
	/* The newline always fits: the buffer's end was kept for it. */
	*o->p++ = '\n';
}

/* --- the rings --- */

static void
wake_writer(void)
{
	uint64_t one = 1;

	if (atom_load(L.wake_pending))
		return;
	atom_store(L.wake_pending, 1);
	if (write(L.wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, the writer is awake */
	}
}

/* Thread exit: the writer frees the ring once it wrote what is left. */
static void
ring_orphan(void *arg)
{
	struct ring *r = arg;

	atom_store_release(r->orphaned, 1);
	wake_writer();
}

/* The calling thread's ring, made on its first line; NULL if out of
 * memory (the line is dropped, uncounted). */
static struct ring *
ring_get(void)
{
	struct ring *r = my_ring;

	if (r != NULL)
		return r;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->buf = malloc(L.ring_size);
	if (r->buf == NULL || pthread_setspecific(L.key, r) != 0) {
		free(r->buf);
		free(r);
		return NULL;
	}
	r->mask = L.ring_size - 1;
	pthread_mutex_lock(&L.lock);
	r->next = L.rings;
	atom_store_release(L.rings, r);
	pthread_mutex_unlock(&L.lock);
	my_ring = r;
	return r;
}

/* Append LINE (N bytes) to R, or count it dropped. */
static void
ring_put(struct ring *r, const char *line, size_t n)
{
	size_t head = r->head, used = head - atom_load_acquire(r->tail);
	size_t size = r->mask + 1, at = head & r->mask, first;

	if (size - used < n) {
		atom_bump(r->dropped, 1);
		wake_writer();
		return;
	}
	first = size - at < n ? size - at : n;
	memcpy(r->buf + at, line, first);
	memcpy(r->buf, line + first, n - first);
	atom_store_release(r->head, head + n);
	if (used + n >= size / 2)
		wake_writer();
}

/* Write what R holds; on a write error count its lines dropped. */
static void
ring_flush(struct ring *r)
{
	size_t head = atom_load_acquire(r->head), tail = r->tail;

	while (tail != head) {
		size_t at = tail & r->mask, n = head - tail;
		struct iovec iov[2];
		int iovcnt = 1;
		ssize_t w;

		iov[0].iov_base = r->buf + at;
		iov[0].iov_len = n;
		if (at + n > r->mask + 1) {
			iov[0].iov_len = r->mask + 1 - at;
			iov[1].iov_base = r->buf;
			iov[1].iov_len = n - iov[0].iov_len;
			iovcnt = 2;
		}
		w = writev(L.fd, iov, iovcnt);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			unsigned long lines = 0;
			size_t i;

			for (i = tail; i != head; i++)
				lines += r->buf[i & r->mask] == '\n';
			pthread_mutex_lock(&L.lock);
			L.dropped_gone += lines;
			pthread_mutex_unlock(&L.lock);
			tail = head;
			break;
		}
		tail += (size_t)w;
	}
	atom_store_release(r->tail, tail);
}

/* Write every ring; free those whose thread exited, once empty.  The
 * writer's (and accesslog_close's once the writer is gone): producers
 * only push at the head of the list, so walking it needs no lock. */
static void
flush_all(void)
{
	struct ring **p, *r;

	/* The list's head may change under us: start from a loaded value,
	 * and unlink with the lock. */
	for (r = atom_load_acquire(L.rings); r != NULL; ) {
		struct ring *next = r->next;
		int orphaned = atom_load_acquire(r->orphaned);

		ring_flush(r);
		if (orphaned) {
			pthread_mutex_lock(&L.lock);
			for (p = &L.rings; *p != r; p = &(*p)->next)
				;
			*p = r->next;
			L.dropped_gone += r->dropped;
			pthread_mutex_unlock(&L.lock);
			free(r->buf);
			free(r);
		}
		r = next;
	}
}

unsigned long
accesslog_dropped(void)
{
	unsigned long n;
	struct ring *r;

	pthread_mutex_lock(&L.lock);
	n = L.dropped_gone;
	for (r = L.rings; r != NULL; r = r->next)
		n += atom_load(r->dropped);
	pthread_mutex_unlock(&L.lock);
	return n;
}

/* At most every LOG_REPORT_SECONDS (or at the end, FINAL): how many
 * lines were dropped since the last report. */
static void
report_dropped(int final)
{
	unsigned long n = accesslog_dropped();
	uint64_t now = clock_ms();

	if (n == L.reported ||
	    (!final && L.reported_ms != 0 &&
	     now - L.reported_ms < (uint64_t)LOG_REPORT_SECONDS * 1000u))
		return;
	log_warn("access log: %lu line%s dropped (the writer is behind, or "
	         "writes failed)", n - L.reported, n - L.reported == 1 ? "" :
	         "s");
	L.reported = n;
	L.reported_ms = now;
}

static void *
writer_main(void *arg)
{
	struct pollfd pfd = {.fd = L.wakefd, .events = POLLIN};

	(void)arg;
	for (;;) {
		uint64_t v;
		int stop;

		(void)poll(&pfd, 1, FLUSH_MS);
		if (read(L.wakefd, &v, sizeof(v)) < 0) {
			/* EAGAIN: woken by the timeout */
		}
		stop = atom_load_acquire(L.stopping);
		atom_store(L.wake_pending, 0);
		flush_all();
		report_dropped(0);
		if (stop)
			return NULL;
	}
}

/* --- the descriptor table and the hooks --- */

static struct req_slot *
slot_get(int fd)
{
	return fd >= 0 && (size_t)fd < L.table_size ? &L.table[fd] : NULL;
}

void
accesslog_begin(int fd, const char *method, const char *url,
                const char *version)
{
	struct req_slot *s = slot_get(fd);

	if (s == NULL)
		return;
	s->start_us = clock_us();
	s->method = method;
	s->url = url;
	s->version = version;
	s->status = 0;
	s->bytes = 0;
}

void
accesslog_answer(int fd, unsigned status, uint64_t bytes)
{
	struct req_slot *s = slot_get(fd);

	if (s == NULL)
		return;
	s->status = status;
	/* libmicrohttpd sends no body for HEAD. */
	s->bytes = s->method != NULL && strcmp(s->method, "HEAD") == 0 ? 0
	           : bytes;
}

void
accesslog_completed(struct MHD_Connection *conn, int fd)
{
	struct req_slot *s = slot_get(fd);
	char line[LINE_MAX_BYTES];
	struct out o = {line, line + sizeof(line) - 1}; /* room for '\n' */
	struct ring *r;
	uint64_t now;

	if (s == NULL || s->start_us == 0)
		return;
	now = clock_us();
	r = ring_get();
	if (r != NULL) {
		format_line(&o, r, s, conn, now - s->start_us);
		ring_put(r, line, (size_t)(o.p - line));
	}
	s->start_us = 0;
}

/* --- open and close --- */

int
accesslog_open(const char *path, enum log_format format, size_t ring_size,
               struct error *err)
{
	struct rlimit rl;
	size_t n = TABLE_MAX;

	L.format = format;
	L.ring_size = ring_size != 0 ? ring_size : RING_DEFAULT;
	if (strcmp(path, "-") == 0) {
		L.fd = STDOUT_FILENO;
		L.own_fd = 0;
	} else {
		L.fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (L.fd < 0) {
			error_set(err, EXIT_IOERR, "--access-log: cannot open "
			          "'%s': %s", path, strerror(errno));
			return -1;
		}
		L.own_fd = 1;
	}
	/* Sized like wire.c's table, mapped lazily by calloc. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_max != RLIM_INFINITY && rl.rlim_max < TABLE_MAX)
		n = (size_t)rl.rlim_max;
	L.table = calloc(n, sizeof(*L.table));
	L.table_size = n;
	L.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (L.table == NULL || L.wakefd < 0 ||
	    pthread_key_create(&L.key, ring_orphan) != 0) {
		error_set(err, EXIT_OSERR, "access log: out of memory");
		goto fail;
	}
	if (pthread_create(&L.writer, NULL, writer_main, NULL) != 0) {
		pthread_key_delete(L.key);
		error_set(err, EXIT_OSERR, "access log: cannot start its "
		          "thread");
		goto fail;
	}
	accesslog_on = 1;
	return 0;

fail:
	free(L.table);
	L.table = NULL;
	if (L.wakefd >= 0)
		close(L.wakefd);
	L.wakefd = -1;
	if (L.own_fd)
		close(L.fd);
	L.fd = -1;
	return -1;
}

void
accesslog_close(void)
{
	struct ring *r, *next;

	if (!accesslog_on)
		return;
	accesslog_on = 0;
	atom_store_release(L.stopping, 1);
	atom_store(L.wake_pending, 0);
	wake_writer();
	pthread_join(L.writer, NULL);
	/* Every producer is done: what the writer's last pass left (a line
	 * logged while it ran) goes now. */
	flush_all();
	report_dropped(1);
	pthread_key_delete(L.key);
	for (r = L.rings; r != NULL; r = next) {
		next = r->next;
		free(r->buf);
		free(r);
	}
	L.rings = NULL;
	my_ring = NULL;
	free(L.table);
	L.table = NULL;
	L.table_size = 0;
	close(L.wakefd);
	L.wakefd = -1;
	if (L.own_fd)
		close(L.fd);
	L.fd = -1;
}
