/* deadline.c -- request deadlines: a client must send a whole request
 * within --timeout of connecting or of its previous response (see
 * deadline.h). */
#include <stdlib.h>
#include <sys/socket.h>

#include "atomicvar.h"
#include "clock.h"
#include "deadline.h"
#include "wire.h"

/* One request deadline per cache line (see struct deadlines). */
#define DEADLINE_STRIDE (64 / sizeof(uint64_t))

/*
 * The slots are a cache line apart so that no two workers write the same
 * line.  The lock (the caller's, see deadline_sweep) is taken only by the
 * sweep and by libmicrohttpd's close notification, which comes before
 * libmicrohttpd closes the descriptor: so a sweep never shuts down a
 * descriptor that has been reused.  Per request this costs a clock read
 * and two stores to the connection's own cache line.
 */
struct deadlines {
	/* One per descriptor, DEADLINE_STRIDE apart;
	 * CLOCK_MONOTONIC_COARSE ms, 0 = none. */
	uint64_t *slots;
	size_t count;               /* descriptors covered */
	uint64_t timeout_ms;
};

struct deadlines *
deadlines_new(uint64_t timeout_ms, size_t fds, struct error *err)
{
	struct deadlines *d = calloc(1, sizeof(*d));

	if (d != NULL)
		d->slots = calloc(fds, DEADLINE_STRIDE * sizeof(uint64_t));
	if (d == NULL || d->slots == NULL) {
		free(d);
		error_set(err, EXIT_OSERR, "out of memory");
		return NULL;
	}
	d->count = fds;
	d->timeout_ms = timeout_ms;
	return d;
}

void
deadlines_free(struct deadlines *d)
{
	if (d == NULL)
		return;
	free(d->slots);
	free(d);
}

uint64_t
deadlines_timeout_ms(const struct deadlines *d)
{
	return d != NULL ? d->timeout_ms : 0;
}

/* The deadline slot of descriptor FD, or NULL (no deadlines, or a
 * descriptor beyond those covered: MHD's inactivity timeout still
 * applies). */
static uint64_t *
deadline_slot(const struct deadlines *d, int fd)
{
	if (d == NULL || fd < 0 || (size_t)fd >= d->count)
		return NULL;
	return &d->slots[(size_t)fd * DEADLINE_STRIDE];
}

void
deadline_arm(struct deadlines *d, int fd)
{
	uint64_t *slot = deadline_slot(d, fd);

	if (slot != NULL)
		atom_store(*slot, clock_ms() + d->timeout_ms);
}

void
deadline_clear(struct deadlines *d, int fd)
{
	uint64_t *slot = deadline_slot(d, fd);

	if (slot != NULL)
		atom_store(*slot, 0);
}

unsigned long
deadline_sweep(struct deadlines *d, unsigned *counted_out)
{
	uint64_t now = clock_ms();
	unsigned long n = 0;
	size_t fd;

	*counted_out = 0;
	if (d == NULL)
		return 0;
	for (fd = 0; fd < d->count; fd++) {
		uint64_t *slot = &d->slots[fd * DEADLINE_STRIDE];
		uint64_t t = atom_load(*slot);

		if (t != 0 && t <= now) {
			atom_store(*slot, 0);
			shutdown((int)fd, SHUT_RDWR);
			if (wire_count_out((int)fd))
				(*counted_out)++;
			n++;
		}
	}
	return n;
}
