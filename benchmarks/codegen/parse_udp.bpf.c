#include "common.h"

/* eth -> IPv4 (variable IHL) -> UDP; drop DNS/NTP, mark the rest with the source port. */
SEC("tc")
int parse_udp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	__u32 ihl = ip->ihl;
	if (ihl < 5)
		return TC_ACT_SHOT;
	struct udphdr *udp = data + ETH_HLEN + ihl * 4;
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	if (udp->dest == bpf_htons(53) || udp->dest == bpf_htons(123))
		return TC_ACT_SHOT;
	skb->mark = bpf_ntohs(udp->source);
	return TC_ACT_OK;
}
