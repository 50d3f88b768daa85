#include "common.h"

/* Socket filter: skb_load_bytes for the protocol and ports; keep UDP to 4242 only. */
SEC("socket")
int sockfilter(struct __sk_buff *skb)
{
	__u8 proto;
	__u16 ports[2];
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1) != 0 || proto != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + 20, ports, 4) != 0)
		return 0;
	if (bpf_ntohs(ports[1]) != 4242)
		return 0;
	return -1;
}
