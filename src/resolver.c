/* resolver.c -- the upstream host's addresses, looked up again on demand. */
/*
 * A host name (not an address) may move: a container or pod that comes
 * back gets a new address.  When connects fail the relay thread asks for
 * a new lookup; this thread runs it (getaddrinfo blocks, the relay
 * thread must not) and leaves the result for the relay thread to take
 * at the top of its loop.
 */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "atomicvar.h"
#include "log.h"
#include "resolver.h"

struct resolver {
	char host[256], port[6];
	pthread_t thread;
	pthread_mutex_t lock;        /* everything below */
	pthread_cond_t cond;         /* wanted, stopping */
	int wanted;
	int stopping;
	int fresh;                   /* pending is new; also read atomically
	                              * without the lock by resolver_take */
	struct resolver_addrs pending;
};

int
resolver_lookup(const char *host, const char *port,
                struct resolver_addrs *out, int *rc)
{
	struct addrinfo hints, *res = NULL, *ai;
	int n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	*rc = getaddrinfo(host, port, &hints, &res);
	if (*rc != 0)
		return -1;
	for (ai = res; ai != NULL && n < RESOLVER_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(out->addr[0]))
			continue;
		memcpy(&out->addr[n], ai->ai_addr, ai->ai_addrlen);
		out->len[n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	out->n = (unsigned)n;
	return n;
}

int
resolver_is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

/* The thread: when asked, look the host up again and leave the
 * addresses in pending if they changed.  A failed lookup keeps the old
 * addresses. */
static void *
resolver_loop(void *arg)
{
	struct resolver *res = arg;
	struct resolver_addrs found;

	memset(&found, 0, sizeof(found));
	pthread_mutex_lock(&res->lock);
	for (;;) {
		int n, rc;

		while (!res->wanted && !res->stopping)
			pthread_cond_wait(&res->cond, &res->lock);
		if (res->stopping)
			break;
		res->wanted = 0;
		pthread_mutex_unlock(&res->lock);
		n = resolver_lookup(res->host, res->port, &found, &rc);
		if (n < 0)
			log_warn("relay: cannot resolve the upstream host '%s' "
			         "again: %s (keeping its old addresses)", res->host,
			         gai_strerror(rc));
		pthread_mutex_lock(&res->lock);
		if (n > 0 && (n != (int)res->pending.n ||
		              memcmp(found.addr, res->pending.addr,
		                     sizeof(found.addr)) != 0)) {
			res->pending = found;
			atom_store_release(res->fresh, 1);
			log_info("relay: the upstream host '%s' resolves to "
			         "other addresses now (%d): using them", res->host,
			         n);
		}
	}
	pthread_mutex_unlock(&res->lock);
	return NULL;
}

struct resolver *
resolver_start(const char *host, const char *port,
               const struct resolver_addrs *first, struct error *err)
{
	struct resolver *res = calloc(1, sizeof(*res));

	if (res == NULL) {
		error_set(err, EXIT_OSERR, "relay: out of memory");
		return NULL;
	}
	snprintf(res->host, sizeof(res->host), "%s", host);
	snprintf(res->port, sizeof(res->port), "%s", port);
	res->pending = *first;
	pthread_mutex_init(&res->lock, NULL);
	pthread_cond_init(&res->cond, NULL);
	if (pthread_create(&res->thread, NULL, resolver_loop, res) != 0) {
		error_set(err, EXIT_OSERR, "relay: cannot start its resolver "
		          "thread");
		pthread_cond_destroy(&res->cond);
		pthread_mutex_destroy(&res->lock);
		free(res);
		return NULL;
	}
	return res;
}

void
resolver_ask(struct resolver *res)
{
	pthread_mutex_lock(&res->lock);
	res->wanted = 1;
	pthread_cond_signal(&res->cond);
	pthread_mutex_unlock(&res->lock);
}

int
resolver_take(struct resolver *res, struct resolver_addrs *out)
{
	if (!atom_load_acquire(res->fresh))
		return 0;
	pthread_mutex_lock(&res->lock);
	*out = res->pending;
	atom_store(res->fresh, 0);
	pthread_mutex_unlock(&res->lock);
	return 1;
}

void
resolver_stop(struct resolver *res)
{
	if (res == NULL)
		return;
	pthread_mutex_lock(&res->lock);
	res->stopping = 1;
	pthread_cond_signal(&res->cond);
	pthread_mutex_unlock(&res->lock);
	pthread_join(res->thread, NULL);
	pthread_cond_destroy(&res->cond);
	pthread_mutex_destroy(&res->lock);
	free(res);
}
