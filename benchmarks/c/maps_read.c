// The libbpf peer of benchmarks/maps.py: reads a u32 -> u64 hash map opened by id.
//
//   maps_read MAP_ID LOOKUPS
//
// Prints one "name value" line per measurement (milliseconds unless named _ns):
// full read with bpf_map_get_next_key + bpf_map_lookup_elem, full read with
// bpf_map_lookup_batch (chunks of 4096), the median of 5 runs each; single
// lookup latency (mean over LOOKUPS lookups of existing keys); bulk update of
// every entry read with bpf_map_update_batch.
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHUNK 4096
#define RUNS 5

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v) {
    qsort(v, RUNS, sizeof(double), cmp);
    return v[RUNS / 2];
}

static uint32_t *keys;
static uint64_t *values;

static long next_key_loop(int fd) {
    uint32_t key, next;
    uint64_t value;
    long n = 0;
    int err = bpf_map_get_next_key(fd, NULL, &next);
    while (!err) {
        key = next;
        if (!bpf_map_lookup_elem(fd, &key, &value)) {
            keys[n] = key;
            values[n++] = value;
        }
        err = bpf_map_get_next_key(fd, &key, &next);
    }
    return n;
}

static long batch_read(int fd) {
    uint32_t token = 0;
    long n = 0;
    void *in = NULL;
    for (;;) {
        uint32_t count = CHUNK;
        int err = bpf_map_lookup_batch(fd, in, &token, keys + n, values + n, &count, NULL);
        n += count;
        if (err) {
            if (errno == ENOENT)
                return n;
            perror("bpf_map_lookup_batch");
            exit(1);
        }
        in = &token;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MAP_ID LOOKUPS\n", argv[0]);
        return 2;
    }
    int fd = bpf_map_get_fd_by_id(atoi(argv[1]));
    long lookups = atol(argv[2]);
    if (fd < 0) {
        perror("bpf_map_get_fd_by_id");
        return 1;
    }
    keys = calloc(1 << 20, sizeof(*keys));
    values = calloc(1 << 20, sizeof(*values));
    double t[RUNS];
    long n = 0;

    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ms();
        n = next_key_loop(fd);
        t[r] = now_ms() - t0;
    }
    printf("entries %ld\nnext_key_loop %.3f\n", n, median(t));

    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ms();
        n = batch_read(fd);
        t[r] = now_ms() - t0;
    }
    printf("batch_read %.3f\n", median(t));

    uint64_t value;
    double t0 = now_ms();
    for (long i = 0; i < lookups; i++)
        bpf_map_lookup_elem(fd, &keys[i % n], &value);
    printf("lookup_ns %.1f\n", (now_ms() - t0) * 1e6 / lookups);

    for (int r = 0; r < RUNS; r++) {
        uint32_t count = n;
        t0 = now_ms();
        if (bpf_map_update_batch(fd, keys, values, &count, NULL)) {
            perror("bpf_map_update_batch");
            return 1;
        }
        t[r] = now_ms() - t0;
    }
    printf("update_batch %.3f\n", median(t));
    return 0;
}
