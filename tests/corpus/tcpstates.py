"""Ported from libbpf-tools/tcpstates.bpf.c: TCP state changes from ``sock/inet_sock_set_state``.

The original filters ``protocol == IPPROTO_TCP`` and the address family, keeps
a per-socket timestamp (keyed by ``skaddr``) to report the time spent in the old
state, and emits skaddr, ports, addresses, old/new state, delta and pid.
Adapted: a port filter (``PORT``, a ``bpf.Const``: either side's port) instead
of the sport/dport lists; IPv4 only; ring buffer output.
"""

import pyebpf as bpf
from pyebpf import char, i32, u8, u16, u32, u64

AF_INET = 2
IPPROTO_TCP = 6
TCP_CLOSE = 7
PORT = bpf.Const(u16, 0)


class Event(bpf.Struct):
    skaddr: u64
    delta_us: u64
    pid: u32
    oldstate: i32
    newstate: i32
    sport: u16
    dport: u16
    saddr: u8[4]
    daddr: u8[4]
    task: char[16]


timestamps = bpf.HashMap(u64, u64, max_entries=1024)
events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("sock/inet_sock_set_state")
def handle_set_state(ctx) -> int:
    if ctx.protocol != IPPROTO_TCP or ctx.family != AF_INET:
        return 0
    if ctx.sport != PORT and ctx.dport != PORT:
        return 0
    sk = ctx.skaddr
    ts = bpf.ktime_get_ns()
    e = events.reserve()
    if e is None:
        return 0
    e.skaddr = sk
    t0 = timestamps.lookup(sk)
    e.delta_us = 0 if t0 is None else (ts - t0[0]) // 1000
    e.pid = u32(bpf.get_current_pid_tgid() >> 32)
    e.oldstate = ctx.oldstate
    e.newstate = ctx.newstate
    e.sport = ctx.sport
    e.dport = ctx.dport
    # context arrays take constant indexes only, and range() loops are not unrolled
    e.saddr[0] = ctx.saddr[0]
    e.saddr[1] = ctx.saddr[1]
    e.saddr[2] = ctx.saddr[2]
    e.saddr[3] = ctx.saddr[3]
    e.daddr[0] = ctx.daddr[0]
    e.daddr[1] = ctx.daddr[1]
    e.daddr[2] = ctx.daddr[2]
    e.daddr[3] = ctx.daddr[3]
    bpf.get_current_comm(e.task)
    events.submit(e)
    if ctx.newstate == TCP_CLOSE:
        del timestamps[sk]
    else:
        timestamps[sk] = ts
    return 0
