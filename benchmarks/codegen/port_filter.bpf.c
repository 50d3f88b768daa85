#include "common.h"

struct ports {
	__u16 source;
	__u16 dest;
};

/* XDP: drop TCP/UDP to a few blocked ports and a port range. */
static __always_inline int blocked(__u16 port)
{
	return port == 22 || port == 23 || port == 25 || port == 3389 ||
	       (port >= 6000 && port < 6100);
}

SEC("xdp")
int port_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	/* TCP and UDP both start with the source and destination ports */
	struct ports *l4 = data + ETH_HLEN + ip->ihl * 4;
	if ((void *)(l4 + 1) > data_end)
		return XDP_DROP;
	__u16 dport = bpf_ntohs(l4->dest);
	return blocked(dport) ? XDP_DROP : XDP_PASS;
}
