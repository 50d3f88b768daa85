#include "common.h"

/* Packets per IPv4 source address in a hash map (atomic add, or insert). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} by_source SEC(".maps");

SEC("tc")
int count_hash(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	__u32 key = ip->saddr;
	__u64 *p = bpf_map_lookup_elem(&by_source, &key);
	if (p) {
		__sync_fetch_and_add(p, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&by_source, &key, &one, BPF_NOEXIST);
	}
	return TC_ACT_OK;
}
