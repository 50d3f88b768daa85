// XDP program with a hash map, an array map, global data and subprogram calls.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct pair {
	__u32 a;
	__u64 b;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pair);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pairs SEC(".maps");

const volatile __u32 threshold = 7;
const volatile __u64 limit = 99;
__u64 hits = 3;
__u32 seen_a;
__u64 seen_b;

static __noinline __u32 double_it(__u32 x)
{
	return x * 2 + threshold;
}

__noinline int global_add(int x)
{
	return x + (int)limit;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 one = 1, *val;

	val = bpf_map_lookup_elem(&counts, &key);
	if (val)
		__sync_fetch_and_add(val, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
	hits++;
	seen_b = limit;
	key = 0;
	struct pair *p = bpf_map_lookup_elem(&pairs, &key);
	if (p)
		seen_a = p->a;
	return double_it(key) > 100 ? XDP_DROP : XDP_PASS + global_add(0) * 0;
}

char LICENSE[] SEC("license") = "GPL";
