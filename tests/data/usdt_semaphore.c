/* Target of the USDT semaphore test (tests/kernel/test_hooks_usdt.py), built with gcc.
 *
 * pyebpf_sem:guarded is guarded by a semaphore (<sys/sdt.h> with _SDT_HAS_SEMAPHORES:
 * the note records the address of <provider>_<name>_semaphore, in section .probes).
 * For each line N read from stdin, prints "<semaphore> <fired>": the semaphore's value,
 * then how many of N probe sites ran, each only when the semaphore is non-zero
 * (firing (i, -2 * i) for i in 0..N-1).
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

unsigned short pyebpf_sem_guarded_semaphore __attribute__((unused))
    __attribute__((section(".probes")));

int main(void) {
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        long n = atol(line), fired = 0;
        unsigned short sem = *(volatile unsigned short *)&pyebpf_sem_guarded_semaphore;
        for (long i = 0; i < n; i++) {
            if (__builtin_expect(pyebpf_sem_guarded_semaphore, 0)) {
                DTRACE_PROBE2(pyebpf_sem, guarded, i, -2 * i);
                fired++;
            }
        }
        printf("%u %ld\n", sem, fired);
        fflush(stdout);
    }
    return 0;
}
