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
 * The fixture is $AVATAR_API_FIXTURE if set, else the one in the source
 * tree "make fuzz" was built from (FUZZ_FIXTURE), else data/users.json
 * next to or above the directory holding this program.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "server.h"

#define READ_TIMEOUT_MS 1000

/* libmicrohttpd 0.9.75 keeps a connection whose client shut down its
 * write side open until the idle timeout (60 s) after a keep-alive
 * answer, or after a partial request, instead of closing it.  So once the
 * server has read every byte sent (its receive queue, from sock_diag, is
 * empty) and has then written nothing for this long, the exchange is
 * over.  Without sock_diag only READ_TIMEOUT_MS ends it. */
#define QUIET_MS 5

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[65536];
	unsigned lport = 0;
	struct pollfd pfd;
	long deadline;
	size_t done = 0;
	struct linger lg = {1, 0};
	int fd;

	if (srv == NULL)
		LLVMFuzzerInitialize(NULL, NULL);
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
	deadline = now_ms() + READ_TIMEOUT_MS;
	for (;;) {
		long left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			break;
		if (left > QUIET_MS && diag_fd >= 0)
			left = QUIET_MS;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0) {
			if (now_ms() >= deadline || server_rqueue(lport) == 0)
				break; /* all read, nothing more written */
			continue;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			break; /* EOF or reset: the server closed */
		}
	}
	/* An abortive close: a connection the server still holds (see
	 * QUIET_MS) is reset and dropped at once. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	return 0;
}
