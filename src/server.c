/* server.c -- the HTTP service: libmicrohttpd daemon, routes, responses. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"
#include "server.h"

/*
 * Per-connection memory pool.  MHD 0.9.75 allocates it when a connection
 * opens and clears it with memset after every request, so its size is a
 * per-request cost (the default is 32 KiB).  Measured with wrk -c100, one
 * epoll thread pinned, medians of 3 rounds: 8 KiB cost 0.70x the server
 * CPU per request of 32 KiB (16 KiB: 0.73x) and 1.6 MB less RSS, and it
 * still answers a request carrying a 7 KB header; 8 KB of headers get 431.
 */
#ifndef POOL_SIZE
#define POOL_SIZE ((size_t)8 * 1024)
#endif

/* Stack of each connection thread in thread-per-connection mode: the
 * handler is tiny, and 10,000 threads with the default 8 MiB stack would
 * reserve 80 GB of address space. */
#define TPC_STACK_SIZE ((size_t)256 * 1024)

/* Listen backlog; the kernel caps it at net.core.somaxconn. */
#define LISTEN_BACKLOG 4096

/* File descriptors kept for things other than connections: stdio, the
 * listening socket, each worker's epoll and wake-up descriptors, ... */
#define FD_RESERVE(threads) (32u + 4u * (threads))

static const char engine[] = "C/libmicrohttpd";
static const char body_not_found[] = "{\"error\":\"not found\"}";
static const char body_user_not_found[] = "{\"error\":\"user not found\"}";
static const char body_method[] = "{\"error\":\"method not allowed\"}";

/* Every response the server sends, built once and shared by all threads. */
struct responses {
	struct MHD_Response *list;
	struct MHD_Response **users; /* parallel to fixture->users */
	size_t count;
	struct MHD_Response *not_found;
	struct MHD_Response *user_not_found;
	struct MHD_Response *method_not_allowed;
};

struct server {
	struct MHD_Daemon *daemon;
	const struct fixture *fx;
	const char *path;                 /* the list route */
	char prefix[CONFIG_PATH_MAX + 2]; /* PATH "/": records live below */
	size_t prefix_len;
	struct responses *active;         /* read atomically per request */
	struct responses *serving;
	struct responses *closing;        /* "Connection: close", at stop */
	unsigned port;
	unsigned max_connections;
	int fd;
};

static void
responses_free(struct responses *r)
{
	size_t i;

	if (r == NULL)
		return;
	if (r->list != NULL)
		MHD_destroy_response(r->list);
	for (i = 0; r->users != NULL && i < r->count; i++)
		if (r->users[i] != NULL)
			MHD_destroy_response(r->users[i]);
	free(r->users);
	if (r->not_found != NULL)
		MHD_destroy_response(r->not_found);
	if (r->user_not_found != NULL)
		MHD_destroy_response(r->user_not_found);
	if (r->method_not_allowed != NULL)
		MHD_destroy_response(r->method_not_allowed);
	free(r);
}

/* A persistent JSON response over BODY, which must outlive it.  LOCATION
 * and ALLOW may be NULL. */
static struct MHD_Response *
response_new(const char *body, size_t len, const char *location,
             const char *allow, int closing)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)body,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            "application/json") != MHD_YES ||
	    MHD_add_response_header(resp, "Engine", engine) != MHD_YES ||
	    (location != NULL &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
	                             location) != MHD_YES) ||
	    (allow != NULL &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
	                             allow) != MHD_YES) ||
	    (closing &&
	     MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
	                             "close") != MHD_YES)) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Write PREFIX then ID percent-encoded (RFC 3986 unreserved characters
 * and sub-delims kept) into OUT.  Returns 0, or -1 if it does not fit. */
static int
location_format(char *out, size_t size, const char *prefix, const char *id)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(prefix);
	const unsigned char *p;

	if (o >= size)
		return -1;
	memcpy(out, prefix, o);
	for (p = (const unsigned char *)id; *p != '\0'; p++) {
		if (o + 4 > size)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~!$&'()*+,;=:@", *p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* Build every response for SRV's fixture.  CLOSING adds "Connection:
 * close", used while stopping.  Returns NULL if out of memory. */
static struct responses *
responses_build(const struct server *srv, int closing)
{
	const struct fixture *fx = srv->fx;
	struct responses *r;
	char location[3 * 1024 + CONFIG_PATH_MAX + 2];
	size_t i;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->count = fx->count;
	r->users = calloc(fx->count ? fx->count : 1, sizeof(*r->users));
	if (r->users == NULL)
		goto fail;
	r->list = response_new(fx->body, fx->body_len, srv->path, NULL,
	                       closing);
	r->not_found = response_new(body_not_found, strlen(body_not_found),
	                            NULL, NULL, closing);
	r->user_not_found = response_new(body_user_not_found,
	                                 strlen(body_user_not_found), NULL,
	                                 NULL, closing);
	r->method_not_allowed = response_new(body_method, strlen(body_method),
	                                     NULL, "GET, HEAD", closing);
	if (r->list == NULL || r->not_found == NULL ||
	    r->user_not_found == NULL || r->method_not_allowed == NULL)
		goto fail;
	for (i = 0; i < fx->count; i++) {
		const struct fixture_user *u = &fx->users[i];

		if (location_format(location, sizeof(location), srv->prefix,
		                    u->id) < 0)
			goto fail;
		r->users[i] = response_new(u->body, u->body_len, location, NULL,
		                           closing);
		if (r->users[i] == NULL)
			goto fail;
	}
	return r;

fail:
	responses_free(r);
	return NULL;
}

/*
 * The access handler.  libmicrohttpd 0.9.75 closes the connection after a
 * response queued in the first call for a request (the request counts as
 * not fully received), so the first call only marks the request and the
 * response is queued on the second, as MHD's minimal_example.c does.  A
 * request body, if any, is read and dropped.  Per request this does a few
 * string compares and a binary search: no allocation, no JSON, no I/O.
 */
static enum MHD_Result
server_handle(void *cls, struct MHD_Connection *conn, const char *url,
              const char *method, const char *version,
              const char *upload_data, size_t *upload_data_size,
              void **req_cls)
{
	static char seen;
	const struct server *srv = cls;
	const struct responses *r;
	struct MHD_Response *resp;
	unsigned status = MHD_HTTP_OK;

	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	r = __atomic_load_n(&srv->active, __ATOMIC_ACQUIRE);
	if (strcmp(url, srv->path) == 0) {
		resp = r->list;
	} else if (strncmp(url, srv->prefix, srv->prefix_len) == 0 &&
	           url[srv->prefix_len] != '\0' &&
	           strchr(url + srv->prefix_len, '/') == NULL) {
		const struct fixture_user *u;

		u = fixture_find(srv->fx, url + srv->prefix_len);
		if (u != NULL) {
			resp = r->users[u - srv->fx->users];
		} else {
			resp = r->user_not_found;
			status = MHD_HTTP_NOT_FOUND;
		}
	} else {
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND,
		                          r->not_found);
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
		                          r->method_not_allowed);
	return MHD_queue_response(conn, status, resp);
}

/* Open, bind and listen on ADDRESS:PORT.  Returns the socket, or -1 with
 * ERR set.  *FAMILY receives the address family. */
static int
listen_open(const char *address, unsigned port, int *family, unsigned *bound,
            struct error *err)
{
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
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
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		error_set(err, EXIT_OSERR, "getsockname: %s", strerror(errno));
		goto fail;
	}
	*bound = ntohs(ss.ss_family == AF_INET6
	               ? ((struct sockaddr_in6 *)&ss)->sin6_port
	               : ((struct sockaddr_in *)&ss)->sin_port);
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

struct server *
server_start(const struct config *cfg, const struct fixture *fx,
             struct error *err)
{
	struct MHD_OptionItem extra[3];
	struct server *srv;
	const union MHD_DaemonInfo *info;
	unsigned flags, threads, n = 0;
	int family = AF_INET;

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	srv->fd = -1;
	srv->fx = fx;
	srv->path = cfg->path;
	if (strcmp(cfg->path, "/") == 0)
		snprintf(srv->prefix, sizeof(srv->prefix), "/");
	else
		snprintf(srv->prefix, sizeof(srv->prefix), "%s/", cfg->path);
	srv->prefix_len = strlen(srv->prefix);
	srv->serving = responses_build(srv, 0);
	if (srv->serving == NULL) {
		error_set(err, EXIT_OSERR, "cannot build responses: out of "
		          "memory");
		goto fail;
	}
	srv->active = srv->serving;

	threads = cfg->mode == CONFIG_MODE_EPOLL ? cfg->threads : 1;
	srv->max_connections = fit_connections(cfg->max_connections, threads);
	srv->fd = listen_open(cfg->address, cfg->port, &family, &srv->port,
	                      err);
	if (srv->fd < 0)
		goto fail;

	flags = MHD_USE_ITC | MHD_USE_ERROR_LOG;
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
	extra[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, server_handle, srv,
		MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)POOL_SIZE,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	if (srv->daemon == NULL) {
		error_set(err, EXIT_OSERR, "cannot start the HTTP daemon (see "
		          "the libmicrohttpd message above)");
		goto fail;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL && info->port != 0)
		srv->port = info->port;
	return srv;

fail:
	if (srv->fd >= 0)
		close(srv->fd);
	responses_free(srv->serving);
	free(srv);
	return NULL;
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

static unsigned
current_connections(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *info;

	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info != NULL ? info->num_connections : 0;
}

unsigned
server_stop(struct server *srv, unsigned drain_ms)
{
	struct timespec nap = {0, 5 * 1000 * 1000};
	MHD_socket lfd;
	unsigned left, waited = 0;

	if (srv == NULL)
		return 0;
	/* From now on every answer tells the client to close: busy keep-alive
	 * connections end after their current request, nothing is cut. */
	srv->closing = responses_build(srv, 1);
	if (srv->closing != NULL)
		__atomic_store_n(&srv->active, srv->closing, __ATOMIC_RELEASE);
	/* Stop accepting; shutdown() makes new connects fail at once instead
	 * of hanging in the backlog. */
	lfd = MHD_quiesce_daemon(srv->daemon);
	if (lfd != MHD_INVALID_SOCKET)
		shutdown(lfd, SHUT_RDWR);
	while ((left = current_connections(srv->daemon)) > 0 &&
	       waited < drain_ms) {
		nanosleep(&nap, NULL);
		waited += 5;
	}
	MHD_stop_daemon(srv->daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	responses_free(srv->closing);
	responses_free(srv->serving);
	free(srv);
	return left;
}
