/* stats.c -- request counters by route and status, one block per thread. */
#include "stats.h"

const unsigned long stats_bucket_us[STATS_BUCKETS] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

void
stats_add(struct stats *sum, const struct stats *st)
{
	int r, s, b;

	for (r = 0; r < ROUTE_COUNT; r++) {
		for (s = 0; s < STATUS_COUNT; s++)
			sum->n[r][s] += atom_load(st->n[r][s]);
		for (s = 0; s < CLASS_COUNT; s++) {
			for (b = 0; b <= STATS_BUCKETS; b++)
				sum->hist[r][s][b] += atom_load(st->hist[r][s][b]);
			sum->sum_us[r][s] += atom_load(st->sum_us[r][s]);
		}
	}
}
