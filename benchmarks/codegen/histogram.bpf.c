#include "common.h"

/* log2 histogram of packet lengths (branch-free shifts and compares). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;
	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

SEC("tc")
int histogram(struct __sk_buff *skb)
{
	__u32 k = log2_u32(skb->len);
	__u64 *v = bpf_map_lookup_elem(&hist, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return TC_ACT_OK;
}
