/* notify.h -- systemd's readiness protocol (sd_notify) without libsystemd. */
#ifndef AVATAR_NOTIFY_H
#define AVATAR_NOTIFY_H

#include "error.h"

/* Send the formatted state (e.g. "READY=1\nSTATUS=...") as one datagram
 * to the socket named by $NOTIFY_SOCKET: a path, or an abstract socket
 * when it starts with '@'.  Returns 1 if it was sent, 0 if $NOTIFY_SOCKET
 * is unset or empty (nothing to do), -1 with ERR set on failure. */
int notify_send(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
