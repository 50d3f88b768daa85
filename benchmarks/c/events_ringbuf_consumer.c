/* libbpf peer for benchmarks/events.py: opens a ring buffer map by id and counts
 * records with ring_buffer__poll (mode "poll", for argv[2] seconds) or drains what
 * is there with ring_buffer__consume (mode "drain").  Prints "ready" once set up,
 * then "<records> <seconds>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static long records;

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx; (void)data; (void)size;
	records++;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int fd = bpf_map_get_fd_by_id(atoi(argv[1]));
	if (fd < 0) {
		perror("bpf_map_get_fd_by_id");
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(fd, on_record, NULL, NULL);
	if (!rb) {
		perror("ring_buffer__new");
		return 1;
	}
	double seconds = atof(argv[3]);
	printf("ready\n");
	fflush(stdout);
	double start = now(), elapsed;
	if (strcmp(argv[2], "drain") == 0) {
		ring_buffer__consume(rb);
		elapsed = now() - start;
	} else {
		while (now() - start < seconds)
			ring_buffer__poll(rb, 100);
		elapsed = now() - start;
	}
	printf("%ld %.6f\n", records, elapsed);
	ring_buffer__free(rb);
	return 0;
}
