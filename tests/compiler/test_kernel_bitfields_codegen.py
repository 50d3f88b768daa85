"""Reads of kernel-struct bitfields compile as clang's do: one load of the smallest aligned
storage unit holding the bits, at its offset in this kernel's BTF, then shift and mask."""

from __future__ import annotations

import re

import pyebpf as bpf
from pyebpf import u32

flags = bpf.ArrayMap(u32, max_entries=2)


@bpf.struct_ops("tcp_congestion_ops", name="pyebpf_bitread")
class ReadsBitfields:
    def init(sk) -> None:
        icsk = bpf.kernel.inet_connection_sock(sk)
        flags[0] = icsk.icsk_ca_setsockopt  # __u8 :1, bit 6 of its byte
        flags[1] = bpf.kernel.tcp_sock(sk).nonagle  # u8 :4, bit 0

    def ssthresh(sk) -> u32:
        return 2

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        return

    def undo_cwnd(sk) -> u32:
        return 2


def test_one_load_of_the_storage_unit_then_shift_and_mask() -> None:
    text = ReadsBitfields.compile().disassembly()
    setsockopt = bpf.kernel.inet_connection_sock.field("icsk_ca_setsockopt")
    nonagle = bpf.kernel.tcp_sock.field("nonagle")
    assert (setsockopt.bit_size, setsockopt.bit_shift, setsockopt.unit.size) == (1, 6, 1)
    assert (nonagle.bit_size, nonagle.bit_shift, nonagle.unit.size) == (4, 0, 1)
    loads = re.findall(r"(r\d) = \*\(u8 \*\)\(r\d \+ (\d+)\)", text)
    assert {int(off) for _, off in loads} >= {setsockopt.offset, nonagle.offset}
    assert re.search(r"[rw]\d >>= 6", text) and re.search(r"[rw]\d &= 1\b", text)
    assert re.search(r"[rw]\d &= 15\b", text)
    assert not re.search(r"\*\(u(16|32|64) \*\)\(r\d \+ " + str(nonagle.offset) + r"\)", text)
