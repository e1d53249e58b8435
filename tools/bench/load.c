/* The config load before a sync (config/sources.c: read every source,
 * parse the changed file, merge all of them), timed alone: no kernel, no
 * namespace. A directory of N CIDRs in 10,000-CIDR files, as
 * tools/bench/incremental.py lays it out; each step loads it unchanged,
 * then with one CIDR of one file changed. Prints the median CPU time of
 * each (CLOCK_PROCESS_CPUTIME_ID) as a markdown table.
 *
 *   build/tools/bench/load [--sizes 10000,100000] [--steps 50] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config/sources.h"

#define PER_FILE 10000

static double cpu_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* incremental.py's i-th CIDR: non-overlapping, non-adjacent */
static void cidr_text(unsigned i, char *buf, size_t size)
{
	unsigned long base = (1UL << 24) + (unsigned long)i * 8192;

	snprintf(buf, size, "%lu.%lu.%lu.%lu/%u", base >> 24, (base >> 16) & 255, (base >> 8) & 255,
		 base & 255, 20 + i % 9);
}

/* File k of dir, its j-th CIDR replaced by CIDR alt (none: alt 0). */
static int write_file(const char *dir, unsigned k, unsigned n, unsigned j, unsigned alt)
{
	char path[128], c[32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ip-masq-%04u", dir, k);
	if (!(f = fopen(path, "w")))
		return -errno;
	fputs("nonMasqueradeCIDRs:\n", f);
	for (unsigned i = k * PER_FILE; i < (k + 1) * PER_FILE && i < n; i++) {
		cidr_text(alt && i == j ? alt : i, c, sizeof(c));
		fprintf(f, "  - %s\n", c);
	}
	return fclose(f) == 0 ? 0 : -errno;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One load and the merged config's release, as intake_load does. */
static double load_once(struct masq_sources *s, const struct sources_settings *set)
{
	struct source_state st[SOURCE_COUNT];
	struct masq_merged m;
	struct diags d;
	double t0 = cpu_ms();

	diags_init(&d);
	if (sources_load(s, set, &m, st, &d) < 0) {
		fprintf(stderr, "load failed\n");
		exit(1);
	}
	merged_clear(&m);
	return cpu_ms() - t0;
}

static int bench(unsigned n, unsigned steps)
{
	char dir[] = "/tmp/masqd-loadbench-XXXXXX", cmd[64];
	struct sources_settings set = { .config = dir,
					.max_cidrs_per_file = PER_FILE,
					.dir_resync_ns = 60000000000LL };
	struct masq_sources *s = sources_new();
	double *same = calloc(steps, sizeof(double)), *one = calloc(steps, sizeof(double));
	unsigned files = (n + PER_FILE - 1) / PER_FILE;
	int r = s && same && one && mkdtemp(dir) ? 0 : -ENOMEM;

	for (unsigned k = 0; r == 0 && k < files; k++)
		r = write_file(dir, k, n, 0, 0);
	if (r == 0)
		load_once(s, &set); /* the start: everything parsed */
	for (unsigned i = 0; r == 0 && i < steps; i++) {
		unsigned j = (i * 7919u) % n; /* the CIDR changed, in file j / PER_FILE */
		same[i] = load_once(s, &set);
		r = write_file(dir, j / PER_FILE, n, j, n + i);
		one[i] = r == 0 ? load_once(s, &set) : 0;
	}
	if (r == 0) {
		qsort(same, steps, sizeof(double), cmp_double);
		qsort(one, steps, sizeof(double), cmp_double);
		printf("| %u | %.2f | %.2f |\n", n, same[steps / 2], one[steps / 2]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	sources_free(s);
	free(same);
	free(one);
	return r;
}

int main(int argc, char **argv)
{
	const char *sizes = "10000,100000";
	unsigned steps = 50;
	char *list, *save = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--sizes") == 0)
			sizes = argv[i + 1];
		else if (strcmp(argv[i], "--steps") == 0)
			steps = (unsigned)strtoul(argv[i + 1], NULL, 10);
	}
	if (steps == 0 || steps > 100000 || !(list = strdup(sizes))) {
		fprintf(stderr, "usage: load [--sizes N,N] [--steps 1-100000]\n");
		return 2;
	}
	printf("### config load before a sync, median CPU of %u steps (ms)\n\n", steps);
	printf("| N | nothing changed | one CIDR changed |\n|---:|---:|---:|\n");
	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long n = strtoul(t, NULL, 10);
		if (n == 0 || n > 1000000 || bench((unsigned)n, steps) < 0) {
			fprintf(stderr, "bad size or failed run: %s\n", t);
			free(list);
			return 1;
		}
	}
	free(list);
	return 0;
}
