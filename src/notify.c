/* notify.c -- systemd's readiness protocol (sd_notify) without libsystemd. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "notify.h"

int
notify_send(struct error *err, const char *fmt, ...)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	char msg[1024];
	va_list ap;
	size_t len;
	socklen_t salen;
	int fd, n, rc = -1;

	if (name == NULL || *name == '\0')
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len >= sizeof(sa.sun_path)) {
		error_set(err, EXIT_OSERR, "NOTIFY_SOCKET: unsupported address "
		          "'%.64s'", name);
		return -1;
	}
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		error_set(err, EXIT_OSERR, "NOTIFY_SOCKET: message too long");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	                    (name[0] == '/'));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, EXIT_OSERR, "NOTIFY_SOCKET: socket: %s",
		          strerror(errno));
		return -1;
	}
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	           salen) != n)
		error_set(err, EXIT_OSERR, "NOTIFY_SOCKET %s: %s", name,
		          strerror(errno));
	else
		rc = 1;
	close(fd);
	return rc;
}
