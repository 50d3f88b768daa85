#include "common.h"

/* Byte swaps: addresses and ports to host order, combined, stored in an array. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} host_order SEC(".maps");

SEC("tc")
int byteswap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + 20;
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	__u32 s = bpf_ntohl(ip->saddr), d = bpf_ntohl(ip->daddr);
	__u32 ports = ((__u32)bpf_ntohs(udp->source) << 16) | bpf_ntohs(udp->dest);
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&host_order, &k);
	if (!v)
		return TC_ACT_OK;
	*v = ((__u64)s << 32) | d;
	skb->mark = ports ^ bpf_ntohs(ip->tot_len);
	return TC_ACT_OK;
}
