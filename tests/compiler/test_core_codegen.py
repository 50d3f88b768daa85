"""Kernel-struct member accesses compile to CO-RE relocations (see pyebpf.compiler.core).

Each member read, store and probe-read address carries a FIELD_BYTE_OFFSET
record whose access path, resolved against this kernel's BTF the way a loader
does, gives the member's offset; the code itself is what it was with fixed
offsets (the backend folds the relocated offset into the load or store).
"""

from __future__ import annotations

import re

import pyebpf as bpf
from pyebpf import btf as B
from pyebpf import u32, u64
from pyebpf.elf import read_object

seen = bpf.ArrayMap(u64, max_entries=4)


@bpf.tp_btf("inet_sock_set_state")
def nested(ctx) -> int:
    sk = ctx.sk
    icsk = bpf.kernel.inet_connection_sock(u64(sk))  # probe-read: a plain address
    seen[0] = icsk.icsk_ack.pending  # a member of an embedded (anonymous) struct
    seen[1] = sk.__sk_common.skc_num  # trusted: embedded struct_common
    seen[2] = bpf.get_current_task_btf().real_parent.tgid
    return 0


@bpf.struct_ops("tcp_congestion_ops", name="pyebpf_corecwnd")
class SetsCwnd:
    def init(sk) -> None:
        return

    def ssthresh(sk) -> u32:
        return 2

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        bpf.kernel.tcp_sock(sk).snd_cwnd = 37  # a store through a trusted pointer

    def undo_cwnd(sk) -> u32:
        return 2


def relocations(elf: bytes, kind: int = B.CORE_FIELD_BYTE_OFFSET
                ) -> dict[str, list[tuple[str, int]]]:
    """Program -> (root struct and member path, value on this kernel) per CO-RE record of
    ``kind``."""
    spec = read_object(elf)
    local = B.BTF.from_bytes(spec.btf)
    vmlinux = B.BTF.kernel()
    out: dict[str, list[tuple[str, int]]] = {}
    for prog, relos in spec.extra["core_relos"].items():
        for relo in relos:
            assert relo.kind in (B.CORE_FIELD_BYTE_OFFSET, B.CORE_FIELD_BYTE_SIZE)
            if relo.kind != kind:
                continue
            t = local.resolved(relo.type_id)
            root = t.name.split("___")[0]
            names = []
            for index in relo.access.split(":")[1:]:
                member = t.members[int(index)]
                names.append(member.name)
                t = local.resolved(member.type)
            value = B.core_relocate(local, relo, vmlinux)
            out.setdefault(prog, []).append((f"{root}.{'.'.join(names)}", value))
    return out


def test_reads_through_both_pointer_kinds_are_relocated() -> None:
    compiled = bpf.compile(nested)
    found = dict(relocations(compiled.elf)["nested"])
    vmlinux = B.BTF.kernel()
    wanted = {  # a chain of members is one record with the whole path, as clang makes
        "inet_connection_sock.icsk_ack.pending": ("inet_connection_sock", "icsk_ack.pending"),
        "sock.__sk_common.skc_num": ("sock", "__sk_common.skc_num"),
        "task_struct.real_parent": ("task_struct", "real_parent"),
        "task_struct.tgid": ("task_struct", "tgid"),
    }
    assert set(found) == set(wanted)
    for path, (struct, member) in wanted.items():
        assert found[path] == vmlinux.member_offset(struct, member), path
    # The unsigned member read through a plain address is read at its relocated width.
    sizes = relocations(compiled.elf, B.CORE_FIELD_BYTE_SIZE)["nested"]
    assert sizes == [("inet_connection_sock.icsk_ack.pending", 1)]


def test_a_store_is_relocated_and_folded_into_the_store() -> None:
    compiled = SetsCwnd.compile()
    found = relocations(compiled.elf)["cong_avoid"]
    offset = B.BTF.kernel().member_offset("tcp_sock", "snd_cwnd")
    assert found == [("tcp_sock.snd_cwnd", offset)]
    text = compiled.disassembly()
    assert re.search(rf"\*\(u32 \*\)\(r\d \+ {offset}\) = ", text)  # one store, no add
