#include "common.h"

/* Per-destination flow stats in a hash map of structs, updated in place. */
struct flow {
	__u64 packets;
	__u64 bytes;
	__u32 last_len;
	__u32 max_len;
	__u8 last_ttl;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps");

SEC("tc")
int struct_update(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	__u32 key = ip->daddr;
	__u32 len = skb->len;
	struct flow *f = bpf_map_lookup_elem(&flows, &key);
	if (!f) {
		struct flow nf = {.packets = 1, .bytes = len, .last_len = len, .max_len = len,
				  .last_ttl = ip->ttl};
		bpf_map_update_elem(&flows, &key, &nf, BPF_NOEXIST);
		return TC_ACT_OK;
	}
	f->packets += 1;
	f->bytes += len;
	f->last_len = len;
	if (len > f->max_len)
		f->max_len = len;
	f->last_ttl = ip->ttl;
	return TC_ACT_OK;
}
