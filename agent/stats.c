/* The sync histogram's buckets and the clock the counters use. */
#include "agent/stats.h"

#include <time.h>

const double stats_sync_bounds[STATS_SYNC_BUCKETS] = {
	0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,  0.128,
	0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
};

void stats_observe_sync(struct masqd_stats *st, double seconds)
{
	size_t b = 0;

	while (b < STATS_SYNC_BUCKETS && seconds > stats_sync_bounds[b])
		b++;
	st->sync_hist[b]++;
	st->sync_seconds_sum += seconds;
}

double stats_wall_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}
