/* Target of the USDT argument tests (tests/kernel/test_hooks_usdt.py), built with gcc
 * at -O0 (arguments in stack slots: "-4@-12(%rbp)") and -O2 (in registers: "-4@%r9d",
 * and a global as "-2@g_step(%rip)") by the test.
 *
 * usage: usdt_args N   fires, for i in 0..N-1:
 *   pyebpf_args:mixed  twelve arguments of every size and sign, two of them read
 *                      through a struct pointer, two constants (42, -3);
 *   pyebpf_args:sites  from two inlined copies (two sites, different specs at -O2):
 *                      (i, 3 * i, g_step) and (i + 100, -i, g_step);
 * then prints the sum of 0..N-1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

struct rec {
    int32_t small;
    int64_t big;
};

int64_t g_total = 0;
int16_t g_step = -300;

__attribute__((noinline)) static void fire(long i, struct rec *r) {
    int8_t a = (int8_t)(-5 - i);
    uint8_t b = (uint8_t)(250 + i);
    int16_t c = (int16_t)(-1234 * (i + 1));
    uint16_t d = (uint16_t)(60000 + i);
    int32_t e = (int32_t)(-123456 * (i + 1));
    uint32_t f = (uint32_t)(4000000000u + i);
    int64_t g = -1234567890123LL * (i + 1);
    uint64_t h = 0xfedcba9876543210ULL + i;
    STAP_PROBE12(pyebpf_args, mixed, a, b, c, d, e, f, g, h, r->small, r->big, 42, -3);
}

static inline void site(long i, int32_t v) {
    STAP_PROBE3(pyebpf_args, sites, i, v, g_step);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3;
    struct rec r;
    for (long i = 0; i < n; i++) {
        r.small = (int32_t)(-7 * (i + 1));
        r.big = (int64_t)(i + 1) << 40;
        fire(i, &r);
        site(i, (int32_t)(i * 3));
        site(i + 100, (int32_t)(-i));
        g_total += i;
    }
    printf("%ld\n", (long)g_total);
    return 0;
}
