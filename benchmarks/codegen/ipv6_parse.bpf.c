#include "common.h"

/* eth -> IPv6 -> optional hop-by-hop header -> UDP; count by the last byte of daddr. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} v6_dst SEC(".maps");

struct opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

SEC("tc")
int ipv6_parse(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return TC_ACT_OK;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	if ((void *)(ip6 + 1) > data_end)
		return TC_ACT_OK;
	__u32 off = ETH_HLEN + sizeof(*ip6);
	__u8 nexthdr = ip6->nexthdr;
	if (nexthdr == IPPROTO_HOPOPTS) {
		struct opt_hdr *o = data + off;
		if ((void *)(o + 1) > data_end)
			return TC_ACT_SHOT;
		nexthdr = o->nexthdr;
		off += (o->hdrlen + 1) * 8;
	}
	if (nexthdr != IPPROTO_UDP)
		return TC_ACT_OK;
	struct udphdr *udp = data + off;
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_SHOT;
	__u32 k = ip6->daddr.s6_addr[15];
	__u64 *v = bpf_map_lookup_elem(&v6_dst, &k);
	if (v)
		*v += bpf_ntohs(udp->len);
	return TC_ACT_OK;
}
