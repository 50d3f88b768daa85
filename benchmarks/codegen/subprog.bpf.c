#include "common.h"

/* A BPF-to-BPF call (not inlined), called twice: mixes addresses and ports into the mark. */
static __noinline __u32 mix(__u32 a, __u32 b)
{
	a ^= b;
	a *= 0x85ebca6b;
	a ^= a >> 13;
	return a;
}

SEC("tc")
int subprog(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	__u32 h = mix(ip->saddr, ip->daddr);
	h = mix(h, ((__u32)udp->source << 16) | udp->dest);
	skb->mark = h;
	return TC_ACT_OK;
}
