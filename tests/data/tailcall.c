// Two programs in one section, a prog_array and a map of maps filled with .values,
// and a bpf_loop callback.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

int tail_target(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jump SEC(".maps") = {
	.values = { [1] = (void *)&tail_target },
};

SEC("tc")
int tail_target(struct __sk_buff *skb)
{
	return 7;
}

static int step(__u32 i, void *data)
{
	*(__u64 *)data += i;
	return 0;
}

SEC("tc")
int entry(struct __sk_buff *skb)
{
	__u64 sum = 0;
	__u32 key = 0;
	void *m = bpf_map_lookup_elem(&outer, &key);
	if (m)
		bpf_map_lookup_elem(m, &key);
	bpf_loop(4, step, &sum, 0);
	bpf_tail_call(skb, &jump, 1);
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
