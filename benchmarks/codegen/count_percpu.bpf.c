#include "common.h"

/* Bytes per IP protocol in a per-CPU hash map: update in place, or insert. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_pcpu SEC(".maps");

SEC("tc")
int count_percpu(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	__u32 key = ip->protocol;
	__u64 *p = bpf_map_lookup_elem(&proto_pcpu, &key);
	if (p) {
		*p += skb->len;
	} else {
		__u64 len = skb->len;
		bpf_map_update_elem(&proto_pcpu, &key, &len, BPF_ANY);
	}
	return TC_ACT_OK;
}
