/* server.c -- the HTTP service: libmicrohttpd daemon, handler, reload, stop. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <netdb.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "log.h"
#include "proxy.h"
#include "relay.h"
#include "routes.h"
#include "server.h"
#include "stats.h"
#include "wire.h"

/*
 * Per-connection memory pool.  MHD 0.9.75 allocates it when a connection
 * opens and clears it with memset after every request, so its size is a
 * per-request cost (the default is 32 KiB).  Measured with wrk -c100, one
 * epoll thread pinned, medians of 3 rounds: 8 KiB cost 0.70x the server
 * CPU per request of 32 KiB (16 KiB: 0.73x) and 1.6 MB less RSS.  The
 * framing check (guard.c) keeps every request head within what this pool
 * holds, and answers a larger one itself (431 or 414, JSON); it renames
 * Cookie fields, which MHD would copy into the pool.  10 KiB takes heads
 * of 8 KB in up to 20 field lines, cookies included; side by side with
 * 8 KiB it cost no measurable CPU per request, 12 KiB 6% (bench/NOTES.md).
 */
#ifndef POOL_SIZE
#define POOL_SIZE ((size_t)10 * 1024)
#endif

/* Extra MHD flags, for measuring alternatives (e.g. MHD_USE_TURBO) with
 * CPPFLAGS=-DSERVER_EXTRA_FLAGS=...; bench/NOTES.md has the results. */
#ifndef SERVER_EXTRA_FLAGS
#define SERVER_EXTRA_FLAGS 0
#endif

/* Stack of each connection thread in thread-per-connection mode: the
 * handler is tiny, and 10,000 threads with the default 8 MiB stack would
 * reserve 80 GB of address space. */
#define TPC_STACK_SIZE ((size_t)256 * 1024)

/* How long server_stop waits, after the drain, for the relays it ended
 * to be answered. */
#define RELAY_STOP_MS 100u

/* Listen backlog; the kernel caps it at net.core.somaxconn. */
#ifndef LISTEN_BACKLOG
#define LISTEN_BACKLOG 4096
#endif

/* File descriptors kept for things other than connections: stdio, the
 * listening socket, each worker's epoll and wake-up descriptors, the
 * acceptor's spare descriptor, ... */
#define FD_RESERVE(threads) (32u + 4u * (threads))

/* One request deadline per cache line (see deadline_arm). */
#define DEADLINE_STRIDE (64 / sizeof(uint64_t))

/* The acceptor logs what it refused or closed at most this often. */
#define REPORT_SECONDS 10

struct server {
	struct MHD_Daemon *daemon;
	struct wire *wire;          /* framing check, own answers */
	const char *path;           /* the list route */
	struct routes *active;      /* read atomically per request */
	struct routes *serving;     /* owns the fixture */
	struct routes *closing;     /* "Connection: close", at stop */
	struct stats *stats;        /* counters and reader epochs */
	struct relay *relay;        /* relay mode, else NULL */
	int blocking;               /* thread-per-connection mode */
	pthread_mutex_t reload_lock;/* serving, reloads_*, last_reload */
	unsigned long reloads_ok;
	unsigned long reloads_failed;
	time_t last_reload;         /* start-up, then each good reload */
	unsigned port;
	unsigned max_connections;
	int fd;                     /* our listening socket */
	int stop_fd;                /* eventfd: tells the acceptor to stop */
	int epfd;                   /* the acceptor's: listen, stop, peers */
	unsigned open;              /* connections handed to MHD and not
	                             * closed yet (atomic): the limit */
	pthread_t acceptor;
	int acceptor_started;
	/* Request deadlines (--timeout), NULL when 0: one per descriptor,
	 * DEADLINE_STRIDE apart; CLOCK_MONOTONIC_COARSE ms, 0 = none. */
	uint64_t *deadlines;
	size_t deadline_count;      /* descriptors covered */
	uint64_t timeout_ms;
	/* Sweeps, half-close checks and closes, not requests: a descriptor
	 * is never shut down by number after MHD closed it. */
	pthread_mutex_t deadline_lock;
	/* The acceptor's own: the spare descriptor for when they run out,
	 * what it refused or closed, and what it has logged of that. */
	int spare_fd;
	unsigned long refused_limit;
	unsigned long refused_fds;
	unsigned long closed_slow;
	unsigned long accept_failed;
	int accept_errno;
	unsigned long logged[4];
	time_t logged_at;
	/* What server_log_mhd let through, by message. */
	pthread_mutex_t mhd_log_lock;
	struct mhd_seen {
		const char *fmt;
		time_t at;
		unsigned long skipped;
	} mhd_seen[16];
};

/* Publish R as the set requests use, and wait until no request still
 * uses the previous one. */
static void
server_publish(struct server *srv, struct routes *r)
{
	__atomic_store_n(&srv->active, r, __ATOMIC_SEQ_CST);
	stats_synchronize(srv->stats);
}

/*
 * Slow clients.  libmicrohttpd's --timeout counts inactivity only, so a
 * client that trickles a header byte a second holds its connection (and
 * in thread-per-connection mode a thread) for ever.  Here a client must
 * send a whole request within --timeout of connecting or of its previous
 * response, as nginx's client_header_timeout.  Each connection has a
 * deadline in a slot indexed by its descriptor, the slots a cache line
 * apart so that no two workers write the same line: MHD's notifications
 * set it when the connection starts and after each response, the handler
 * clears it once the request is in.  The acceptor thread sweeps the slots
 * a few times a second and shuts down the sockets past their deadline;
 * MHD then reads the end of file and closes the connection itself.  The
 * lock is taken only by the sweep and by MHD's close notification, which
 * comes before MHD closes the descriptor: so a sweep never shuts down a
 * descriptor that has been reused.  Per request this costs a clock read
 * and two stores to the connection's own cache line.
 */
static uint64_t
clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* FD's connection no longer counts against --max-connections (once). */
static void
server_count_out(struct server *srv, int fd)
{
	if (wire_count_out(fd))
		__atomic_sub_fetch(&srv->open, 1, __ATOMIC_RELAXED);
}

/* CONN's descriptor, or -1. */
static int
connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return info != NULL ? info->connect_fd : -1;
}

/* The deadline slot of descriptor FD, or NULL (no deadlines, or a
 * descriptor beyond those covered: MHD's inactivity timeout still
 * applies). */
static uint64_t *
deadline_slot(const struct server *srv, int fd)
{
	if (srv->deadlines == NULL || fd < 0 ||
	    (size_t)fd >= srv->deadline_count)
		return NULL;
	return &srv->deadlines[(size_t)fd * DEADLINE_STRIDE];
}

/* The next request on FD must be in within --timeout from now. */
static void
deadline_arm(const struct server *srv, int fd)
{
	uint64_t *slot = deadline_slot(srv, fd);

	if (slot != NULL)
		__atomic_store_n(slot, clock_ms() + srv->timeout_ms,
		                 __ATOMIC_RELAXED);
}

/* The request on CONN is in: no deadline until its response is sent. */
static void
deadline_clear(const struct server *srv, struct MHD_Connection *conn)
{
	uint64_t *slot;

	if (srv->deadlines == NULL)
		return;
	slot = deadline_slot(srv, connection_fd(conn));
	if (slot != NULL)
		__atomic_store_n(slot, 0, __ATOMIC_RELAXED);
}

/* MHD_OPTION_NOTIFY_CONNECTION: arm the deadline of a new connection;
 * for a closing one, before MHD closes its descriptor, forget its
 * deadline and its wire state and count it out of the limit. */
static void
server_connection(void *cls, struct MHD_Connection *conn,
                  void **socket_context,
                  enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;
	int fd = connection_fd(conn);
	uint64_t *slot;

	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		deadline_arm(srv, fd);
		return;
	}
	slot = deadline_slot(srv, fd);
	pthread_mutex_lock(&srv->deadline_lock);
	if (slot != NULL)
		__atomic_store_n(slot, 0, __ATOMIC_RELAXED);
	server_count_out(srv, fd);
	wire_detach(fd);
	pthread_mutex_unlock(&srv->deadline_lock);
}

/* Shut down every connection past its deadline.  Returns how many. */
static unsigned long
deadline_sweep(struct server *srv)
{
	uint64_t now = clock_ms();
	unsigned long n = 0;
	size_t fd;

	pthread_mutex_lock(&srv->deadline_lock);
	for (fd = 0; fd < srv->deadline_count; fd++) {
		uint64_t *slot = &srv->deadlines[fd * DEADLINE_STRIDE];
		uint64_t d = __atomic_load_n(slot, __ATOMIC_RELAXED);

		if (d != 0 && d <= now) {
			__atomic_store_n(slot, 0, __ATOMIC_RELAXED);
			shutdown((int)fd, SHUT_RDWR);
			server_count_out(srv, (int)fd);
			n++;
		}
	}
	pthread_mutex_unlock(&srv->deadline_lock);
	return n;
}

/* Render /metrics: Prometheus text format 0.0.4.  Returns a malloc'd
 * body, or NULL if out of memory.  Runs outside stats_enter/leave. */
static char *
metrics_render(struct server *srv, size_t *len)
{
	static const char *const route_names[ROUTE_COUNT] = {
		"list", "user", "healthz", "metrics", "other"};
	static const char *const status_names[STATUS_COUNT] = {
		"200", "400", "404", "405", "500", "502", "503", "504"};
	/* The route and status pairs the handler can produce; 2: only in
	 * relay mode. */
	static const unsigned char produced[ROUTE_COUNT][STATUS_COUNT] = {
		{1, 0, 0, 1, 0, 2, 2, 2}, {1, 0, 1, 1, 0, 0, 0, 0},
		{1, 0, 0, 1, 0, 0, 0, 0}, {1, 0, 0, 1, 1, 0, 0, 0},
		{0, 0, 1, 0, 0, 0, 0, 0}};
	static const char *const verdicts[GUARD_VERDICT_COUNT] = {
		NULL, "400", "413", "414", "431", "501", "505"};
	unsigned long n[ROUTE_COUNT][STATUS_COUNT], ok, failed;
	unsigned long rejected[GUARD_VERDICT_COUNT];
	char *body = NULL;
	size_t users;
	time_t last;
	FILE *f;
	int r, s;

	stats_sum(srv->stats, n);
	pthread_mutex_lock(&srv->reload_lock);
	users = srv->serving->count;
	ok = srv->reloads_ok;
	failed = srv->reloads_failed;
	last = srv->last_reload;
	pthread_mutex_unlock(&srv->reload_lock);
	wire_rejected(srv->wire, rejected);

	f = open_memstream(&body, len);
	if (f == NULL)
		return NULL;
	fputs("# HELP avatar_api_requests_total Requests answered, by route "
	      "and status.\n# TYPE avatar_api_requests_total counter\n", f);
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			if (produced[r][s] == 1 ||
			    (produced[r][s] == 2 && srv->relay != NULL))
				fprintf(f, "avatar_api_requests_total{route=\"%s\","
				        "status=\"%s\"} %lu\n", route_names[r],
				        status_names[s], n[r][s]);
	fprintf(f, "# HELP avatar_api_connections Open client connections.\n"
	        "# TYPE avatar_api_connections gauge\n"
	        "avatar_api_connections %u\n"
	        "# HELP avatar_api_users Records in the fixture being served.\n"
	        "# TYPE avatar_api_users gauge\n"
	        "avatar_api_users %zu\n"
	        "# HELP avatar_api_reloads_total Fixture reloads (SIGHUP), by "
	        "result.\n"
	        "# TYPE avatar_api_reloads_total counter\n"
	        "avatar_api_reloads_total{result=\"ok\"} %lu\n"
	        "avatar_api_reloads_total{result=\"failed\"} %lu\n"
	        "# HELP avatar_api_last_reload_success_timestamp_seconds When "
	        "the fixture being served was loaded.\n"
	        "# TYPE avatar_api_last_reload_success_timestamp_seconds gauge\n"
	        "avatar_api_last_reload_success_timestamp_seconds %lld\n"
	        "# HELP avatar_api_build_info Version of avatar-api and its "
	        "libraries.\n"
	        "# TYPE avatar_api_build_info gauge\n"
	        "avatar_api_build_info{version=\"%s\",libmicrohttpd=\"%s\","
	        "jansson=\"%s\"} 1\n",
	        __atomic_load_n(&srv->open, __ATOMIC_RELAXED), users, ok, failed,
	        (long long)last, PACKAGE_VERSION, MHD_get_version(),
	        jansson_version_str());
	fprintf(f, "# HELP avatar_api_connections_refused_total Connections "
	        "refused at accept, with a 503, by reason.\n"
	        "# TYPE avatar_api_connections_refused_total counter\n"
	        "avatar_api_connections_refused_total{reason=\"limit\"} %lu\n"
	        "avatar_api_connections_refused_total{reason=\"fds\"} %lu\n"
	        "# HELP avatar_api_requests_rejected_total Requests whose "
	        "framing or size was refused before routing, by status.\n"
	        "# TYPE avatar_api_requests_rejected_total counter\n",
	        __atomic_load_n(&srv->refused_limit, __ATOMIC_RELAXED),
	        __atomic_load_n(&srv->refused_fds, __ATOMIC_RELAXED));
	for (s = 1; s < GUARD_VERDICT_COUNT; s++)
		fprintf(f, "avatar_api_requests_rejected_total{status=\"%s\"} "
		        "%lu\n", verdicts[s], rejected[s]);
	if (srv->relay != NULL)
		relay_metrics(srv->relay, f);
	if (fclose(f) != 0) {
		free(body);
		return NULL;
	}
	return body;
}

/* Answer GET or HEAD /metrics, with "Connection: close" if CLOSING.
 * Allocates: scrapes are rare. */
static enum MHD_Result
metrics_answer(struct server *srv, struct MHD_Connection *conn, int closing)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = 0;
	char *body;

	body = metrics_render(srv, &len);
	if (body == NULL)
		return MHD_NO; /* out of memory: MHD closes the connection */
	resp = routes_response(body, len, "text/plain; version=0.0.4; "
	                       "charset=utf-8", closing);
	free(body);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Decode %HH escapes in the path and query like MHD's default, except
 * %00: a NUL would cut the path short (/v1/user%00x would route as
 * /v1/user), so it stays encoded and such a path matches no route. */
static size_t
server_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	static const char digits[] = "0123456789abcdef";
	char *r = s, *w = s;

	(void)cls;
	(void)conn;
	while (*r != '\0') {
		const char *hi = r[0] == '%' && r[1] != '\0'
		                 ? strchr(digits, tolower((unsigned char)r[1]))
		                 : NULL;
		const char *lo = hi != NULL && r[2] != '\0'
		                 ? strchr(digits, tolower((unsigned char)r[2]))
		                 : NULL;

		if (lo != NULL && (hi != digits || lo != digits)) {
			*w++ = (char)((hi - digits) << 4 | (lo - digits));
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

/* *req_cls of a request being handled that holds no relay slot. */
static char request_seen;

/*
 * Relay mode: answer the list route from the upstream.  JOB is NULL on
 * the request's first pass: take a slot (none free: 503 at once) and
 * either, in epoll mode, suspend the connection and submit the job (the
 * relay thread resumes the connection when it is done, and MHD calls us
 * again with the job in *REQ_CLS), or, in thread-per-connection mode,
 * submit it and wait (proxy_request).  The answer is queued on the
 * second or a later handler call, never the first (see server_handle).
 */
static enum MHD_Result
relay_answer(struct server *srv, struct MHD_Connection *conn,
             struct relay_job *job, void **req_cls)
{
	struct MHD_Response *resp;
	struct stats_slot *slot;
	enum route_status index;
	enum MHD_Result ret;
	unsigned status;
	int closing;

	if (proxy_request(srv->relay, srv->blocking, conn, &job, req_cls))
		return MHD_YES;
	*req_cls = &request_seen; /* the slot goes to the response */
	slot = stats_enter(srv->stats);
	closing = __atomic_load_n(&srv->active, __ATOMIC_ACQUIRE)->closing;
	resp = proxy_response(job, srv->path, closing, &status, &index);
	stats_count(srv->stats, slot, ROUTE_LIST, index);
	stats_leave(srv->stats, slot);
	if (resp == NULL)
		return MHD_NO; /* out of memory: MHD closes the connection */
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request ended.  Once its response is
 * sent, the next request's deadline clock starts (a connection that ends
 * instead is closed next), and a connection whose peer has half-closed
 * is shut down if nothing more is pending (wire_completed).  In relay
 * mode, return the request's slot if it still holds one (the client left
 * before the answer). */
static void
server_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                 enum MHD_RequestTerminationCode code)
{
	struct server *srv = cls;

	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		int fd = connection_fd(conn);

		deadline_arm(srv, fd);
		if (wire_completed(fd))
			server_count_out(srv, fd);
	}
	if (*req_cls != NULL && *req_cls != &request_seen)
		relay_release(*req_cls);
	*req_cls = NULL;
}

/* The path of an absolute-form request target (RFC 9112 3.2.2:
 * "http://host:port/path", which a server must accept): what follows the
 * authority, or "/" if nothing does.  Other targets are returned as they
 * are.  The authority is not checked against Host: RFC 9112 3.2.2 says
 * the target's wins, and there is one site here. */
static const char *
origin_form(const char *url)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return url;
	p = strchr(p, '/');
	return p != NULL ? p : "/";
}

/*
 * The access handler.  libmicrohttpd 0.9.75 closes the connection after a
 * response queued in the first call for a request (the request counts as
 * not fully received), so the first call only marks the request and the
 * response is queued on the second, as MHD's minimal_example.c does.  A
 * request body, if any, is read and dropped.  The framing has been
 * checked already, byte by byte, before MHD parsed it (wire.c), so no
 * ambiguous request reaches this handler.
 *
 * One exception to "queue on the second call": a request with an Expect
 * field is answered on the first, as RFC 9110 10.1.1 allows (a final
 * status instead of 100 Continue).  MHD 0.9.75 otherwise sends
 * "100 Continue" even when there is no body, then takes the next
 * pipelined request for that body and closes the connection with the
 * request unanswered.  The answer then carries "Connection: close".
 *
 * Per request this does one header lookup, a few string compares, a
 * binary search and three stores to this thread's own cache lines: no
 * allocation, no lock, no JSON, no I/O.
 */
static enum MHD_Result
server_handle(void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version,
              const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
	struct server *srv = cls;
	const struct routes *r;
	struct stats_slot *slot;
	struct MHD_Response *resp;
	enum route_status index;
	enum route route;
	enum MHD_Result ret;
	unsigned status;

	(void)upload_data;
	(void)version;
	if (*req_cls == NULL) {
		*req_cls = &request_seen;
		if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                MHD_HTTP_HEADER_EXPECT) == NULL)
			return MHD_YES;
	} else if (*req_cls != &request_seen) {
		/* relay mode: a resumed request */
		return relay_answer(srv, conn, *req_cls, req_cls);
	} else if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (url[0] != '/')
		url = origin_form(url);
	deadline_clear(srv, conn);
	/* Between enter and leave the set R cannot be freed by a reload. */
	slot = stats_enter(srv->stats);
	r = __atomic_load_n(&srv->active, __ATOMIC_ACQUIRE);
	resp = routes_match(r, url, method, &status, &index, &route);
	if (route == ROUTE_LIST && srv->relay != NULL && index == STATUS_200) {
		stats_leave(srv->stats, slot);
		return relay_answer(srv, conn, NULL, req_cls);
	}
#ifndef SERVER_NO_COUNTERS /* only to measure what counting costs */
	stats_count(srv->stats, slot, route, index);
#endif
	if (resp == NULL) {
		int closing = r->closing; /* R may be freed after the leave */

		stats_leave(srv->stats, slot);
		return metrics_answer(srv, conn, closing);
	}
	ret = MHD_queue_response(conn, status, resp);
	stats_leave(srv->stats, slot);
	return ret;
}

/* MHD_OPTION_EXTERNAL_LOGGER: log_mhd, but each of MHD's messages at
 * most once every REPORT_SECONDS (with, when it comes again after that,
 * the count of those left out in between): MHD
 * writes one per connection for some events (a client closed in the
 * middle of its request, by itself or by deadline_sweep; a thread that
 * could not be started), so that a flood of clients would flood the log
 * too.  Messages are told apart by their format string. */
static void __attribute__((format(printf, 2, 0)))
server_log_mhd(void *cls, const char *fmt, va_list ap)
{
	struct server *srv = cls;
	struct mhd_seen *e = &srv->mhd_seen[0];
	time_t now = time(NULL), at = 0;
	unsigned long skipped = 0;
	size_t i;

	pthread_mutex_lock(&srv->mhd_log_lock);
	for (i = 0; i < sizeof(srv->mhd_seen) / sizeof(srv->mhd_seen[0]); i++) {
		if (srv->mhd_seen[i].fmt == fmt) {
			e = &srv->mhd_seen[i];
			break;
		}
		if (srv->mhd_seen[i].at < e->at)
			e = &srv->mhd_seen[i]; /* the oldest, if FMT is new */
	}
	if (e->fmt == fmt && now - e->at < REPORT_SECONDS) {
		e->skipped++;
		pthread_mutex_unlock(&srv->mhd_log_lock);
		return;
	}
	if (e->fmt == fmt) {
		skipped = e->skipped;
		at = e->at;
	}
	e->fmt = fmt;
	e->at = now;
	e->skipped = 0;
	pthread_mutex_unlock(&srv->mhd_log_lock);
	log_mhd(NULL, fmt, ap);
	if (skipped != 0)
		log_warn("(and %lu more like the libmicrohttpd message above "
		         "in the last %lld s)", skipped, (long long)(now - at));
}

/* Open, bind and listen on ADDRESS:PORT.  Returns the socket, or -1 with
 * ERR set.  *FAMILY receives the address family. */
static int
listen_open(const char *address, unsigned port, int *family, unsigned *bound,
            struct error *err)
{
	struct addrinfo hints, *res = NULL;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} bound_addr;
	socklen_t sslen = sizeof(bound_addr);
	char service[8];
	int fd = -1, one = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(address, service, &hints, &res);
	if (rc != 0) {
		error_set(err, EXIT_UNAVAILABLE, "cannot resolve address %s: %s",
		          address, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family,
	            res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, errno == EAFNOSUPPORT ? EXIT_UNAVAILABLE
		          : EXIT_OSERR, "cannot create socket for %s: %s",
		          address, strerror(errno));
		goto fail;
	}
	/* Restart at once even with connections in TIME_WAIT. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
		int e = errno;

		if (e == EACCES)
			error_set(err, EXIT_NOPERM, "cannot listen on %s port %u: "
			          "%s (ports below 1024 need privileges)",
			          address, port, strerror(e));
		else
			error_set(err, EXIT_UNAVAILABLE, "cannot listen on %s "
			          "port %u: %s", address, port, strerror(e));
		goto fail;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		error_set(err, EXIT_UNAVAILABLE, "cannot listen on %s port %u: "
		          "%s", address, port, strerror(errno));
		goto fail;
	}
	memset(&bound_addr, 0, sizeof(bound_addr));
	if (getsockname(fd, &bound_addr.sa, &sslen) < 0) {
		error_set(err, EXIT_OSERR, "getsockname: %s", strerror(errno));
		goto fail;
	}
	*bound = ntohs(bound_addr.sa.sa_family == AF_INET6
	               ? bound_addr.in6.sin6_port : bound_addr.in.sin_port);
	*family = res->ai_family;
	freeaddrinfo(res);
	return fd;

fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return -1;
}

/* Fit WANTED connections into the open-file limit: raise the soft limit
 * towards the hard one if needed, else lower the count with a warning. */
static unsigned
fit_connections(unsigned wanted, unsigned threads)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)wanted + FD_RESERVE(threads);

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return wanted;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit raised = rl;

		raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		                  rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl = raised;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		unsigned fit = rl.rlim_cur > FD_RESERVE(threads) + 1
		               ? (unsigned)(rl.rlim_cur - FD_RESERVE(threads)) : 1;

		log_warn("open-file limit is %llu: connection limit lowered "
		         "from %u to %u (raise it with ulimit -n or "
		         "LimitNOFILE=)", (unsigned long long)rl.rlim_cur,
		         wanted, fit);
		return fit;
	}
	return wanted;
}

/*
 * libmicrohttpd's inactivity timeout: --timeout, plus 2 s when the
 * deadlines cover it.  The deadline sweep (which runs at least every
 * second) then closes an idle or slow connection first, counting it out
 * of the limit as it shuts it down (server_count_out); when
 * libmicrohttpd closes one itself, its client is told at once, but in
 * thread-per-connection mode the close is counted only later, once the
 * daemon thread has joined the connection's thread, and a client that
 * connects again at once could be refused meanwhile (check_slow's
 * test_deadline_reconnect saw 14 to 119 of 300).  libmicrohttpd's
 * timeout stays for descriptors beyond the deadlines' table, and for
 * clients that stop reading their answer.
 */
static unsigned
mhd_timeout(const struct config *cfg)
{
	return cfg->timeout > 0 ? cfg->timeout + 2 : 0;
}

/*
 * libmicrohttpd's own connection limit must never be reached: in 0.9.75,
 * new_connection_process_ returns from that check with
 * cleanup_connection_mutex still locked (fixed upstream after 0.9.75),
 * and every thread then waits on that mutex for ever, MHD_stop_daemon
 * included.  And with a thread pool it splits the limit between the
 * threads, picking a thread by descriptor number, so that a thread can be
 * full long before the daemon is.  So the limit that counts is ours
 * (srv->open, checked by the acceptor), and MHD's is set where it cannot
 * be reached: each of its connections holds a descriptor until after its
 * count goes down, so no thread can hold more than the open-file limit.
 */
static unsigned
mhd_connection_limit(unsigned threads)
{
	struct rlimit rl;
	unsigned long long n = 1ull << 20; /* Linux's default fs.nr_open */

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
		n = (unsigned long long)rl.rlim_max;
	n = (n + 64) * threads;
	return n > UINT_MAX / 2 ? UINT_MAX / 2 : (unsigned)n;
}

/*
 * The acceptor thread.  We accept connections ourselves and hand them to
 * libmicrohttpd (MHD_add_connection; the daemon has no listening socket)
 * because MHD 0.9.75's own way to stop accepting, MHD_quiesce_daemon,
 * races its epoll worker threads: both remove the listening socket from
 * the epoll set, and the loser aborts the process ("Failed to remove
 * listen FD from epoll set"), about once in 300 stops under load.  With
 * our own acceptor, stopping is: end this thread, shut the socket.
 */

/* Out of descriptors (EMFILE, ENFILE): free the spare one, accept the
 * next client with it, answer 503 and close, then take the spare back.
 * The client learns at once that it was refused, instead of waiting in
 * the backlog, and epoll stops reporting a backlog that we cannot take
 * (a busy loop).  Returns 0, or -1 with errno set: EAGAIN if the backlog
 * is empty, EMFILE if the spare is gone (taken by another thread). */
static int
accept_refuse(struct server *srv)
{
	int cfd, e;

	if (srv->spare_fd < 0)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->spare_fd < 0)
		return -1;
	close(srv->spare_fd);
	cfd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
	e = errno;
	if (cfd >= 0) {
		wire_refuse(cfd);
		__atomic_add_fetch(&srv->refused_fds, 1, __ATOMIC_RELAXED);
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	errno = e;
	return cfd >= 0 ? 0 : -1;
}

/* Hand the new client CFD (address SS of LEN bytes) to MHD: check its
 * bytes from now on (wire_attach), count it, and watch for its peer
 * half-closing; at the connection limit, or beyond the descriptors the
 * wire table covers, answer 503 and close it instead. */
static void
accept_one(struct server *srv, int cfd, struct sockaddr_storage *ss,
           socklen_t len)
{
	struct epoll_event ev;
	uint32_t gen;
	int stale;

	if (__atomic_load_n(&srv->open, __ATOMIC_RELAXED) >=
	    srv->max_connections) {
		wire_refuse(cfd);
		__atomic_add_fetch(&srv->refused_limit, 1, __ATOMIC_RELAXED);
		return;
	}
	gen = wire_attach(srv->wire, cfd, &stale);
	if (gen == 0) {
		wire_refuse(cfd);
		__atomic_add_fetch(&srv->refused_fds, 1, __ATOMIC_RELAXED);
		return;
	}
	if (!stale)
		__atomic_add_fetch(&srv->open, 1, __ATOMIC_RELAXED);
	/* One-shot: a half-close is reported once.  Failure only loses the
	 * early close of a half-closed peer (the timeout still applies). */
	ev.events = EPOLLRDHUP | EPOLLONESHOT;
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)cfd;
	if (srv->epfd >= 0)
		epoll_ctl(srv->epfd, EPOLL_CTL_ADD, cfd, &ev);
	if (MHD_add_connection(srv->daemon, cfd, (struct sockaddr *)ss, len)
	    != MHD_YES) {
		/* MHD closed CFD and will not notify its close. */
		pthread_mutex_lock(&srv->deadline_lock);
		server_count_out(srv, cfd);
		wire_detach(cfd);
		pthread_mutex_unlock(&srv->deadline_lock);
	}
}

/* Accept every connection waiting on the listening socket (accept_one).
 * Returns the errno that ended the loop: EAGAIN once the backlog is
 * empty. */
static int
accept_backlog(struct server *srv)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(srv->fd, (struct sockaddr *)&ss, &len,
		                  SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0 && (errno == EMFILE || errno == ENFILE) &&
		    accept_refuse(srv) == 0)
			continue;
		if (cfd >= 0)
			accept_one(srv, cfd, &ss, len);
		else if (errno != EINTR && errno != ECONNABORTED)
			return errno;
	}
}

/* Log what the acceptor refused or closed since it last did, at most
 * every REPORT_SECONDS: a flood must not flood the log too. */
static void
acceptor_report(struct server *srv)
{
	const unsigned long n[4] = {
		__atomic_load_n(&srv->refused_limit, __ATOMIC_RELAXED),
		__atomic_load_n(&srv->refused_fds, __ATOMIC_RELAXED),
		srv->closed_slow, srv->accept_failed};
	unsigned long d[4];
	time_t now = time(NULL);
	int i, any = 0;

	if (now - srv->logged_at < REPORT_SECONDS)
		return;
	for (i = 0; i < 4; i++) {
		d[i] = n[i] - srv->logged[i];
		srv->logged[i] = n[i];
		any |= d[i] != 0;
	}
	if (d[0] != 0)
		log_warn("refused %lu connection%s: connection limit (%u) "
		         "reached", d[0], d[0] == 1 ? "" : "s",
		         srv->max_connections);
	if (d[1] != 0)
		log_warn("refused %lu connection%s: out of file descriptors "
		         "(raise ulimit -n or LimitNOFILE=)", d[1],
		         d[1] == 1 ? "" : "s");
	if (d[2] != 0)
		log_warn("closed %lu connection%s that sent no whole request "
		         "within %llu s", d[2], d[2] == 1 ? "" : "s",
		         (unsigned long long)(srv->timeout_ms / 1000));
	if (d[3] != 0)
		log_warn("accept failed %lu time%s: %s", d[3],
		         d[3] == 1 ? "" : "s", strerror(srv->accept_errno));
	if (any)
		srv->logged_at = now;
}

/* How often the acceptor sweeps the deadlines: a quarter of --timeout,
 * between 100 ms and 1 s (so a slow client is closed within that much
 * after its deadline); 1 s without a timeout. */
static uint64_t
sweep_ms(uint64_t timeout_ms)
{
	uint64_t ms = timeout_ms / 4;

	return timeout_ms == 0 || ms > 1000 ? 1000 : ms < 100 ? 100 : ms;
}

/* The acceptor's epoll tags for the listening and stop descriptors;
 * those of client connections are generation << 32 | descriptor, the
 * generation being non-zero. */
#define TAG_LISTEN 0u
#define TAG_STOP 1u

/* A client's peer half-closed (or reset): see wire_peer_closed.  The
 * lock keeps MHD from closing the descriptor (server_connection) while
 * it is checked. */
static void
acceptor_peer_closed(struct server *srv, uint64_t tag)
{
	pthread_mutex_lock(&srv->deadline_lock);
	if (wire_peer_closed((int)(uint32_t)tag, (uint32_t)(tag >> 32)))
		server_count_out(srv, (int)(uint32_t)tag);
	pthread_mutex_unlock(&srv->deadline_lock);
}

static void *
server_accept_loop(void *arg)
{
	struct server *srv = arg;
	struct epoll_event ev[64];
	struct timespec nap = {0, 10L * 1000 * 1000};
	uint64_t period = sweep_ms(srv->timeout_ms);
	uint64_t next_sweep = clock_ms() + period;
	int e, i, listen_ready, stop = 0;

	while (!stop) {
		uint64_t now = clock_ms();
		int n;

		/* Also wakes up to log what it refused (acceptor_report). */
		if (now >= next_sweep) {
			if (srv->deadlines != NULL)
				srv->closed_slow += deadline_sweep(srv);
			next_sweep = now + period;
		}
		acceptor_report(srv);
		n = epoll_wait(srv->epfd, ev, 64, (int)(next_sweep - now));
		if (n < 0) {
			if (errno != EINTR)
				nanosleep(&nap, NULL);
			continue;
		}
		listen_ready = 0;
		for (i = 0; i < n; i++) {
			if (ev[i].data.u64 == TAG_STOP)
				stop = 1;
			else if (ev[i].data.u64 == TAG_LISTEN)
				listen_ready = 1;
			else
				acceptor_peer_closed(srv, ev[i].data.u64);
		}
		if (stop || !listen_ready)
			continue;
		e = accept_backlog(srv);
		if (e == EAGAIN || e == EWOULDBLOCK)
			continue;
		/* Out of memory, or of descriptors with the spare gone: leave
		 * the clients in the backlog and try again shortly, rather
		 * than spin. */
		srv->accept_failed++;
		srv->accept_errno = e;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

struct server *
server_start(const struct config *cfg, struct fixture *fx, struct error *err)
{
	struct epoll_event listen_ev = {EPOLLIN, {.u64 = TAG_LISTEN}};
	struct epoll_event stop_ev = {EPOLLIN, {.u64 = TAG_STOP}};
	struct MHD_OptionItem extra[3];
	struct server *srv;
	unsigned flags, threads, n = 0;
	int family = AF_INET;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		fixture_free(fx);
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	srv->fd = -1;
	srv->stop_fd = -1;
	srv->epfd = -1;
	srv->spare_fd = -1;
	srv->path = cfg->path;
	srv->last_reload = time(NULL);
	pthread_mutex_init(&srv->reload_lock, NULL);
	pthread_mutex_init(&srv->deadline_lock, NULL);
	pthread_mutex_init(&srv->mhd_log_lock, NULL);
	srv->serving = routes_build(fx, 1, cfg->path, 0);
	srv->stats = stats_new();
	if (srv->serving == NULL || srv->stats == NULL) {
		error_set(err, EXIT_OSERR, "cannot build responses: out of "
		          "memory");
		goto fail;
	}
	srv->wire = wire_new(POOL_SIZE, err);
	if (srv->wire == NULL)
		goto fail;
	if (!wire_recv_hooked()) {
		error_set(err, EXIT_OSERR, "the framing check is not in "
		          "libmicrohttpd's path: recv() is not bound to "
		          "avatar-api's own (a build or link problem)");
		goto fail;
	}
	srv->active = srv->serving;
	srv->blocking = cfg->mode != CONFIG_MODE_EPOLL;
	if (cfg->upstream != NULL) {
		srv->relay = relay_start(cfg, srv->blocking, err);
		if (srv->relay == NULL)
			goto fail;
	}

	threads = cfg->mode == CONFIG_MODE_EPOLL ? cfg->threads : 1;
	srv->max_connections = fit_connections(cfg->max_connections, threads);
	/* Descriptors are allocated lowest first, so those of connections
	 * stay below the limit plus what else is open. */
	if (cfg->timeout > 0) {
		srv->timeout_ms = (uint64_t)cfg->timeout * 1000u;
		srv->deadline_count = (size_t)srv->max_connections +
		                      FD_RESERVE(threads);
		srv->deadlines = calloc(srv->deadline_count,
		                        DEADLINE_STRIDE * sizeof(uint64_t));
		if (srv->deadlines == NULL) {
			error_set(err, EXIT_OSERR, "out of memory");
			goto fail;
		}
	}
	/* Kept for accept_refuse; it works without (failure is harmless). */
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	srv->fd = listen_open(cfg->address, cfg->port, &family, &srv->port,
	                      err);
	if (srv->fd < 0)
		goto fail;

	srv->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (srv->stop_fd < 0) {
		error_set(err, EXIT_OSERR, "eventfd: %s", strerror(errno));
		goto fail;
	}
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		error_set(err, EXIT_OSERR, "epoll_create1: %s", strerror(errno));
		goto fail;
	}
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->fd, &listen_ev) < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->stop_fd, &stop_ev) < 0) {
		error_set(err, EXIT_OSERR, "epoll_ctl: %s", strerror(errno));
		goto fail;
	}

	/* No listening socket: the acceptor thread hands connections over,
	 * which MHD_USE_ITC makes the workers pick up at once. */
	flags = MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	        SERVER_EXTRA_FLAGS;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->mode == CONFIG_MODE_EPOLL) {
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD;
		/* MHD warns about a pool of 1: pass it only when it is a pool. */
		if (threads > 1)
			extra[n++] = (struct MHD_OptionItem){
				MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
	} else {
		/* poll(), not select(): select drops sockets with fd >= 1024. */
		flags |= MHD_USE_THREAD_PER_CONNECTION |
		         MHD_USE_POLL_INTERNAL_THREAD;
		extra[n++] = (struct MHD_OptionItem){
			MHD_OPTION_THREAD_STACK_SIZE, (intptr_t)TPC_STACK_SIZE, NULL};
	}
	/* Relay mode: epoll mode suspends connections while the upstream
	 * answers (thread-per-connection mode waits in the handler). */
	if (srv->relay != NULL && !srv->blocking)
		flags |= MHD_ALLOW_SUSPEND_RESUME;
	extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, server_handle, srv,
		MHD_OPTION_EXTERNAL_LOGGER, server_log_mhd, srv,
		MHD_OPTION_UNESCAPE_CALLBACK, server_unescape, NULL,
		MHD_OPTION_CONNECTION_LIMIT, mhd_connection_limit(threads),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)mhd_timeout(cfg),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)POOL_SIZE,
		MHD_OPTION_NOTIFY_CONNECTION, server_connection, srv,
		MHD_OPTION_NOTIFY_COMPLETED, server_completed, srv,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		error_set(err, EXIT_OSERR, "cannot start the HTTP daemon (see "
		          "the libmicrohttpd message above)");
		goto fail;
	}
	if (pthread_create(&srv->acceptor, NULL, server_accept_loop, srv)
	    != 0) {
		error_set(err, EXIT_OSERR, "cannot start the acceptor thread");
		MHD_stop_daemon(srv->daemon);
		goto fail;
	}
	srv->acceptor_started = 1;
	return srv;

fail:
	if (srv->fd >= 0)
		close(srv->fd);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	wire_free(srv->wire);
	if (srv->serving == NULL)
		fixture_free(fx);
	routes_free(srv->serving);
	stats_free(srv->stats);
	free(srv->deadlines);
	relay_free(srv->relay);
	pthread_mutex_destroy(&srv->reload_lock);
	pthread_mutex_destroy(&srv->deadline_lock);
	pthread_mutex_destroy(&srv->mhd_log_lock);
	free(srv);
	return NULL;
}

size_t
server_pool_size(void)
{
	return POOL_SIZE;
}

unsigned
server_port(const struct server *srv)
{
	return srv->port;
}

unsigned
server_max_connections(const struct server *srv)
{
	return srv->max_connections;
}

size_t
server_users(struct server *srv)
{
	size_t n;

	pthread_mutex_lock(&srv->reload_lock);
	n = srv->serving->count;
	pthread_mutex_unlock(&srv->reload_lock);
	return n;
}

int
server_reload(struct server *srv, const char *path, struct error *err)
{
	struct fixture *fx;
	struct routes *r, *old;

	fx = fixture_load(path, err);
	r = fx != NULL ? routes_build(fx, 1, srv->path, 0) : NULL;
	if (fx != NULL && r == NULL)
		error_set(err, EXIT_OSERR, "%s: cannot build responses: out of "
		          "memory", path);
	pthread_mutex_lock(&srv->reload_lock);
	if (r == NULL) {
		srv->reloads_failed++;
		pthread_mutex_unlock(&srv->reload_lock);
		return -1;
	}
	old = srv->serving;
	srv->serving = r;
	server_publish(srv, r);
	/* No request uses OLD now; connections still sending one of its
	 * responses hold their own reference. */
	routes_free(old);
	srv->reloads_ok++;
	srv->last_reload = time(NULL);
	pthread_mutex_unlock(&srv->reload_lock);
	return 0;
}

unsigned
server_stop(struct server *srv, unsigned drain_ms)
{
	struct timespec nap = {0, 5L * 1000 * 1000};
	unsigned left, waited = 0;

	if (srv == NULL)
		return 0;
	/* From now on every answer tells the client to close: busy keep-alive
	 * connections end after their current request, nothing is cut. */
	pthread_mutex_lock(&srv->reload_lock);
	srv->closing = routes_build(srv->serving->fx, 0, srv->path, 1);
	if (srv->closing != NULL)
		server_publish(srv, srv->closing);
	pthread_mutex_unlock(&srv->reload_lock);
	/* Stop accepting: end the acceptor, take in the connections already
	 * waiting in the backlog (their clients may have sent a request:
	 * they get an answer with "Connection: close" rather than a reset),
	 * then shut the socket, so that new connects fail at once. */
	if (srv->acceptor_started) {
		uint64_t one = 1;

		if (write(srv->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(srv->acceptor, NULL);
	}
	accept_backlog(srv);
	shutdown(srv->fd, SHUT_RDWR);
	close(srv->fd);
	close(srv->stop_fd);
	close(srv->epfd);
	srv->epfd = -1;
	while ((left = __atomic_load_n(&srv->open, __ATOMIC_RELAXED)) > 0 &&
	       waited < drain_ms) {
		nanosleep(&nap, NULL);
		waited += 5;
	}
	/* MHD_stop_daemon must find no suspended connection: end the
	 * relays still in flight first, and give their clients a moment to
	 * get the 503. */
	if (srv->relay != NULL) {
		relay_stop(srv->relay);
		for (waited = 0; left > 0 && waited < RELAY_STOP_MS; waited += 5) {
			nanosleep(&nap, NULL);
			left = __atomic_load_n(&srv->open, __ATOMIC_RELAXED);
		}
	}
	MHD_stop_daemon(srv->daemon);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	relay_free(srv->relay);
	routes_free(srv->closing);
	routes_free(srv->serving);
	stats_free(srv->stats);
	wire_free(srv->wire);
	free(srv->deadlines);
	pthread_mutex_destroy(&srv->reload_lock);
	pthread_mutex_destroy(&srv->deadline_lock);
	pthread_mutex_destroy(&srv->mhd_log_lock);
	free(srv);
	return left;
}
