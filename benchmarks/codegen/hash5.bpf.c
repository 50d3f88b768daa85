#include "common.h"

/* Arithmetic-heavy: a murmur3-style hash of the 5-tuple picks one of 61 buckets. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} buckets SEC(".maps");

static __always_inline __u32 rotl(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

static __always_inline __u32 round_(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = rotl(h, 13);
	return h * 5 + 0xe6546b64;
}

SEC("tc")
int hash5(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	struct udphdr *udp = data + ETH_HLEN + 20;
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	__u32 h = 42;
	h = round_(h, ip->saddr);
	h = round_(h, ip->daddr);
	h = round_(h, ((__u32)udp->source << 16) | udp->dest);
	h = round_(h, ip->protocol);
	h ^= 16;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	__u32 k = h % 61;
	__u64 *v = bpf_map_lookup_elem(&buckets, &k);
	if (v)
		*v += 1;
	return TC_ACT_OK;
}
