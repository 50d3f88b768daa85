"""Stores through trusted kernel-struct pointers compile to one store of the field's width
at its offset in this kernel's BTF (as clang emits for `tp->snd_cwnd = 37`)."""

from __future__ import annotations

import re

import pyebpf as bpf
from pyebpf import u32


@bpf.struct_ops("tcp_congestion_ops", name="pyebpf_stores")
class Stores:
    def init(sk) -> None:
        bpf.kernel.tcp_sock(sk).snd_cwnd = 37  # u32
        bpf.kernel.inet_connection_sock(sk).icsk_ack.pending = 3  # u8, in a nested struct
        sk.sk_pacing_rate = 1000  # unsigned long

    def ssthresh(sk) -> u32:
        tp = bpf.kernel.tcp_sock(sk)
        tp.snd_ssthresh += 2  # read, add, store back
        return 2

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        return

    def undo_cwnd(sk) -> u32:
        return 2


def _stores(text: str, width: str) -> list[tuple[int, str]]:
    return [(int(off), val) for off, val in
            re.findall(rf"\*\({width} \*\)\(r\d \+ (\d+)\) = (\w+)", text)]


def test_each_store_is_the_fields_width_at_its_btf_offset() -> None:
    text = Stores.compile(cpu="v4").disassembly()  # v4: constants stored as immediates
    tcp_sock, icsk, sock = bpf.kernel.tcp_sock, bpf.kernel.inet_connection_sock, bpf.kernel.sock
    pending = icsk.field("icsk_ack").offset + icsk.field("icsk_ack").type.field("pending").offset
    assert (tcp_sock.field("snd_cwnd").offset, "37") in _stores(text, "u32")
    assert (pending, "3") in _stores(text, "u8")
    assert (sock.field("sk_pacing_rate").offset, "1000") in _stores(text, "u64")
    ssthresh = tcp_sock.field("snd_ssthresh").offset
    assert re.search(rf"r\d = \*\(u32 \*\)\(r\d \+ {ssthresh}\)", text)
    assert ssthresh in [off for off, _ in _stores(text, "u32")]
