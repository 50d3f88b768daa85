/* Target of the USDT index-operand and high-byte tests (tests/kernel/test_hooks_usdt.py),
 * built with gcc -O2 by the test, as a PIE and with -fno-pie -no-pie.
 *
 * usage: usdt_index N   (N <= 8) fires, for i in 0..N-1 and j = N-1-i:
 *   pyebpf_idx:natural   (i, arr[i], iarr[j], ss[i].v[j]): gcc addresses the array
 *                        elements as index operands, "-8@(%rax,%rdi,8)" in a PIE (the base
 *                        register holds &arr) and "-8@arr(,%rdi,8)" in a position-dependent
 *                        executable (the symbol is the displacement, no base register);
 *   pyebpf_idx:explicit  operands written out with STAP_PROBE_ASM, as compilers emit them
 *                        (gcc rarely picks them for C values): the high bytes %ah %bh %ch
 *                        %dh of known registers, %al, a negative displacement with scale 8,
 *                        scale 2 and 4, and an absolute address in an index register alone;
 * then prints the sum of arr[0..N-1].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

int64_t arr[16];
int32_t iarr[16];
int16_t half[32];
struct s {
    int64_t pad;
    int32_t v[8];
} ss[8];

__attribute__((noinline)) static void natural(long i, long j) {
    STAP_PROBE4(pyebpf_idx, natural, i, arr[i], iarr[j], ss[i].v[j]);
}

__attribute__((noinline)) static void explicit_operands(long i) {
    uint64_t a = 0x0123456789ab0077ULL | (uint64_t)(0x10 + i) << 8;
    uint64_t b = 0x7654321000000011ULL | (uint64_t)(0xf0 + i) << 8;
    uint64_t c = 0xffffffffffff0022ULL | (uint64_t)(0x80 + i) << 8;
    uint64_t d = 0x33ULL | (uint64_t)(0x7f - i) << 8;
    __asm__ __volatile__(
        STAP_PROBE_ASM(pyebpf_idx, explicit,
                       1@%%ah -1@%%bh 1@%%ch -1@%%dh 1@%%al -8@-16(%4,%5,8) -2@6(%6,%5,2)
                       -8@(,%7,1) 4@(%8,%5,4))
        :
        : "a"(a), "b"(b), "c"(c), "d"(d), "r"(&arr[4]), "r"(i), "r"(half), "r"(&arr[i]),
          "r"(iarr)
        : "memory");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3, total = 0;
    if (n > 8)
        n = 8;
    for (long k = 0; k < 16; k++) {
        arr[k] = -7 * k - 1;
        iarr[k] = (int32_t)(1000 * k - 5000);
    }
    for (long k = 0; k < 32; k++)
        half[k] = (int16_t)(-1000 * k + 7);
    for (long k = 0; k < 8; k++)
        for (long m = 0; m < 8; m++)
            ss[k].v[m] = (int32_t)(100 * k + m - 50);
    for (long i = 0; i < n; i++) {
        natural(i, n - 1 - i);
        explicit_operands(i);
        total += arr[i];
    }
    printf("%ld\n", total);
    return 0;
}
