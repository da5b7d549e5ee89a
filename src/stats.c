/* stats.c -- request counters by route and status, one block per thread. */
#include "stats.h"

void
stats_add(struct stats *sum, const struct stats *st)
{
	int r, s;

	for (r = 0; r < ROUTE_COUNT; r++)
		for (s = 0; s < STATUS_COUNT; s++)
			sum->n[r][s] += atom_load(st->n[r][s]);
}
