// Global data in .data, .bss and .rodata, read and written from Python through
// zero-copy NumPy views of the section maps (tests/kernel/test_globals_numpy.py).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct point {
	__u32 x;
	__s32 y;
	__u16 tag;
};

const volatile __u32 scale = 3;            /* .rodata */
const volatile __u64 limits[2] = {10, 20}; /* .rodata */
__u64 counter = 5;                         /* .data */
__s16 deltas[4] = {1, -2, 3, -4};          /* .data */
char label[8] = "abc";                     /* .data */
__u64 runs;                                /* .bss */
__u32 input;                               /* .bss: set from Python */
struct point last;                         /* .bss */
__u32 history[4];                          /* .bss */

SEC("xdp")
int step(struct xdp_md *ctx)
{
	__u32 i = runs & 3;

	runs++;
	counter += scale;
	history[i] = input * scale;
	last.x = input;
	last.y = -(__s32)input;
	last.tag = (__u16)(runs + limits[1]);
	deltas[i] += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
