/* healthcheck.c -- --healthcheck: ask a running server for GET /healthz. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "clock.h"
#include "healthcheck.h"

/* Wait for EVENTS on FD until DEADLINE (clock_ms).  Returns 0, or -1
 * on time-out. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {fd, events, 0};
	uint64_t now;

	while ((now = clock_ms()) < deadline) {
		int n = poll(&pfd, 1, (int)(deadline - now));

		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
	errno = ETIMEDOUT;
	return -1;
}

int
healthcheck_run(const struct config *cfg, struct error *err)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
	                          "Connection: close\r\n\r\n";
	uint64_t deadline = clock_ms() + HEALTHCHECK_TIMEOUT_MS;
	const char *host = cfg->address;
	struct addrinfo hints, *res = NULL;
	char service[8], buf[256] = "", where[300];
	size_t got = 0, sent = 0;
	int fd = -1, rc = -1, status = 0, soerr = 0;
	socklen_t len = sizeof(soerr);

	/* A server listening on every address answers on loopback. */
	if (strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	snprintf(where, sizeof(where), "%s%s%s:%u", strchr(host, ':') ? "["
	         : "", host, strchr(host, ':') ? "]" : "", cfg->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", cfg->port);
	if (getaddrinfo(host, service, &hints, &res) != 0) {
		error_set(err, 1, "healthcheck: cannot resolve %s", host);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0) {
		error_set(err, 1, "healthcheck: socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) < 0 &&
	    errno != EINPROGRESS) {
		error_set(err, 1, "healthcheck: %s: %s", where, strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLOUT, deadline) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 ||
	    soerr != 0) {
		error_set(err, 1, "healthcheck: %s: %s", where,
		          strerror(soerr != 0 ? soerr : errno));
		goto out;
	}
	while (sent < sizeof(req) - 1) {
		ssize_t n = send(fd, req + sent, sizeof(req) - 1 - sent,
		                 MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	if (sent < sizeof(req) - 1) {
		error_set(err, 1, "healthcheck: %s: cannot send: %s", where,
		          strerror(errno));
		goto out;
	}
	/* The status line is all we need. */
	while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
		ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) < 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	if (memchr(buf, '\n', got) == NULL) {
		error_set(err, 1, "healthcheck: %s: no answer within %d ms",
		          where, HEALTHCHECK_TIMEOUT_MS);
		goto out;
	}
	/* "HTTP/1.x 200 ..." */
	if (strncmp(buf, "HTTP/1.", 7) == 0 && isdigit((unsigned char)buf[7]) &&
	    buf[8] == ' ')
		status = (int)strtol(buf + 9, NULL, 10);
	if (status != 200) {
		buf[strcspn(buf, "\r\n")] = '\0';
		error_set(err, 1, "healthcheck: %s: unhealthy: %.100s", where,
		          buf);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return rc;
}
