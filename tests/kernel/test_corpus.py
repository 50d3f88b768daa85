"""The ported corpus (tests/corpus/): each program loaded and its behaviour checked.

Packet and language programs run under BPF_PROG_TEST_RUN with crafted input;
tracing programs are attached and triggered by this process's own syscalls
(filtered by its tgid, or by its children), so counts and values are exact.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
import subprocess
import time
import uuid

import pytest

import pyebpf as bpf
from pyebpf import net
from tests.corpus import (
    atomics,
    bashreadline,
    bpf_iter_task,
    bpf_loop,
    cpudist,
    execsnoop,
    exitsnoop,
    funclatency,
    global_data,
    http_filter,
    ipv6_exthdr,
    killsnoop,
    lpm_router,
    mountsnoop,
    opensnoop,
    pkt_access,
    profile,
    ringbuf_selftest,
    runqlat,
    sockex1,
    statsnoop,
    strncmp_test,
    subprogs,
    syscount,
    tailcall1,
    task_kfunc,
    tcbpf1,
    tcp_hdr_opt,
    tcpstates,
    xdp1,
    xdp2,
    xdp_adjust_tail,
    xdp_vlan,
)

ME = os.getpid()
X86_64 = os.uname().machine == "x86_64"
MAC_A = bytes([2, 0, 0, 0, 0, 1])
MAC_B = bytes([2, 0, 0, 0, 0, 2])

# ---------------------------------------------------------------- packet builders


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(proto: int, dst: bytes = MAC_B, src: bytes = MAC_A) -> bytes:
    return dst + src + struct.pack("!H", proto)


def ipv4(proto: int, payload: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2", tos: int = 0) -> bytes:
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ipv6(nexthdr: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nexthdr, 64,
                       socket.inet_pton(socket.AF_INET6, "fd00::1"),
                       socket.inet_pton(socket.AF_INET6, "fd00::2")) + payload


def udp(sport: int, dport: int, payload: bytes = b"hello") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, payload: bytes = b"", options: bytes = b"", urg: int = 0,
        src: str = "10.0.0.1", dst: str = "10.0.0.2") -> bytes:
    assert len(options) % 4 == 0
    doff = (20 + len(options)) // 4
    hdr = struct.pack("!HHIIHHHH", sport, dport, 1, 0, (doff << 12) | 0x18, 65535, 0, urg) + options
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def v4_udp(dport: int = 53, payload: bytes = b"hello") -> bytes:
    return eth(net.ETH_P_IP) + ipv4(net.IPPROTO_UDP, udp(1234, dport, payload))


def v4_tcp(dport: int = 80, payload: bytes = b"", urg: int = 0) -> bytes:
    return eth(net.ETH_P_IP) + ipv4(net.IPPROTO_TCP, tcp(1234, dport, payload, urg=urg))


def v6_tcp(dport: int = 80, urg: int = 0, options: bytes = b"") -> bytes:
    return eth(net.ETH_P_IPV6) + ipv6(net.IPPROTO_TCP, tcp(1234, dport, options=options, urg=urg))


def pad(pkt: bytes, n: int = 64) -> bytes:
    return pkt + b"\0" * max(0, n - len(pkt))


# ---------------------------------------------------------------- networking


def test_xdp1_counts_per_protocol_through_vlan_tags_and_drops() -> None:
    xdp1.xdp1.load()
    icmp = ipv4(net.IPPROTO_ICMP, b"\x08\x00\0\0\0\0\0\0")
    qinq = (MAC_B + MAC_A + struct.pack("!HHHH", net.ETH_P_8021AD, 10, net.ETH_P_8021Q, 20)
            + struct.pack("!H", net.ETH_P_IP) + icmp)
    arp = eth(net.ETH_P_ARP) + b"\0" * 28
    for pkt, times in ((v4_udp(), 3), (v6_tcp(), 2), (qinq, 1), (arp, 1)):
        for _ in range(times):
            assert xdp1.xdp1.test_run(pkt).retval == bpf.XDP_DROP
    assert xdp1.rxcnt.sum(net.IPPROTO_UDP) == 3
    assert xdp1.rxcnt.sum(net.IPPROTO_TCP) == 2
    assert xdp1.rxcnt.sum(net.IPPROTO_ICMP) == 1
    assert xdp1.rxcnt.sum(0) == 1  # not IP
    xdp1.xdp1.close()


def test_xdp2_swaps_macs_and_bounces() -> None:
    pkt = v4_udp()
    r = xdp2.xdp2.test_run(pkt)
    assert r.retval == bpf.XDP_TX
    assert r.data == MAC_A + MAC_B + pkt[12:]
    r6 = xdp2.xdp2.test_run(v6_tcp())
    assert r6.retval == bpf.XDP_TX and r6.data[:12] == MAC_A + MAC_B
    arp = eth(net.ETH_P_ARP) + b"\0" * 28
    assert xdp2.xdp2.test_run(arp).data == arp  # passed untouched
    assert xdp2.txcnt[0] == 1 and xdp2.txcnt[1] == 1
    xdp2.xdp2.close()


def test_xdp_adjust_tail_shrink_and_grow() -> None:
    shrink, grow = xdp_adjust_tail.xdp_adjust_tail_shrink, xdp_adjust_tail.xdp_adjust_tail_grow
    pkt = bytes(range(54))
    r = shrink.test_run(pkt)
    assert r.retval == bpf.XDP_TX and r.data == pkt[:34]
    assert shrink.test_run(bytes(100)).retval == bpf.XDP_DROP  # 4096 bytes cannot go
    r = grow.test_run(pkt)
    assert r.retval == bpf.XDP_TX and len(r.data) == 64 and r.data[:54] == pkt
    assert grow.test_run(bytes(74)).retval == bpf.XDP_DROP
    big = bytes(range(128))
    r = grow.test_run(big)
    assert r.retval == bpf.XDP_TX and r.data == big[:64]
    r = grow.test_run(bytes(60))  # offset 0: unchanged
    assert r.retval == bpf.XDP_TX and len(r.data) == 60
    shrink.close()
    grow.close()


def test_tcbpf1_rewrites_tos_and_port_with_valid_checksums() -> None:
    pkt = v4_tcp(80, payload=b"data!")
    r = tcbpf1.tcbpf1.test_run(pkt)
    assert r.retval == bpf.TC_ACT_OK
    out = r.data
    ip = out[14:34]
    assert ip[1] == tcbpf1.NEW_TOS
    assert csum(ip) == 0  # the IP checksum still verifies
    seg = out[34:]
    assert struct.unpack("!H", seg[2:4])[0] == tcbpf1.NEW_PORT
    pseudo = ip[12:16] + ip[16:20] + struct.pack("!BBH", 0, 6, len(seg))
    assert csum(pseudo + seg) == 0  # and so does the TCP checksum
    assert out[:14] == pkt[:14] and seg[4:16] == pkt[38:50] and seg[18:] == pkt[52:]
    udp_pkt = v4_udp()
    assert tcbpf1.tcbpf1.test_run(udp_pkt).data == udp_pkt  # not TCP: untouched
    tcbpf1.tcbpf1.close()


def test_pkt_access_v4_v6_tcp() -> None:
    prog = pkt_access.test_pkt_access
    assert prog.test_run(v4_tcp(8080, urg=123)).retval == bpf.TC_ACT_OK
    assert pkt_access.seen[0] == 4 and pkt_access.seen[1] == 8080
    assert prog.test_run(v4_tcp(8080, urg=1)).retval == bpf.TC_ACT_SHOT
    assert prog.test_run(v6_tcp(443, urg=123)).retval == bpf.TC_ACT_OK
    assert pkt_access.seen[0] == 6 and pkt_access.seen[1] == 443
    assert prog.test_run(pad(v4_udp())).retval == 0xFFFFFFFF  # TC_ACT_UNSPEC (-1)
    prog.close()


def _ext(nexthdr: int, total_len: int) -> bytes:
    return bytes([nexthdr, total_len // 8 - 1]) + b"\x01" * (total_len - 2)


def test_ipv6_extension_headers_are_walked() -> None:
    prog, flows = ipv6_exthdr.ipv6_exthdr, ipv6_exthdr.flows
    chain = _ext(60, 8) + _ext(net.IPPROTO_UDP, 16) + udp(5000, 6000)  # HBH -> DST -> UDP
    r = prog.test_run(eth(net.ETH_P_IPV6) + ipv6(0, chain))
    assert r.retval == bpf.TC_ACT_OK
    f = flows[0]
    assert (f.ip_proto, f.n_ext, f.is_frag, f.sport, f.dport) == (17, 2, 0, 5000, 6000)
    assert f.thoff == 14 + 40 + 8 + 16
    first = struct.pack("!BBHI", net.IPPROTO_TCP, 0, 0x0001, 7) + tcp(1111, 2222)  # offset 0, MF
    prog.test_run(eth(net.ETH_P_IPV6) + ipv6(44, first))
    f = flows[0]
    assert (f.ip_proto, f.is_frag, f.is_first_frag, f.sport, f.dport) == (6, 1, 1, 1111, 2222)
    later = struct.pack("!BBHI", net.IPPROTO_TCP, 0, 0x0100, 7) + b"\0" * 24  # offset 32
    prog.test_run(eth(net.ETH_P_IPV6) + ipv6(44, later))
    f = flows[0]
    assert (f.is_frag, f.is_first_frag, f.sport, f.dport) == (1, 0, 0, 0)
    cut = eth(net.ETH_P_IPV6) + ipv6(0, _ext(net.IPPROTO_UDP, 8))[:40 + 1]
    assert prog.test_run(pad(cut, 56)).retval in (bpf.TC_ACT_OK, bpf.TC_ACT_SHOT)
    prog.close()


def test_xdp_vlan_change_and_remove() -> None:
    change, remove = xdp_vlan.xdp_vlan_change, xdp_vlan.xdp_vlan_remove_outer
    inner = struct.pack("!H", net.ETH_P_IP) + ipv4(net.IPPROTO_UDP, udp(1, 2))
    tagged = MAC_B + MAC_A + struct.pack("!HH", net.ETH_P_8021Q, (5 << 13) | 4011) + inner
    r = change.test_run(tagged)
    assert r.retval == bpf.XDP_PASS
    assert struct.unpack("!H", r.data[14:16])[0] == (5 << 13) | 4012  # PCP kept, VID changed
    other = MAC_B + MAC_A + struct.pack("!HH", net.ETH_P_8021Q, 100) + inner
    assert change.test_run(other).data == other
    r = remove.test_run(tagged)
    assert r.retval == bpf.XDP_PASS and r.data == MAC_B + MAC_A + inner
    untagged = v4_udp()
    assert remove.test_run(untagged).data == untagged
    change.close()
    remove.close()


def test_sockex1_sums_bytes_per_protocol() -> None:
    prog = sockex1.sockex1
    lens = {}
    for proto, pkt in ((17, v4_udp(payload=b"x" * 30)), (6, v4_tcp()), (17, v4_udp(payload=b"y"))):
        r = prog.test_run(pkt)
        assert r.retval == len(pkt) - 14  # kept whole (skb->len without the MAC header)
        lens[proto] = lens.get(proto, 0) + r.retval
    assert sockex1.my_map[17] == lens[17] and sockex1.my_map[6] == lens[6]
    assert sockex1.pkts[17] == 2 and sockex1.pkts[6] == 1 and sockex1.pkts[1] == 0
    prog.close()


def test_http_filter_keeps_only_http() -> None:
    prog = http_filter.http_filter
    for payload, keep in ((b"GET / HTTP/1.1\r\n", True), (b"HTTP/1.1 200 OK\r\n", True),
                          (b"POST /x HTTP/1.1", True), (b"DELETE /y HTTP/1.1", True),
                          (b"SSH-2.0-OpenSSH", False), (b"GE", False)):
        pkt = v4_tcp(80, payload=payload)
        want = len(pkt) - 14 if keep else 0
        assert prog.test_run(pkt).retval == want, payload
    assert prog.test_run(v4_udp(80, b"GET / HTTP/1.1")).retval == 0
    prog.close()


def test_tailcall1_jump_table() -> None:
    t = tailcall1
    with bpf.load(t.entry, t.classifier_0, t.classifier_1, t.classifier_2):
        pkt = bytes(64)
        assert t.entry.test_run(pkt).retval == 3  # empty table: falls through
        t.jmp_table[0] = t.classifier_0
        t.jmp_table[1] = t.classifier_1
        t.jmp_table[2] = t.classifier_2
        assert t.entry.test_run(pkt).retval == 10
        t.start[0] = 1
        assert t.entry.test_run(pkt).retval == 11
        del t.jmp_table[1]
        assert t.entry.test_run(pkt).retval == 12  # slot 1 empty: the loop tries slot 2
        t.start[0] = 3
        assert t.entry.test_run(pkt).retval == 3
        assert [t.entered[i] for i in range(3)] == [1, 1, 1]
    for p in (t.entry, t.classifier_0, t.classifier_1, t.classifier_2):
        p.close()


def test_lpm_router_longest_prefix_wins() -> None:
    m = lpm_router
    m.lpm_router.load()
    key = m.V4Key
    m.routes[key(prefixlen=8, addr=bytes([10, 0, 0, 0]))] = m.Route(action=m.ACTION_FORWARD, ifindex=1)
    m.routes[key(prefixlen=16, addr=bytes([10, 1, 0, 0]))] = m.Route(action=m.ACTION_BLACKHOLE, ifindex=2)
    m.routes[key(prefixlen=24, addr=bytes([10, 1, 2, 0]))] = m.Route(action=m.ACTION_FORWARD, ifindex=3)
    cases = (("10.1.2.3", bpf.XDP_PASS), ("10.1.9.9", bpf.XDP_DROP), ("10.200.0.1", bpf.XDP_PASS),
             ("192.168.0.1", bpf.XDP_PASS), ("10.1.2.200", bpf.XDP_PASS))
    for dst, verdict in cases:
        pkt = eth(net.ETH_P_IP) + ipv4(net.IPPROTO_UDP, udp(1, 2), dst=dst)
        assert m.lpm_router.test_run(pkt).retval == verdict, dst
    assert dict(m.hits.items()) == {3: 2, 2: 1, 1: 1, 0: 1}
    m.lpm_router.close()


def test_tcp_header_options_are_parsed() -> None:
    prog, res = tcp_hdr_opt.tcp_hdr_opt, tcp_hdr_opt.result
    opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x01\x01"
            + struct.pack("!BBHI", 254, 8, 0xEB9F, 0x12345678) + b"\x00\x00")
    assert prog.test_run(v6_tcp(options=opts)).retval == bpf.XDP_PASS
    assert [res[i] for i in range(3)] == [0x12345678, 1460, 2]
    res[0] = 0
    wrong_magic = struct.pack("!BBHI", 254, 8, 0x1111, 5) + b"\x01\x01\x01\x00"
    prog.test_run(v6_tcp(options=wrong_magic))
    assert res[0] == 0 and res[2] == 1
    prog.test_run(v6_tcp())  # no options at all: nothing recorded
    assert res[2] == 1
    prog.close()


# ---------------------------------------------------------------- language features


def test_bpf_loop_runs_and_stops_early() -> None:
    m = bpf_loop
    r = m.bpf_loop_prog.test_run(bytes(64))
    assert r.retval == 0
    assert m.nr_loops_returned.value == 10 and m.output.value == sum(range(10))
    m.nr_loops.value = 1000
    m.stop_index.value = 4
    m.bpf_loop_prog.test_run(bytes(64))
    assert m.nr_loops_returned.value == 5 and m.output.value == sum(range(5))
    m.bpf_loop_prog.close()


def test_subprograms_compute_like_python() -> None:
    def sub1(x): return (x * 2) & 0xFFFFFFFF
    def sub2(y): return (y + 1) & 0xFFFFFFFF
    def sub3(z): return (sub1(z) + sub2(z) * 3) & 0xFFFFFFFF
    def sub4(a, b): return (sub3(a) * b + sub1(b)) & 0xFFFFFFFFFFFFFFFF
    def sub5(v): return (sub2(v) + sub3(v + 1)) & 0xFFFFFFFF

    m = subprogs
    with bpf.load(m.prog1, m.prog2):
        r = m.prog1.test_run(bytes(64))
        n = 50  # skb->len of a 64-byte packet under socket-filter test_run
        assert [m.res[i] for i in range(4)] == [sub1(n), sub3(n), sub4(n, 7), sub5(n)]
        assert r.retval == 0
        assert m.prog2.test_run(bytes(64)).retval == sub3(n) + sub1(1)
    m.prog1.close()
    m.prog2.close()


def test_global_data_sections() -> None:
    m = global_data
    m.load_static_data.load(constants={"num5": 0xCD})
    m.load_static_data.test_run(v4_udp())
    got = [m.result_number[i] for i in range(7)]
    assert got == [0, 42, 0xFFFF0000FFFF0000, 0xE, 0xBEEF, 0xCD, 1234]
    assert m.runs.value == 1
    m.num1.value = 7
    m.num0.value = 99
    m.load_static_data.test_run(v4_udp())
    assert m.result_number[1] == 7 and m.result_number[0] == 99 and m.runs.value == 2
    m.load_static_data.close()


def test_atomics_on_globals() -> None:
    m = atomics
    m.atomics_prog.test_run(bytes(64))
    assert (m.add64_value.value, m.add64_result.value) == (3, 1)
    assert (m.add32_value.value, m.add32_result.value) == (3, 1)
    assert (m.sub64_value.value, m.sub64_result.value) == (-1, 1)
    assert (m.and64_value.value, m.and64_result.value) == (0x010 << 32, 0x110 << 32)
    assert (m.or32_value.value, m.or32_result.value) == (0x111, 0x110)
    assert (m.xor64_value.value, m.xor64_result.value) == (0x101 << 32, 0x110 << 32)
    assert m.cmpxchg64_result_fail.value == 1 and m.cmpxchg64_result_succeed.value == 1
    assert m.cmpxchg64_value.value == 2
    assert (m.xchg32_value.value, m.xchg32_result.value) == (2, 1)
    m.atomics_prog.close()


def test_task_from_pid_kfunc() -> None:
    m = task_kfunc
    m.test_task_from_pid.load(constants={"TARGET": ME})
    m.test_task_from_pid.test_run(bytes(64))
    assert m.err.value == 0
    assert m.out[0] == ME and m.out[1] == os.getppid()
    m.test_task_from_pid.close()


def test_strncmp_and_char_array_compare() -> None:
    m = strncmp_test
    m.do_strncmp.load()
    for s, want in ((b"EEEEE", [0, 1, 1]), (b"EEEEF", [1, 0, 1]), (b"A", [2, 0, 0]),
                    (b"EEEEEE", [1, 0, 1])):
        m.strings[0] = m.Str(s=s)
        m.do_strncmp.test_run(bytes(64))
        assert [m.cmp_ret[i] for i in range(3)] == want, s
    m.do_strncmp.close()


# ---------------------------------------------------------------- tracing (real triggers)


def collect(ring, want: int, timeout: float = 3.0, until=None) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got.extend(ring.poll(timeout=0.1))
        if len(got) >= want and (until is None or until(got)):
            break
    return got


@contextlib.contextmanager
def attached(*progs, constants: dict | None = None):
    for p in progs:
        try:
            p.load(constants=constants)
        except bpf.BPFError as e:  # a program of the pair that reads no constant
            if "not a bpf.Const" not in str(e):
                raise
            p.load()
    try:
        with contextlib.ExitStack() as stack:
            for p in progs:
                stack.enter_context(p.attach())
            yield
    finally:
        for p in progs:
            p.close()


def test_opensnoop_reports_flags_result_and_name() -> None:
    m = opensnoop
    missing = f"/tmp/pyebpf-corpus-{uuid.uuid4().hex[:12]}"
    with attached(m.tracepoint__syscalls__sys_enter_openat, m.tracepoint__syscalls__sys_exit_openat,
                  constants={"TARG_TGID": ME}):
        with contextlib.suppress(FileNotFoundError):
            os.open(missing, os.O_RDONLY)
        fd = os.open(missing + "w", os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        os.unlink(missing + "w")
        got = collect(m.events, 2, until=lambda g: sum(e.fname.startswith(missing) for e in g) >= 2)
    mine = [e for e in got if e.fname.startswith(missing)]
    assert [(e.fname, e.ret) for e in mine] == [(missing, -errno.ENOENT), (missing + "w", fd)]
    assert mine[1].flags & (os.O_WRONLY | os.O_CREAT) == os.O_WRONLY | os.O_CREAT
    assert all(e.pid == ME and e.uid == os.getuid() for e in got)


def test_execsnoop_sees_a_childs_exec() -> None:
    m = execsnoop
    with attached(m.tracepoint__syscalls__sys_enter_execve, m.tracepoint__syscalls__sys_exit_execve,
                  constants={"PARENT": ME}):
        child = subprocess.run(["/bin/true", "corpus-arg"], check=True)
        with pytest.raises(FileNotFoundError):
            subprocess.run(["/no/such/corpus-binary", "x"])
        got = collect(m.events, 2)
    assert child.returncode == 0
    ok = [e for e in got if e.filename == "/bin/true"]
    assert len(ok) == 1
    assert (ok[0].arg1, ok[0].retval, ok[0].comm, ok[0].ppid) == ("corpus-arg", 0, "true", ME)
    bad = [e for e in got if e.filename == "/no/such/corpus-binary"]
    assert len(bad) == 1 and bad[0].retval == -errno.ENOENT and bad[0].arg1 == "x"


def test_exitsnoop_reports_exit_codes_and_signals() -> None:
    m = exitsnoop
    with attached(m.sched_process_exit, constants={"PARENT": ME}):
        a = subprocess.Popen(["sh", "-c", "exit 7"])
        a.wait()
        b = subprocess.Popen(["sleep", "10"])
        b.kill()
        b.wait()
        got = collect(m.events, 2)
    by_pid = {e.pid: e for e in got}
    assert (by_pid[a.pid].exit_code, by_pid[a.pid].sig) == (7, 0)
    assert by_pid[b.pid].sig == 9 and by_pid[b.pid].comm == "sleep"
    assert by_pid[a.pid].exit_time > by_pid[a.pid].start_time


def test_killsnoop_reports_target_signal_and_result() -> None:
    m = killsnoop
    child = subprocess.Popen(["sleep", "10"])
    try:
        with attached(m.kill_entry, m.kill_exit, constants={"TARG_TGID": ME}):
            os.kill(child.pid, 0)
            with pytest.raises(ProcessLookupError):
                os.kill(0x3FFFFF, 0)
            os.kill(child.pid, 15)
            got = collect(m.events, 3)
    finally:
        child.kill()
        child.wait()
    assert [(e.tpid, e.sig, e.ret) for e in got] == [
        (child.pid, 0, 0), (0x3FFFFF, 0, -errno.ESRCH), (child.pid, 15, 0)]
    assert all(e.pid == ME for e in got)


@pytest.mark.skipif(not X86_64, reason="x86_64 syscall numbers")
def test_syscount_counts_calls_and_errors_exactly() -> None:
    m = syscount
    with attached(m.sys_enter, m.sys_exit, constants={"FILTER_PID": ME}):
        for _ in range(7):
            os.getppid()
        for _ in range(4):
            with contextlib.suppress(OSError):
                os.dup(999_999)  # Python duplicates with fcntl(F_DUPFD_CLOEXEC): EBADF
    getppid, dup = m.data[110], m.data[72]
    assert (getppid.count, getppid.errors) == (7, 0)
    assert (dup.count, dup.errors) == (4, 4)
    assert getppid.total_ns > 0


def test_statsnoop_reports_path_and_result() -> None:
    m = statsnoop
    missing = f"/tmp/pyebpf-corpus-{uuid.uuid4().hex[:12]}"
    progs = (m.handle_newfstatat_entry, m.handle_newfstatat_return, m.handle_statx_entry,
             m.handle_statx_return)
    with attached(*progs, constants={"TARG_TGID": ME}):
        with contextlib.suppress(FileNotFoundError):
            os.stat(missing)
        os.stat("/proc/self")
        got = collect(m.events, 2, until=lambda g: any(e.pathname == "/proc/self" for e in g))
    mine = [(e.pathname, e.ret) for e in got if e.pathname in (missing, "/proc/self")]
    assert mine == [(missing, -errno.ENOENT), ("/proc/self", 0)]


def test_mountsnoop_reports_a_failed_mount() -> None:
    m = mountsnoop
    libc = ctypes.CDLL(None, use_errno=True)
    with attached(m.mount_entry, m.mount_exit, constants={"TARG_TGID": ME}):
        rc = libc.mount(b"corpus-src", b"/tmp", b"pyebpf_nofs", ctypes.c_ulong(1), None)
        got = collect(m.events, 1)
    assert rc == -1 and ctypes.get_errno() == errno.ENODEV
    assert len(got) == 1
    e = got[0]
    assert (e.src, e.dest, e.fs, e.flags, e.ret) == ("corpus-src", "/tmp", "pyebpf_nofs", 1, -errno.ENODEV)
    assert e.pid == ME and e.tid == ME


def test_bashreadline_like_uretprobe_reads_returned_string() -> None:
    m = bashreadline
    value = f"corpus-{uuid.uuid4().hex[:8]}"
    os.environ["PYEBPF_CORPUS_VAR"] = value
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    m.printret.load()
    try:
        with m.printret.attach(pid=ME):
            assert libc.getenv(b"PYEBPF_CORPUS_VAR") == value.encode()
            libc.getenv(b"PYEBPF_CORPUS_NO_SUCH_VAR")  # NULL: skipped
            got = collect(m.events, 1)
    finally:
        del os.environ["PYEBPF_CORPUS_VAR"]
        m.printret.close()
    assert value in [e.str for e in got]
    assert all(e.pid == ME for e in got)


def test_funclatency_log2_histogram_of_sleeps() -> None:
    m = funclatency
    with attached(m.entry, m.exit, constants={"TARG_TGID": ME}):
        usleep = ctypes.CDLL(None).usleep  # glibc: clock_nanosleep (Python 3.10's sleep uses select)
        for _ in range(5):
            usleep(1500)  # 1500 us: slot 10 (1024..2047 us) unless the VM is slow
    hist = [m.hist[i] for i in range(m.MAX_SLOTS)]
    assert sum(hist) == 5
    assert sum(hist[:10]) == 0  # a sleep never returns early
    assert hist[10] >= 1


def test_runqlat_wakeup_to_run_latency() -> None:
    m = runqlat
    with attached(m.sched_wakeup, m.sched_switch, constants={"TARG_TGID": ME}):
        for _ in range(10):
            time.sleep(0.002)
    hist = [m.hist[i] for i in range(m.MAX_SLOTS)]
    assert m.counts[0] >= 10  # every sleep ends with a wakeup of this thread
    assert m.counts[1] >= 8  # most are matched by a switch-in while attached
    assert sum(hist) == m.counts[1]
    assert sum(hist[20:]) == 0  # no wakeup waited a second for a CPU


def test_cpudist_on_cpu_slices() -> None:
    m = cpudist
    with attached(m.sched_switch, constants={"TARG_TGID": ME}):
        for _ in range(10):
            time.sleep(0.002)
    assert m.switches[0] >= 10  # each sleep switches this thread out
    assert m.switches[1] >= 5  # slices whose start was seen after attach
    assert sum(m.oncpu[i] for i in range(m.MAX_SLOTS)) == m.switches[1]


def test_tcpstates_follows_a_local_connection() -> None:
    m = tcpstates
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    with attached(m.handle_set_state, constants={"PORT": port}):
        srv.listen()
        cli = socket.create_connection(("127.0.0.1", port))
        conn, _ = srv.accept()
        cport = cli.getsockname()[1]
        cli.close()
        conn.close()
        srv.close()
        got = collect(m.events, 6, until=lambda g: sum(e.newstate == 7 for e in g) >= 3)
    # the source port is not chosen yet at CLOSE -> SYN_SENT (sport 0)
    client = [(e.oldstate, e.newstate) for e in got if e.dport == port and e.sport in (0, cport)]
    assert client[:2] == [(7, 2), (2, 1)]  # CLOSE -> SYN_SENT -> ESTABLISHED
    assert client[-1][1] == 7
    listener = [(e.oldstate, e.newstate) for e in got if e.sport == port and e.dport == 0]
    assert listener == [(7, 10), (10, 7)]  # LISTEN, then closed
    first = next(e for e in got if e.dport == port)
    assert first.pid == ME and bytes(first.daddr) == socket.inet_aton("127.0.0.1")


def test_ringbuf_submit_discard_and_output() -> None:
    m = ringbuf_selftest
    m.test_ringbuf.load(constants={"PID": ME})
    m.inputs[0] = 42
    m.inputs[1] = 3
    with m.test_ringbuf.attach():
        for _ in range(6):
            os.getpgid(0)
        got = collect(m.ringbuf, 6)
    m.test_ringbuf.close()
    assert [(e.seq, e.value) for e in got] == [
        (0, 0xDEAD), (1, 42), (2, 42), (3, 0xDEAD), (4, 42), (5, 42)]
    assert all(e.pid == ME for e in got)
    assert (m.total.value, m.discarded.value, m.copied.value) == (6, 2, 2)


def test_iter_task_counts_this_process_threads() -> None:
    m = bpf_iter_task
    m.dump_task.load(constants={"TGID": ME})
    with m.dump_task.attach() as link:
        threads = len(os.listdir("/proc/self/task"))
        link.read()
    m.dump_task.close()
    assert m.counts[1] == threads
    assert m.counts[2] == 1
    assert m.counts[0] > threads


def test_profile_samples_this_process_with_user_stacks() -> None:
    m = profile
    with attached(m.do_perf_event, constants={"TARG_TGID": ME}):
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            pass
    items = list(m.counts.items())
    assert sum(n for _, n in items) >= 20  # ~300 at 1 kHz
    assert all(k.pid == ME for k, _ in items)
    assert any(k.user_stack_id >= 0 for k, _ in items)
