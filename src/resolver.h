/* resolver.h -- the upstream host's addresses, looked up again on demand. */
#ifndef AVATAR_RESOLVER_H
#define AVATAR_RESOLVER_H

#include <sys/socket.h>

#include "error.h"

/* Addresses of the upstream host tried in turn when a connect fails. */
#define RESOLVER_ADDRS_MAX 8

/* A host's addresses, in getaddrinfo's order. */
struct resolver_addrs {
	struct sockaddr_storage addr[RESOLVER_ADDRS_MAX];
	socklen_t len[RESOLVER_ADDRS_MAX];
	unsigned n;
};

struct resolver;

/* Look HOST:PORT up (getaddrinfo: blocks) into OUT, at most
 * RESOLVER_ADDRS_MAX addresses; OUT->n is set only on success.  Returns
 * the number of addresses (0: none usable), or -1 with *RC set to
 * getaddrinfo's error (for gai_strerror).  Any thread. */
int resolver_lookup(const char *host, const char *port,
                    struct resolver_addrs *out, int *rc);

/* Whether HOST is an IPv4 or IPv6 address rather than a name (an address
 * needs no resolver). */
int resolver_is_address(const char *host);

/* Start a thread that looks HOST:PORT up again each time resolver_ask
 * is called, out of the asker's way; FIRST is what the host resolved to
 * at start-up.  A failed lookup is logged and keeps the old addresses.
 * Returns the resolver, or NULL with ERR set (EXIT_OSERR). */
struct resolver *resolver_start(const char *host, const char *port,
                                const struct resolver_addrs *first,
                                struct error *err);

/* Ask for a new lookup; returns at once (one lock, one signal).  Any
 * thread. */
void resolver_ask(struct resolver *res);

/* If a lookup found other addresses since the last call, copy them to
 * OUT and return 1; else return 0 at the cost of one atomic load.  Call
 * from one thread (the relay thread). */
int resolver_take(struct resolver *res, struct resolver_addrs *out);

/* Stop the thread, wait for it (a lookup under way runs to its end) and
 * free RES.  RES may be NULL. */
void resolver_stop(struct resolver *res);

#endif
