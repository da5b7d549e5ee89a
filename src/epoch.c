/* epoch.c -- a replaced request set is freed only after every reader left it.
 *
 * Each thread that serves requests owns a reader record on its own cache
 * lines: a sequence number, odd while the thread is inside a request,
 * and the thread's request counters.  Only the owner writes a record;
 * readers of the registry (a /metrics scrape, a reload waiting for
 * requests to finish) take the registry lock and read every record.  A
 * thread's record is released when the thread exits (thread-per-
 * connection mode), and its counts go to the registry's total.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicvar.h"
#include "epoch.h"

#define CACHE_LINE 64

struct epoch_reader {
	unsigned long seq; /* odd while inside a request */
	struct stats counts;
	struct epoch_reader *next;
	struct epoch *owner;
	unsigned long seen; /* seq as epoch_synchronize found it (its own,
	                     * under the lock: once per reload) */
} __attribute__((aligned(CACHE_LINE)));

struct epoch {
	pthread_mutex_t lock;  /* readers, total, and epoch_enter's fallback */
	pthread_key_t key;     /* the calling thread's record */
	struct epoch_reader *readers;
	struct stats total;    /* threads that exited, and the fallback */
};

/* Thread exit: keep the counts, drop the record. */
static void
reader_release(void *arg)
{
	struct epoch_reader *rd = arg, **p;
	struct epoch *ep = rd->owner;

	pthread_mutex_lock(&ep->lock);
	for (p = &ep->readers; *p != NULL; p = &(*p)->next) {
		if (*p == rd) {
			*p = rd->next;
			break;
		}
	}
	stats_add(&ep->total, &rd->counts);
	pthread_mutex_unlock(&ep->lock);
	free(rd);
}

struct epoch *
epoch_new(void)
{
	struct epoch *ep = calloc(1, sizeof(*ep));

	if (ep == NULL)
		return NULL;
	if (pthread_mutex_init(&ep->lock, NULL) != 0) {
		free(ep);
		return NULL;
	}
	if (pthread_key_create(&ep->key, reader_release) != 0) {
		pthread_mutex_destroy(&ep->lock);
		free(ep);
		return NULL;
	}
	return ep;
}

void
epoch_free(struct epoch *ep)
{
	struct epoch_reader *rd, *next;

	if (ep == NULL)
		return;
	pthread_key_delete(ep->key);
	for (rd = ep->readers; rd != NULL; rd = next) {
		next = rd->next;
		free(rd);
	}
	pthread_mutex_destroy(&ep->lock);
	free(ep);
}

/* The calling thread's record, made on its first call; NULL if out of
 * memory (then EP's lock is held: see epoch.h). */
static struct epoch_reader *
reader_get(struct epoch *ep)
{
	struct epoch_reader *rd = pthread_getspecific(ep->key);

	if (rd == NULL) {
		if (posix_memalign((void **)&rd, CACHE_LINE, sizeof(*rd)) != 0 ||
		    pthread_setspecific(ep->key, rd) != 0) {
			free(rd);
			pthread_mutex_lock(&ep->lock); /* see epoch.h */
			return NULL;
		}
		memset(rd, 0, sizeof(*rd));
		rd->owner = ep;
		pthread_mutex_lock(&ep->lock);
		rd->next = ep->readers;
		ep->readers = rd;
		pthread_mutex_unlock(&ep->lock);
	}
	return rd;
}

struct stats *
epoch_enter(struct epoch *ep)
{
	struct epoch_reader *rd = reader_get(ep);

	if (rd == NULL)
		return &ep->total;
	/* Sequentially consistent: the store must be visible before this
	 * thread reads the published pointer (epoch_synchronize relies on
	 * it), so it cannot be an ordinary store. */
	atom_store_sync(rd->seq, rd->seq + 1);
	return &rd->counts;
}

void
epoch_leave(struct epoch *ep, struct stats *counts)
{
	struct epoch_reader *rd;
	void *p;

	if (counts == &ep->total) {
		pthread_mutex_unlock(&ep->lock); /* the fallback */
		return;
	}
	/* The record COUNTS is in: no second pthread_getspecific. */
	p = (char *)counts - offsetof(struct epoch_reader, counts);
	rd = p;
	atom_store_release(rd->seq, rd->seq + 1);
}

struct stats *
epoch_counts(struct epoch *ep)
{
	struct epoch_reader *rd = reader_get(ep);

	return rd != NULL ? &rd->counts : &ep->total;
}

void
epoch_counted(struct epoch *ep, const struct stats *counts)
{
	if (counts == &ep->total)
		pthread_mutex_unlock(&ep->lock); /* the fallback */
}

void
epoch_synchronize(struct epoch *ep)
{
	struct timespec nap = {0, 20L * 1000};
	struct epoch_reader *rd;

	atom_fence_sync();
	pthread_mutex_lock(&ep->lock);
	/* Every number first, then the waits: a request that enters while
	 * an earlier one is waited for is not waited for in turn. */
	for (rd = ep->readers; rd != NULL; rd = rd->next)
		rd->seen = atom_load_sync(rd->seq);
	for (rd = ep->readers; rd != NULL; rd = rd->next) {
		if (rd->seen % 2 == 0)
			continue;
		/* Inside a request: a handler call is microseconds long. */
		while (atom_load_acquire(rd->seq) == rd->seen)
			nanosleep(&nap, NULL);
	}
	pthread_mutex_unlock(&ep->lock);
}

void
epoch_sum(struct epoch *ep, struct stats *sum)
{
	struct epoch_reader *rd;

	pthread_mutex_lock(&ep->lock);
	*sum = ep->total;
	for (rd = ep->readers; rd != NULL; rd = rd->next)
		stats_add(sum, &rd->counts);
	pthread_mutex_unlock(&ep->lock);
}
