/* stats.c -- per-thread request counters and reader epochs, no shared writes.
 *
 * Each thread that serves requests owns a slot on its own cache lines: a
 * sequence number, odd while the thread is inside a request, and its
 * request counters.  Only the owner writes a slot; readers (a /metrics
 * scrape, a reload waiting for requests to finish) take the registry lock
 * and read every slot.  A thread's slot is released when the thread exits
 * (thread-per-connection mode), and its counts go to a shared total.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"

#define CACHE_LINE 64

struct stats_slot {
	unsigned long seq; /* odd while inside a request */
	unsigned long n[ROUTE_COUNT][STATUS_COUNT];
	struct stats_slot *next;
	struct stats *owner;
} __attribute__((aligned(CACHE_LINE)));

struct stats {
	pthread_mutex_t lock;  /* the registry and retired */
	pthread_key_t key;     /* the calling thread's slot */
	struct stats_slot *slots;
	unsigned long retired[ROUTE_COUNT][STATUS_COUNT];
};

/* Thread exit: keep the counts, drop the slot. */
static void
slot_release(void *arg)
{
	struct stats_slot *slot = arg, **p;
	struct stats *st = slot->owner;
	int r, s;

	pthread_mutex_lock(&st->lock);
	for (p = &st->slots; *p != NULL; p = &(*p)->next) {
		if (*p == slot) {
			*p = slot->next;
			break;
		}
	}
	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			st->retired[r][s] += slot->n[r][s];
	pthread_mutex_unlock(&st->lock);
	free(slot);
}

struct stats *
stats_new(void)
{
	struct stats *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		free(st);
		return NULL;
	}
	if (pthread_key_create(&st->key, slot_release) != 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return NULL;
	}
	return st;
}

void
stats_free(struct stats *st)
{
	struct stats_slot *slot, *next;

	if (st == NULL)
		return;
	pthread_key_delete(st->key);
	for (slot = st->slots; slot != NULL; slot = next) {
		next = slot->next;
		free(slot);
	}
	pthread_mutex_destroy(&st->lock);
	free(st);
}

struct stats_slot *
stats_enter(struct stats *st)
{
	struct stats_slot *slot = pthread_getspecific(st->key);

	if (slot == NULL) {
		if (posix_memalign((void **)&slot, CACHE_LINE,
		                   sizeof(*slot)) != 0 ||
		    pthread_setspecific(st->key, slot) != 0) {
			free(slot);
			pthread_mutex_lock(&st->lock); /* see stats.h */
			return NULL;
		}
		memset(slot, 0, sizeof(*slot));
		slot->owner = st;
		pthread_mutex_lock(&st->lock);
		slot->next = st->slots;
		st->slots = slot;
		pthread_mutex_unlock(&st->lock);
	}
	/* Sequentially consistent: the store must be visible before this
	 * thread reads the published pointer (stats_synchronize relies on
	 * it), so it cannot be an ordinary store. */
	__atomic_store_n(&slot->seq, slot->seq + 1, __ATOMIC_SEQ_CST);
	return slot;
}

void
stats_count(struct stats *st, struct stats_slot *slot, enum route route,
            enum route_status status)
{
	if (slot == NULL) {
		st->retired[route][status]++; /* we hold the lock */
		return;
	}
	__atomic_store_n(&slot->n[route][status], slot->n[route][status] + 1,
	                 __ATOMIC_RELAXED);
}

void
stats_leave(struct stats *st, struct stats_slot *slot)
{
	if (slot == NULL) {
		pthread_mutex_unlock(&st->lock);
		return;
	}
	__atomic_store_n(&slot->seq, slot->seq + 1, __ATOMIC_RELEASE);
}

void
stats_synchronize(struct stats *st)
{
	struct timespec nap = {0, 20L * 1000};
	struct stats_slot *slot;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(&st->lock);
	for (slot = st->slots; slot != NULL; slot = slot->next) {
		unsigned long seq = __atomic_load_n(&slot->seq, __ATOMIC_SEQ_CST);

		if (seq % 2 == 0)
			continue;
		/* Inside a request: a handler call is microseconds long. */
		while (__atomic_load_n(&slot->seq, __ATOMIC_ACQUIRE) == seq)
			nanosleep(&nap, NULL);
	}
	pthread_mutex_unlock(&st->lock);
}

void
stats_sum(struct stats *st, unsigned long out[ROUTE_COUNT][STATUS_COUNT])
{
	struct stats_slot *slot;
	int r, s;

	pthread_mutex_lock(&st->lock);
	memcpy(out, st->retired, sizeof(st->retired));
	for (slot = st->slots; slot != NULL; slot = slot->next)
		for (r = 0; r < ROUTE_COUNT; r++)
			for (s = 0; s < STATUS_COUNT; s++)
				out[r][s] += __atomic_load_n(&slot->n[r][s],
				                             __ATOMIC_RELAXED);
	pthread_mutex_unlock(&st->lock);
}
