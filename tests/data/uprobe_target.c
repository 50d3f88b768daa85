/* Target of the uprobe tests (tests/kernel/test_hooks_uprobes.py), built with gcc by the test.
 *
 * usage: uprobe_target N   waits for one byte on stdin (so the test can attach
 * to this very process first), then calls add_one(0..N-1), twice(0..N-1) and
 * malloc(12345) N times, and prints the sum of add_one's results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) int add_one(int x) {
    __asm__ volatile("" ::: "memory");
    return x + 1;
}

__attribute__((noinline)) long twice(long x) {
    __asm__ volatile("" ::: "memory");
    return 2 * x;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5;
    char go;
    if (read(0, &go, 1) != 1)
        return 1;
    long sum = 0;
    for (int i = 0; i < n; i++) {
        sum += add_one(i);
        sum += twice(i) * 0;
        void *volatile p = malloc(12345);
        free(p);
    }
    printf("%ld\n", sum);
    return 0;
}
