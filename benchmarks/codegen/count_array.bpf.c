#include "common.h"

/* Packets and bytes per IP protocol in an array map, updated in place. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_bytes SEC(".maps");

SEC("tc")
int count_array(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	__u32 key = ip->protocol;
	__u64 *p = bpf_map_lookup_elem(&proto_bytes, &key);
	if (p)
		*p += skb->len;
	return TC_ACT_OK;
}
