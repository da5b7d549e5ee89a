/* server.c -- the HTTP service: libmicrohttpd daemon, handler, reload, stop.
 *
 * The libmicrohttpd glue only: the daemon's start and stop, the access
 * handler and its notifications, reload.  The acceptor (acceptor.c)
 * feeds the daemon its connections, deadline.c holds the request
 * deadlines, metrics.c writes /metrics, wire.c checks every byte read. */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "accesslog.h"
#include "acceptor.h"
#include "atomicvar.h"
#include "clock.h"
#include "deadline.h"
#include "epoch.h"
#include "front.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "proxy.h"
#include "relay.h"
#include "request.h"
#include "routes.h"
#include "server.h"
#include "target.h"
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

/* The admin listener (--admin-port): a few scrapers and probes at a
 * time, each given this long. */
#define ADMIN_CONNECTIONS 16u
#define ADMIN_TIMEOUT_S 10u

/* How long server_stop waits, after the drain, for the relays it ended
 * to be answered. */
#define RELAY_STOP_MS 100u

struct server {
	struct MHD_Daemon *daemon;
	struct MHD_Daemon *admin;   /* --admin-port, else NULL */
	struct wire *wire;          /* framing check, own answers */
	struct acceptor *acceptor;  /* hands MHD its connections */
	struct deadlines *deadlines;/* --timeout; NULL when 0 */
	const char *path;           /* the list route */
	struct routes_opts opts;    /* how every set is built */
	/* --cors-origin, copied: CFG's array may not outlive the server. */
	const char *origins[CONFIG_CORS_MAX];
	char origin_buf[CONFIG_CORS_MAX * (CONFIG_ORIGIN_MAX + 1)];
	struct routes *active;      /* server_routes, server_publish */
	struct routes *serving;     /* owns the fixture */
	struct routes *closing;     /* "Connection: close", at stop */
	struct epoch *epoch;        /* readers of active, their counters */
	struct relay *relay;        /* relay mode, else NULL */
	struct front *front;        /* relay mode's front end, epoll mode
	                             * without --access-log, else NULL */
	int stopping;               /* /readyz says 503 (atomic) */
	int blocking;               /* thread-per-connection mode */
	pthread_mutex_t reload_lock;/* serving, reloads_*, last_reload */
	unsigned long reloads_ok;
	unsigned long reloads_failed;
	time_t last_reload;         /* start-up, then each good reload */
	unsigned max_connections;
	unsigned admin_port;        /* the admin listener's, or 0 */
	struct log_limit mhd_log;   /* libmicrohttpd's messages */
};

/* The set requests use.  Read it between epoch_enter and epoch_leave,
 * and use it only until the leave (epoch.h). */
static inline const struct routes *
server_routes(const struct server *srv)
{
	return atom_load_acquire(srv->active);
}

/* Publish R as the set requests use, and wait until no request still
 * uses the previous one (epoch.h). */
static void
server_publish(struct server *srv, struct routes *r)
{
	atom_store_sync(srv->active, r);
	epoch_synchronize(srv->epoch);
}

/* What /readyz answers: not ready once stopping, nor in relay mode
 * while the upstream is unreachable (relay_reachable). */
static enum routes_readiness
server_readiness(const struct server *srv)
{
	if (atom_load(srv->stopping))
		return ROUTES_NOT_READY_STOPPING;
	if (srv->relay != NULL && !relay_reachable(srv->relay, clock_ms()))
		return ROUTES_NOT_READY_UPSTREAM;
	return ROUTES_READY;
}

/* CONN's descriptor, or -1. */
static int
connection_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return info != NULL ? info->connect_fd : -1;
}

/* The request on CONN is in: no deadline until its response is sent. */
static void
request_in(const struct server *srv, struct MHD_Connection *conn)
{
	if (srv->deadlines != NULL)
		deadline_clear(srv->deadlines, connection_fd(conn));
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

	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		deadline_arm(srv->deadlines, fd);
		return;
	}
	/* MHD_USE_TURBO (relay mode's front end) skips libmicrohttpd's
	 * shutdown before the close: send the FIN first here, as it would,
	 * so that a close with unread input cannot reset the connection
	 * before the client has read its answer. */
	if (srv->front != NULL)
		shutdown(fd, SHUT_WR);
	acceptor_closing(srv->acceptor, fd);
}

/* Render /metrics (metrics.c) from the counters of every module.
 * Returns a malloc'd body, or NULL if out of memory.  Runs outside
 * epoch_enter/leave. */
static char *
metrics_render(struct server *srv, size_t *len)
{
	struct relay_counters upstream;
	struct process_stats process;
	struct metrics_input in;
	char *body = NULL;
	FILE *f;

	epoch_sum(srv->epoch, &in.requests);
	pthread_mutex_lock(&srv->reload_lock);
	in.users = srv->serving->count;
	in.reloads_ok = srv->reloads_ok;
	in.reloads_failed = srv->reloads_failed;
	in.last_reload = srv->last_reload;
	pthread_mutex_unlock(&srv->reload_lock);
	wire_rejected(srv->wire, in.rejected);
	in.connections = acceptor_open(srv->acceptor);
	acceptor_refused(srv->acceptor, &in.refused_limit, &in.refused_fds);
	acceptor_failed(srv->acceptor, &in.closed_timeout, &in.accept_errors);
	in.process = process_read(&process) == 0 ? &process : NULL;
	in.relay = NULL;
	if (srv->relay != NULL) {
		relay_counters_read(srv->relay, &upstream);
		in.relay = &upstream;
	}
	in.access_log = accesslog_on;
	in.access_log_dropped = accesslog_on ? accesslog_dropped() : 0;
	in.mhd_version = MHD_get_version();
	in.jansson_version = jansson_version_str();

	f = open_memstream(&body, len);
	if (f == NULL)
		return NULL;
	metrics_write(&in, f);
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
	if (accesslog_on)
		accesslog_answer(connection_fd(conn), MHD_HTTP_OK, len);
	resp = routes_response(body, len, "text/plain; version=0.0.4; "
	                       "charset=utf-8", closing);
	free(body);
	if (resp == NULL)
		return MHD_NO;
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/*
 * Relay mode: answer a GET or HEAD of a data route from the upstream:
 * the list when ID is NULL, else the record ID, for CORS slot SLOT.  JOB
 * is NULL on the request's first pass: take a slot (none free: 503 at
 * once) and either, in epoll mode, suspend the connection and submit the
 * job (the relay thread resumes the connection when it is done, and MHD
 * calls us again with the job in *REQ_CLS, which keeps the route and the
 * slot: ID and SLOT are then unused), or, in thread-per-connection mode,
 * submit it and wait (proxy_request).  The answer is queued on the
 * second or a later handler call, never the first (see server_handle).
 */
static enum MHD_Result
relay_answer(struct server *srv, struct MHD_Connection *conn,
             struct relay_job *job, void **req_cls, const char *id,
             unsigned slot)
{
	struct proxy_answer a;
	enum proxy_step step;
	struct stats *counts;
	enum MHD_Result ret;
	uint64_t start;

	step = proxy_request(srv->relay, srv->blocking, conn, id, slot, &job,
	                     req_cls);
	if (step == PROXY_WAIT)
		return MHD_YES;
	/* *REQ_CLS is the request word, or in epoll mode the job, whose
	 * submission came right after the handler's first call. */
	start = request_is_word(*req_cls) ? request_started_us(*req_cls)
	                                  : relay_job_started_us(job);
	a.route = id != NULL ? ROUTE_USER : ROUTE_LIST;
	a.slot = slot;
	/* The slot goes to the response.  A prebuilt answer is R's: queued
	 * before the leave. */
	counts = epoch_enter(srv->epoch);
	proxy_response(server_routes(srv), step, job, &a);
	stats_count(counts, a.route, a.index);
	*req_cls = request_answered(request_begin(start), a.route, a.status);
	if (a.resp == NULL) {
		epoch_leave(srv->epoch, counts);
		return MHD_NO; /* out of memory: MHD closes the connection */
	}
	if (accesslog_on)
		accesslog_answer(connection_fd(conn), a.status, a.len);
	ret = MHD_queue_response(conn, a.status, a.resp);
	epoch_leave(srv->epoch, counts);
	if (!a.persistent)
		MHD_destroy_response(a.resp);
	return ret;
}

/* A request whose *req_cls is REQ_CLS ended: if it was answered, count
 * its duration, from the handler's first call to now, in the calling
 * thread's counters (the connection's thread: see request.h); else, in
 * relay mode, return its slot if it still holds one (the client left
 * before the answer). */
static void
request_ended(struct server *srv, void *req_cls)
{
	if (request_is_word(req_cls)) {
#ifndef SERVER_NO_COUNTERS /* only to measure what counting costs */
		if (request_status(req_cls) != 0) {
			struct stats *counts = epoch_counts(srv->epoch);

			stats_observe(counts, request_route(req_cls),
			              request_status(req_cls),
			              (unsigned long)request_duration_us(req_cls,
			                                                 clock_us()));
			epoch_counted(srv->epoch, counts);
		}
#endif
	} else if (req_cls != NULL) {
		relay_release(req_cls);
	}
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request ended.  Once its response is
 * sent, the next request's deadline clock starts (a connection that ends
 * instead is closed next), and a connection whose peer has half-closed
 * is shut down if nothing more is pending (wire_completed).  Its
 * duration is counted (request_ended). */
static void
server_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                 enum MHD_RequestTerminationCode code)
{
	struct server *srv = cls;

	if (accesslog_on)
		accesslog_completed(conn, connection_fd(conn));
	if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		int fd = connection_fd(conn);

		deadline_arm(srv->deadlines, fd);
		if (wire_completed(fd))
			acceptor_count_out(srv->acceptor, fd);
	}
	request_ended(srv, *req_cls);
	*req_cls = NULL;
}

/* The passes of a request before it can be answered: on the first
 * (*REQ_CLS NULL) start its word and wait for the next call, unless it
 * has an Expect field (see server_handle); drop the pieces of a body.
 * Returns 1 when the handler is to return MHD_YES at once. */
static int
request_pending(struct MHD_Connection *conn, void **req_cls,
                size_t *upload_data_size)
{
	if (*req_cls == NULL) {
		*req_cls = request_begin(clock_us());
		return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                   MHD_HTTP_HEADER_EXPECT) == NULL;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return 1;
	}
	return 0;
}

/* routes_match in R, with /readyz's answer as the server's state says
 * (server_readiness).  Between epoch_enter and epoch_leave. */
static void
server_match(const struct server *srv, const struct routes *r,
             const char *url, const char *method,
             const struct routes_ask *ask, struct routes_answer *a)
{
	routes_match(r, url, method, ask, a);
	if (a->route == ROUTE_READYZ && a->index == STATUS_200 &&
	    a->resp != NULL) {
		enum routes_readiness why = server_readiness(srv);

		if (why != ROUTES_READY) {
			a->resp = routes_not_ready(r, why, &a->status,
			                           &a->index, &a->len);
		}
	}
}

/* MHD_get_connection_values_n's callback: one request header field for
 * the routes_ask CLS. */
static enum MHD_Result
server_ask_field(void *cls, enum MHD_ValueKind kind, const char *key,
                 size_t key_size, const char *value, size_t value_size)
{
	(void)kind;
	(void)value_size;
	if (value != NULL)
		routes_ask_field(cls, key, key_size, value);
	return MHD_YES;
}

/* Gather what CONN's request header fields ask of the answer into ASK:
 * one pass over the fields libmicrohttpd parsed, no allocation. */
static void
server_ask(struct MHD_Connection *conn, struct routes_ask *ask)
{
	routes_ask_init(ask);
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, server_ask_field,
	                            ask);
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
	struct stats *counts;
	struct routes_answer a;
	struct routes_ask ask;
	enum MHD_Result ret;

	(void)upload_data;
	if (*req_cls != NULL && !request_is_word(*req_cls))
		/* relay mode: a resumed request */
		return relay_answer(srv, conn, *req_cls, req_cls, NULL, 0);
	if (*req_cls == NULL && accesslog_on)
		accesslog_begin(connection_fd(conn), method, url, version);
	if (request_pending(conn, req_cls, upload_data_size))
		return MHD_YES;
	if (url[0] != '/')
		url = target_origin_form(url);
	request_in(srv, conn);
	server_ask(conn, &ask);
	/* Between enter and leave the set R cannot be freed by a reload. */
	counts = epoch_enter(srv->epoch);
	r = server_routes(srv);
	server_match(srv, r, url, method, &ask, &a);
	if (a.route == ROUTE_METRICS && srv->admin != NULL)
		/* --admin-port: /metrics is the admin listener's only. */
		routes_not_found(r, &a);
	if (a.relay) {
		const char *id = a.route == ROUTE_USER ? url + r->prefix_len
		                                       : NULL;

		epoch_leave(srv->epoch, counts);
		return relay_answer(srv, conn, NULL, req_cls, id, a.slot);
	}
#ifndef SERVER_NO_COUNTERS /* only to measure what counting costs */
	stats_count(counts, a.route, a.index);
#endif
	*req_cls = request_answered(*req_cls, a.route, a.status);
	if (a.resp == NULL) {
		int closing = r->closing; /* R may be freed after the leave */

		epoch_leave(srv->epoch, counts);
		return metrics_answer(srv, conn, closing);
	}
	if (accesslog_on)
		accesslog_answer(connection_fd(conn), a.status, a.len);
	ret = MHD_queue_response(conn, a.status, a.resp);
	epoch_leave(srv->epoch, counts);
	return ret;
}

/*
 * The admin listener's handler (--admin-port): /metrics, /healthz and
 * whatever else routes_match knows beyond the API (/readyz), with the
 * main handler's answers and counters; the API's paths are 404 here.
 * No framing check (its descriptors are not wire.c's): its clients are
 * scrapers and probes.  One thread (MHD's internal poll thread).
 */
static enum MHD_Result
admin_handle(void *cls, struct MHD_Connection *conn, const char *url,
             const char *method, const char *version,
             const char *upload_data, size_t *upload_data_size,
             void **req_cls)
{
	struct server *srv = cls;
	const struct routes *r;
	struct stats *counts;
	struct routes_answer a;
	enum MHD_Result ret;

	(void)upload_data;
	(void)version;
	if (request_pending(conn, req_cls, upload_data_size))
		return MHD_YES;
	if (url[0] != '/')
		url = target_origin_form(url);
	counts = epoch_enter(srv->epoch);
	r = server_routes(srv);
	server_match(srv, r, url, method, NULL, &a);
	if (a.route == ROUTE_LIST || a.route == ROUTE_USER)
		routes_not_found(r, &a);
	stats_count(counts, a.route, a.index);
	*req_cls = request_answered(*req_cls, a.route, a.status);
	if (a.resp == NULL) {
		int closing = r->closing;

		epoch_leave(srv->epoch, counts);
		return metrics_answer(srv, conn, closing);
	}
	ret = MHD_queue_response(conn, a.status, a.resp);
	epoch_leave(srv->epoch, counts);
	return ret;
}

/* MHD_OPTION_NOTIFY_COMPLETED of the admin listener. */
static void
admin_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                enum MHD_RequestTerminationCode code)
{
	(void)conn;
	(void)code;
	request_ended(cls, *req_cls);
	*req_cls = NULL;
}

/* Start the admin listener on CFG->admin_address (default: --address)
 * and CFG->admin_port.  Returns 0, or -1 with ERR set as acceptor_new:
 * EXIT_UNAVAILABLE if the address is in use. */
static int
admin_start(struct server *srv, const struct config *cfg, struct error *err)
{
	const char *address = cfg->admin_address != NULL ? cfg->admin_address
	                                                 : cfg->address;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	                 MHD_USE_ERROR_LOG;
	unsigned port;
	int family;
	int fd = acceptor_listen(address, cfg->admin_port, &family, &port, err);

	if (fd < 0)
		return -1;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* MHD owns FD from here on: 0.9.75 closes it at MHD_stop_daemon,
	 * and when its thread cannot start (daemon.c, thread_failed), the
	 * one failure left with these options. */
	srv->admin = MHD_start_daemon(
		flags, 0, NULL, NULL, admin_handle, srv,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd_limited, &srv->mhd_log,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_UNESCAPE_CALLBACK, target_unescape, NULL,
		MHD_OPTION_CONNECTION_LIMIT, ADMIN_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, ADMIN_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, admin_completed, srv,
		MHD_OPTION_END);
	if (srv->admin == NULL) {
		error_set(err, EXIT_OSERR, "cannot start the admin listener on "
		          "%s port %u (see the libmicrohttpd message above)",
		          address, port);
		return -1;
	}
	srv->admin_port = port;
	return 0;
}

/*
 * libmicrohttpd's inactivity timeout: --timeout, plus 2 s when the
 * deadlines cover it.  The deadline sweep (which runs at least every
 * second) then closes an idle or slow connection first, counting it out
 * of the limit as it shuts it down (deadline_sweep); when
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

struct server *
server_start(const struct config *cfg, struct fixture *fx, struct error *err)
{
	struct MHD_OptionItem extra[3];
	struct server *srv;
	unsigned flags, threads, n = 0;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		fixture_free(fx);
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	srv->path = cfg->path;
	srv->last_reload = time(NULL);
	pthread_mutex_init(&srv->reload_lock, NULL);
	log_limit_init(&srv->mhd_log);
	srv->opts.path = cfg->path;
	srv->opts.gzip = cfg->compression;
	srv->opts.cache_control = cfg->cache_control;
	for (n = 0; n < cfg->cors_count; n++) {
		char *o = srv->origin_buf + (size_t)n * (CONFIG_ORIGIN_MAX + 1);

		snprintf(o, CONFIG_ORIGIN_MAX + 1, "%s", cfg->cors_origins[n]);
		srv->origins[n] = o;
	}
	n = 0;
	srv->opts.origins = srv->origins;
	srv->opts.origin_count = cfg->cors_count;
	srv->opts.relay_list = cfg->upstream != NULL;
	/* Spec 13, 5b: records too, unless a fixture was given. */
	srv->opts.relay_users = cfg->upstream != NULL && !cfg->data_given;
	srv->serving = routes_build(fx, 1, &srv->opts);
	srv->epoch = epoch_new();
	if (srv->serving == NULL || srv->epoch == NULL) {
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
		struct relay_front hooks;

		/* The front end logs no access: with --access-log every
		 * request goes through libmicrohttpd's handler. */
		if (!srv->blocking && !accesslog_on) {
			srv->front = front_new(srv->serving, err);
			if (srv->front == NULL)
				goto fail;
			front_hooks(srv->front, &hooks);
		}
		srv->relay = relay_start(cfg, srv->blocking,
		                         srv->front != NULL ? &hooks : NULL, err);
		if (srv->relay == NULL)
			goto fail;
	}

	threads = cfg->mode == CONFIG_MODE_EPOLL ? cfg->threads : 1;
	srv->max_connections = acceptor_fit_connections(cfg->max_connections,
	                                                threads);
	/* Descriptors are allocated lowest first, so those of connections
	 * stay below the limit plus what else is open. */
	if (cfg->timeout > 0) {
		srv->deadlines = deadlines_new(
			(uint64_t)cfg->timeout * 1000u,
			(size_t)srv->max_connections + ACCEPTOR_FD_RESERVE(threads),
			err);
		if (srv->deadlines == NULL)
			goto fail;
	}
	srv->acceptor = acceptor_new(cfg->address, cfg->port,
	                             srv->max_connections, srv->wire,
	                             srv->deadlines, err);
	if (srv->acceptor == NULL)
		goto fail;

	/* No listening socket: the acceptor thread hands connections over,
	 * which MHD_USE_ITC makes the workers pick up at once. */
	flags = MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_USE_ERROR_LOG |
	        SERVER_EXTRA_FLAGS;
	if (acceptor_family(srv->acceptor) == AF_INET6)
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
	/* The front end hands connections over with their first bytes read
	 * (wire_stash): libmicrohttpd 0.9.75 reads a new connection at once
	 * only with MHD_USE_TURBO (new_connection_process_ puts it in the
	 * ready list; otherwise it waits for the socket to be readable,
	 * which it may never be again).  TURBO's other effects in 0.9.75:
	 * new sockets are made non-inheritable (ours are already), and no
	 * shutdown before a close (server_connection does it). */
	if (srv->front != NULL)
		flags |= MHD_USE_TURBO;
	extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, server_handle, srv,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd_limited, &srv->mhd_log,
		MHD_OPTION_UNESCAPE_CALLBACK, target_unescape, NULL,
		MHD_OPTION_CONNECTION_LIMIT, acceptor_mhd_limit(threads),
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
	if (srv->front != NULL) {
		struct front_env env = {srv->relay, srv->acceptor, srv->deadlines,
		                        srv->epoch, &srv->active, srv->daemon};

		front_bind(srv->front, &env);
		acceptor_hand_to(srv->acceptor, front_take, srv->front);
	}
	if ((cfg->admin_port != 0 && admin_start(srv, cfg, err) < 0) ||
	    acceptor_start(srv->acceptor, srv->daemon, err) < 0) {
		if (srv->admin != NULL)
			MHD_stop_daemon(srv->admin);
		MHD_stop_daemon(srv->daemon);
		goto fail;
	}
	return srv;

fail:
	acceptor_free(srv->acceptor);
	wire_free(srv->wire);
	if (srv->serving == NULL)
		fixture_free(fx);
	routes_free(srv->serving);
	epoch_free(srv->epoch);
	deadlines_free(srv->deadlines);
	relay_free(srv->relay);
	front_free(srv->front);
	pthread_mutex_destroy(&srv->reload_lock);
	log_limit_destroy(&srv->mhd_log);
	free(srv);
	return NULL;
}

void
server_front_counts(const struct server *srv, unsigned long *answered,
                    unsigned long *handed)
{
	*answered = *handed = 0;
	if (srv->front != NULL)
		front_counts(srv->front, answered, handed);
}

size_t
server_pool_size(void)
{
	return POOL_SIZE;
}

unsigned
server_port(const struct server *srv)
{
	return acceptor_port(srv->acceptor);
}

unsigned
server_admin_port(const struct server *srv)
{
	return srv->admin_port;
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
	r = fx != NULL ? routes_build(fx, 1, &srv->opts) : NULL;
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

void
server_unready(struct server *srv)
{
	atom_store(srv->stopping, 1);
}

unsigned
server_stop(struct server *srv, unsigned drain_ms)
{
	struct timespec nap = {0, 5L * 1000 * 1000};
	unsigned left, waited = 0;

	if (srv == NULL)
		return 0;
	server_unready(srv);
	/* From now on every answer tells the client to close: busy keep-alive
	 * connections end after their current request, nothing is cut. */
	pthread_mutex_lock(&srv->reload_lock);
	srv->opts.closing = 1;
	srv->closing = routes_build(srv->serving->fx, 0, &srv->opts);
	if (srv->closing != NULL)
		server_publish(srv, srv->closing);
	pthread_mutex_unlock(&srv->reload_lock);
	/* Stop accepting: end the acceptor, take in the connections already
	 * waiting in the backlog (their clients may have sent a request:
	 * they get an answer with "Connection: close" rather than a reset),
	 * then shut the socket, so that new connects fail at once. */
	acceptor_stop(srv->acceptor);
	/* Close the idle keep-alive connections at once, and each busy one
	 * once it is idle: only requests in progress hold the stop. */
	for (;;) {
		if (waited % ACCEPTOR_QUIET_MS == 0)
			acceptor_close_idle(srv->acceptor);
		left = acceptor_open(srv->acceptor);
		if (left == 0 || waited >= drain_ms)
			break;
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
			left = acceptor_open(srv->acceptor);
		}
	}
	MHD_stop_daemon(srv->daemon);
	if (srv->admin != NULL) /* after the drain: probes see it */
		MHD_stop_daemon(srv->admin);
	acceptor_free(srv->acceptor);
	relay_free(srv->relay);
	front_free(srv->front);
	routes_free(srv->closing);
	routes_free(srv->serving);
	epoch_free(srv->epoch);
	wire_free(srv->wire);
	deadlines_free(srv->deadlines);
	pthread_mutex_destroy(&srv->reload_lock);
	log_limit_destroy(&srv->mhd_log);
	free(srv);
	return left;
}
