#include "common.h"

/* Ones'-complement sum of the first 64 payload bytes after eth+IPv4+UDP, folded. */
struct payload {
	__u16 w[32];
};

SEC("tc")
int checksum(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct payload *p = data + ETH_HLEN + 20 + 8;
	if ((void *)(p + 1) > data_end)
		return TC_ACT_OK;
	__u32 sum = 0;
	for (int i = 0; i < 32; i++)
		sum += p->w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	skb->mark = ~sum & 0xffff;
	return TC_ACT_OK;
}
