"""Reads of kernel-struct bitfields compile as clang's BPF_CORE_READ_BITFIELD: the storage
unit's offset and size and the two shifts are CO-RE relocations (field info kinds), whose
compile-time values are this kernel's: one u8 load at the unit's offset, then
``<< lshift >> rshift``."""

from __future__ import annotations

import re

import pyebpf as bpf
from pyebpf import btf as B
from pyebpf import u32
from pyebpf.elf import read_object

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


def test_storage_and_shifts_are_relocations_valued_for_this_kernel() -> None:
    compiled = ReadsBitfields.compile()
    setsockopt = bpf.kernel.inet_connection_sock.field("icsk_ca_setsockopt")
    nonagle = bpf.kernel.tcp_sock.field("nonagle")
    assert (setsockopt.bit_size, setsockopt.bit_shift, setsockopt.unit.size) == (1, 6, 1)
    assert (nonagle.bit_size, nonagle.bit_shift, nonagle.unit.size) == (4, 0, 1)
    spec = read_object(compiled.elf)
    local, vmlinux = B.BTF.from_bytes(spec.btf), B.BTF.kernel()
    found: dict[tuple[str, int], set[int]] = {}
    for relo in spec.extra["core_relos"]["init"]:
        member = local.resolved(relo.type_id).members[int(relo.access.split(":")[-1])].name
        found.setdefault((member, relo.kind), set()).add(B.core_relocate(local, relo, vmlinux))
    for kf in (setsockopt, nonagle):
        assert found[(kf.name, B.CORE_FIELD_BYTE_OFFSET)] == {kf.offset}
        assert found[(kf.name, B.CORE_FIELD_BYTE_SIZE)] == {1}
        assert found[(kf.name, B.CORE_FIELD_LSHIFT_U64)] == {64 - kf.bit_shift - kf.bit_size}
        assert found[(kf.name, B.CORE_FIELD_RSHIFT_U64)] == {64 - kf.bit_size}
    text = compiled.disassembly()
    loads = re.findall(r"(r\d) = \*\(u8 \*\)\(r\d \+ (\d+)\)", text)
    assert {int(off) for _, off in loads} >= {setsockopt.offset, nonagle.offset}
    assert re.search(r"[rw]\d <<= 57", text) and re.search(r"[rw]\d >>= 63", text)
    assert re.search(r"[rw]\d <<= 60", text) and re.search(r"[rw]\d >>= 60", text)
