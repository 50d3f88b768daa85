/* Event generator for benchmarks/events.py.  For each line "<seconds> <max_calls>" on
 * stdin it calls getppid() in a tight loop for that long (or that many calls; -1: no
 * limit) and prints "<calls> <elapsed seconds>".  One long-lived process, so the
 * benchmark's programs can filter on its pid. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	double seconds;
	long max_calls;

	while (scanf("%lf %ld", &seconds, &max_calls) == 2) {
		long calls = 0;
		double start = now(), end = start + seconds;
		for (;;) {
			for (int i = 0; i < 1024; i++) {
				if (max_calls >= 0 && calls >= max_calls)
					goto out;
				syscall(SYS_getppid); /* glibc may cache getppid(); the syscall is the point */
				calls++;
			}
			if (now() >= end)
				break;
		}
out:
		printf("%ld %.6f\n", calls, now() - start);
		fflush(stdout);
	}
	return 0;
}
