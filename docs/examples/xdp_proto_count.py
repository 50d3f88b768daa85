"""xdp_proto_count: packets and bytes per IP protocol arriving on an interface.

    sudo .venv/bin/python docs/examples/xdp_proto_count.py IFNAME [--duration S]

An XDP program sees each frame the interface receives before the kernel's
network stack does.  It parses Ethernet and IPv4/IPv6, counts the frame and
its length under the IP protocol number (or under "non-IP") in two per-CPU
hash maps, and passes it on unchanged.  Every second Python sums the per-CPU
counters and prints the running totals.  Stop with Ctrl-C or ``--duration``.
"""

import argparse
import socket
import time

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf.net import ETH_HLEN, ETH_P_IP, ETH_P_IPV6, EthHdr, IPv4Hdr, IPv6Hdr

NON_IP = 256  # the key for frames that are neither IPv4 nor IPv6 (ARP, LLDP, ...)

# Per-CPU maps: each CPU adds to its own copy, no atomics; Python sums the copies.
packets = bpf.PerCpuHashMap(u32, u64, max_entries=512)
octets = bpf.PerCpuHashMap(u32, u64, max_entries=512)


@bpf.xdp
def count_protocols(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return bpf.XDP_PASS
    proto: u32 = NON_IP
    if eth.proto == bpf.htons(ETH_P_IP):
        ip = ctx.header(IPv4Hdr, ETH_HLEN)
        if ip is not None:
            proto = ip.protocol
    elif eth.proto == bpf.htons(ETH_P_IPV6):
        ip6 = ctx.header(IPv6Hdr, ETH_HLEN)
        if ip6 is not None:
            proto = ip6.nexthdr  # the first header after IPv6's: extension headers not walked
    packets.increment(proto)
    octets.increment(proto, ctx.data_end - ctx.data)  # frame length, Ethernet header included
    return bpf.XDP_PASS


NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPv6", 132: "SCTP", NON_IP: "non-IP"}


def print_totals() -> None:
    bytes_by_proto = {p: sum(per_cpu) for p, per_cpu in octets.items()}
    print(time.strftime("%H:%M:%S"))
    print(f"{'PROTO':<8} {'PACKETS':>12} {'BYTES':>14}")
    for proto, per_cpu in sorted(packets.items()):
        name = NAMES.get(proto, str(proto))
        print(f"{name:<8} {sum(per_cpu):>12} {bytes_by_proto.get(proto, 0):>14}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ifname", help="network interface, e.g. eth0")
    parser.add_argument("--mode", choices=["native", "generic"],
                        help="XDP mode (default: native where the driver has it, else generic)")
    parser.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    args = parser.parse_args()
    try:
        socket.if_nametoindex(args.ifname)
    except OSError:
        parser.error(f"no interface named {args.ifname!r}")
    deadline = time.monotonic() + args.duration if args.duration else float("inf")

    # mode=None lets the kernel choose: the driver's hook if it has one, else generic XDP.
    with count_protocols.attach(ifname=args.ifname, mode=args.mode):
        print(f"Counting packets received on {args.ifname}... Ctrl-C to stop.\n", flush=True)
        try:
            while (left := deadline - time.monotonic()) > 0:
                time.sleep(min(left, 1.0))
                print_totals()
        except KeyboardInterrupt:
            print_totals()


if __name__ == "__main__":
    main()
