/* The sync histogram's buckets, the clock the counters use, and the two
 * /proc readings of the process metrics. */
#include "agent/stats.h"

#include <dirent.h>
#include <stdio.h>
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

double stats_boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	double btime = 0;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	}
	if (f)
		fclose(f);
	return btime;
}

unsigned stats_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n > 2 ? n - 3 : 0; /* ".", ".." and the directory's own fd */
}
