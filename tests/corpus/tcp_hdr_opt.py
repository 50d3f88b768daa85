"""Ported from tools/testing/selftests/bpf/progs/test_parse_tcp_hdr_opt.c: walk TCP options.

The original XDP program loops over the TCP options (EOL ends, NOP is one byte,
others are kind/len/value), looking for the experimental option kind 0xFD with
magic 0xEB9F, and stores its server id; XDP_PASS either way.  Adapted: the loop is
a bounded ``for`` over at most 40 option bytes with a variable offset read through
``ctx.header``; it also records the MSS option (kind 2) and how many options it saw.
"""

import pyebpf as bpf
from pyebpf import u8, u16, u32, u64
from pyebpf.net import ETH_HLEN, ETH_P_IPV6, IPPROTO_TCP, EthHdr, IPv6Hdr, TcpHdr

TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_EXP = 254
TCP_OPT_MAGIC = 0xEB9F
MAX_OPTS_BYTES = 40


class OptKindLen(bpf.Struct):
    kind: u8
    len: u8


class ExpOpt(bpf.Struct):
    kind: u8
    len: u8
    magic: u16
    server_id: u32


class MssOpt(bpf.Struct):
    kind: u8
    len: u8
    mss: u16


result = bpf.ArrayMap(u64, max_entries=4)  # [0] server id, [1] mss, [2] options seen


@bpf.xdp
def tcp_hdr_opt(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(ETH_P_IPV6):
        return bpf.XDP_PASS
    ip6 = ctx.header(IPv6Hdr, ETH_HLEN)
    if ip6 is None or ip6.nexthdr != IPPROTO_TCP:
        return bpf.XDP_PASS
    tcp_off: u32 = ETH_HLEN + 40
    tcp = ctx.header(TcpHdr, tcp_off)
    if tcp is None:
        return bpf.XDP_PASS
    doff = u32(bpf.ntohs(tcp.doff_flags) >> 12) * 4
    if doff <= 20:
        return bpf.XDP_PASS
    end = tcp_off + doff
    off = tcp_off + 20
    seen: u64 = 0
    for _ in range(MAX_OPTS_BYTES):
        if off >= end:
            break
        opt = ctx.header(OptKindLen, off)
        if opt is None:
            # only the kind byte may be left (EOL/NOP at the very end)
            break
        if opt.kind == TCPOPT_EOL:
            break
        if opt.kind == TCPOPT_NOP:
            off += 1
            continue
        if opt.len < 2:
            break
        seen += 1
        if opt.kind == TCPOPT_EXP and opt.len == 8:
            exp = ctx.header(ExpOpt, off)
            if exp is not None and exp.magic == bpf.htons(TCP_OPT_MAGIC):
                result[0] = bpf.ntohl(exp.server_id)
        elif opt.kind == TCPOPT_MSS and opt.len == 4:
            mss = ctx.header(MssOpt, off)
            if mss is not None:
                result[1] = bpf.ntohs(mss.mss)
        off += opt.len
    result[2] = seen
    return bpf.XDP_PASS
