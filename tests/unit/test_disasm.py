"""The BPF disassembler: hand-assembled instructions of every class -> expected text."""

from __future__ import annotations

import struct

import pytest

from pyebpf.disasm import disassemble, disassemble_object
from pyebpf.spec import LineInfo, ObjectSpec, ProgramSpec, Relocation

LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
K, X = 0x00, 0x08
MEM, MEMSX, ATOMIC, ABS, IND = 0x60, 0x80, 0xC0, 0x20, 0x40


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def one(*parts: bytes, **kw: object) -> str:
    """The text of the first instruction of ``parts`` (index stripped)."""
    return disassemble(b"".join(parts), **kw).splitlines()[0].split(": ", 1)[1]


@pytest.mark.parametrize("code,dst,src,off,imm,text", [
    (ALU64 | 0x00 | X, 1, 2, 0, 0, "r1 += r2"),
    (ALU64 | 0x10 | K, 1, 0, 0, 5, "r1 -= 5"),
    (ALU64 | 0x20 | K, 3, 0, 0, -7, "r3 *= -7"),
    (ALU64 | 0x30 | X, 1, 2, 0, 0, "r1 /= r2"),
    (ALU64 | 0x30 | X, 1, 2, 1, 0, "r1 s/= r2"),
    (ALU64 | 0x90 | K, 1, 0, 1, 3, "r1 s%= 3"),
    (ALU | 0x90 | X, 1, 2, 0, 0, "w1 %= w2"),
    (ALU | 0x40 | K, 4, 0, 0, 0x10000, "w4 |= 0x10000"),
    (ALU64 | 0x50 | K, 1, 0, 0, 255, "r1 &= 255"),
    (ALU64 | 0x60 | K, 1, 0, 0, 32, "r1 <<= 32"),
    (ALU | 0x70 | X, 1, 2, 0, 0, "w1 >>= w2"),
    (ALU64 | 0x80 | K, 1, 0, 0, 0, "r1 = -r1"),
    (ALU64 | 0xA0 | X, 0, 9, 0, 0, "r0 ^= r9"),
    (ALU64 | 0xB0 | X, 6, 1, 0, 0, "r6 = r1"),
    (ALU | 0xB0 | K, 0, 0, 0, 2, "w0 = 2"),
    (ALU64 | 0xB0 | X, 1, 2, 8, 0, "r1 = (s8)r2"),
    (ALU | 0xB0 | X, 1, 2, 16, 0, "w1 = (s16)w2"),
    (ALU64 | 0xC0 | K, 1, 0, 0, 3, "r1 s>>= 3"),
    (ALU | 0xD0 | X, 1, 0, 0, 16, "r1 = be16 r1"),
    (ALU | 0xD0 | K, 1, 0, 0, 32, "r1 = le32 r1"),
    (ALU64 | 0xD0 | K, 1, 0, 0, 64, "r1 = bswap64 r1"),
])
def test_alu(code: int, dst: int, src: int, off: int, imm: int, text: str) -> None:
    assert one(insn(code, dst, src, off, imm)) == text


@pytest.mark.parametrize("code,dst,src,off,imm,text", [
    (JMP | 0x00, 0, 0, 3, 0, "goto +3"),
    (JMP | 0x00, 0, 0, -2, 0, "goto -2"),
    (JMP32 | 0x00, 0, 0, 0, 70000, "gotol +70000"),
    (JMP | 0x10 | K, 1, 0, 1, 0, "if r1 == 0 goto +1"),
    (JMP | 0x20 | X, 1, 2, 3, 0, "if r1 > r2 goto +3"),
    (JMP | 0x30 | K, 1, 0, 3, 9, "if r1 >= 9 goto +3"),
    (JMP | 0x40 | K, 1, 0, 3, 4, "if r1 & 4 goto +3"),
    (JMP | 0x50 | X, 1, 2, -4, 0, "if r1 != r2 goto -4"),
    (JMP | 0x60 | K, 1, 0, 3, -1, "if r1 s> -1 goto +3"),
    (JMP | 0x70 | X, 1, 2, 3, 0, "if r1 s>= r2 goto +3"),
    (JMP | 0xA0 | K, 1, 0, 3, 8, "if r1 < 8 goto +3"),
    (JMP | 0xB0 | X, 1, 2, 3, 0, "if r1 <= r2 goto +3"),
    (JMP | 0xC0 | K, 1, 0, 3, 0, "if r1 s< 0 goto +3"),
    (JMP | 0xD0 | X, 1, 2, 3, 0, "if r1 s<= r2 goto +3"),
    (JMP32 | 0x20 | X, 1, 2, 3, 0, "if w1 > w2 goto +3"),
    (JMP32 | 0x10 | K, 3, 0, 5, 7, "if w3 == 7 goto +5"),
    (JMP | 0x90, 0, 0, 0, 0, "exit"),
    (JMP | 0x80, 0, 0, 0, 1, "call bpf_map_lookup_elem#1"),
    (JMP | 0x80, 0, 0, 0, 14, "call bpf_get_current_pid_tgid#14"),
    (JMP | 0x80, 0, 0, 0, 99999, "call #99999"),
    (JMP | 0x80, 0, 1, 0, 5, "call pc+5"),
    (JMP | 0x80, 0, 2, 0, 1234, "call kernel-function#1234"),
    (JMP | 0xE0, 0, 0, 7, 0, "may_goto +7"),
])
def test_jmp(code: int, dst: int, src: int, off: int, imm: int, text: str) -> None:
    assert one(insn(code, dst, src, off, imm)) == text


@pytest.mark.parametrize("code,dst,src,off,imm,text", [
    (LDX | MEM | W, 1, 2, 4, 0, "r1 = *(u32 *)(r2 + 4)"),
    (LDX | MEM | DW, 0, 10, -8, 0, "r0 = *(u64 *)(r10 - 8)"),
    (LDX | MEM | H, 3, 1, 12, 0, "r3 = *(u16 *)(r1 + 12)"),
    (LDX | MEM | B, 3, 1, 0, 0, "r3 = *(u8 *)(r1 + 0)"),
    (LDX | MEMSX | B, 3, 1, 2, 0, "r3 = *(s8 *)(r1 + 2)"),
    (LDX | MEMSX | W, 3, 1, 2, 0, "r3 = *(s32 *)(r1 + 2)"),
    (ST | MEM | W, 10, 0, -4, 5, "*(u32 *)(r10 - 4) = 5"),
    (ST | MEM | DW, 10, 0, -16, 0, "*(u64 *)(r10 - 16) = 0"),
    (STX | MEM | DW, 10, 1, -8, 0, "*(u64 *)(r10 - 8) = r1"),
    (STX | MEM | B, 2, 4, 3, 0, "*(u8 *)(r2 + 3) = r4"),
    (STX | ATOMIC | DW, 0, 1, 0, 0x00, "lock *(u64 *)(r0 + 0) += r1"),
    (STX | ATOMIC | W, 0, 1, 8, 0x40, "lock *(u32 *)(r0 + 8) |= w1"),
    (STX | ATOMIC | DW, 0, 1, 0, 0x50, "lock *(u64 *)(r0 + 0) &= r1"),
    (STX | ATOMIC | DW, 0, 1, 0, 0xA0, "lock *(u64 *)(r0 + 0) ^= r1"),
    (STX | ATOMIC | DW, 0, 1, 0, 0x01, "r1 = atomic_fetch_add((u64 *)(r0 + 0), r1)"),
    (STX | ATOMIC | W, 0, 1, 0, 0xA1, "w1 = atomic_fetch_xor((u32 *)(r0 + 0), w1)"),
    (STX | ATOMIC | DW, 2, 1, 4, 0xE1, "r1 = xchg_64(r2 + 4, r1)"),
    (STX | ATOMIC | DW, 2, 3, 0, 0xF1, "r0 = cmpxchg_64(r2 + 0, r0, r3)"),
    (STX | ATOMIC | W, 2, 3, 0, 0xF1, "w0 = cmpxchg_32(r2 + 0, w0, w3)"),
    (LD | ABS | H, 0, 0, 0, 12, "r0 = *(u16 *)skb[12]"),
    (LD | IND | B, 0, 2, 0, 4, "r0 = *(u8 *)skb[r2 + 4]"),
])
def test_memory(code: int, dst: int, src: int, off: int, imm: int, text: str) -> None:
    assert one(insn(code, dst, src, off, imm)) == text


def ld_imm64(dst: int, lo: int, src: int = 0, hi: int = 0) -> bytes:
    return insn(LD | DW, dst, src, imm=lo) + insn(0, imm=hi)


@pytest.mark.parametrize("raw,text", [
    (ld_imm64(1, 0x5678, 0, 0x1234), "r1 = 0x123400005678 ll"),
    (ld_imm64(1, -1, 0, -1), "r1 = -1 ll"),
    (ld_imm64(2, 7, 1), "r2 = map[fd:7] ll"),
    (ld_imm64(2, 7, 2, 16), "r2 = map_value[fd:7]+16 ll"),
    (ld_imm64(2, 99, 3), "r2 = btf_id[99] ll"),
    (ld_imm64(2, 4, 4), "r2 = func[pc+4] ll"),
    (ld_imm64(2, 0, 5), "r2 = map[idx:0] ll"),
    (ld_imm64(2, 1, 6, 8), "r2 = map_value[idx:1]+8 ll"),
])
def test_ld_imm64(raw: bytes, text: str) -> None:
    out = disassemble(raw + insn(JMP | 0x90)).splitlines()
    assert out[0].split(": ", 1)[1] == text
    assert out[1] == "   2: exit"  # the second half of ld_imm64 takes index 1


@pytest.mark.parametrize("kind,code,src,text", [
    ("map", LD | DW, 0, "r1 = map[counts] ll"),
    ("map_value", LD | DW, 0, "r1 = map_value[.rodata]+8 ll"),
    ("func_addr", LD | DW, 0, "r1 = func[cb] ll"),
    ("call", JMP | 0x80, 1, "call sub"),
    ("kfunc", JMP | 0x80, 2, "call bpf_rcu_read_lock"),
])
def test_relocations_name_symbols(kind: str, code: int, src: int, text: str) -> None:
    symbol = {"map": "counts", "map_value": ".rodata", "func_addr": "cb", "call": "sub",
              "kfunc": "bpf_rcu_read_lock"}[kind]
    raw = insn(code, 1 if code != JMP | 0x80 else 0, src, imm=-1 if code == JMP | 0x80 else 0)
    if code == LD | DW:
        raw += insn(0)
    rel = Relocation(0, kind, symbol, 8 if kind == "map_value" else 0)
    assert one(raw, relocations=[rel]) == text


def test_custom_helper_names() -> None:
    assert one(insn(JMP | 0x80, imm=5), helper_names={5: "now"}) == "call now#5"


def test_line_info_annotations_and_object_headers() -> None:
    body = insn(ALU64 | 0xB0 | K, 0, imm=1) + insn(ALU64 | 0x00 | K, 0, imm=1) + insn(JMP | 0x90)
    lines = (LineInfo(0, 0, 0, 3, 5, "p.py", "x = 1"), LineInfo(1, 0, 0, 3, 9, "p.py", "x = 1"),
             LineInfo(2, 0, 0, 4, 5, "p.py", "    return x"))
    text = disassemble(body, line_info=lines)
    assert text.splitlines() == [
        "; x = 1  [p.py:3]", "   0: r0 = 1", "   1: r0 += 1",
        "; return x  [p.py:4]", "   2: exit",
    ]
    spec = ObjectSpec(programs={
        "main": ProgramSpec("main", "xdp", body, line_info=lines),
        "sub": ProgramSpec("sub", ".text", insn(JMP | 0x90), is_subprogram=True),
    }, maps={})
    out = disassemble_object(spec)
    assert "main:  [section xdp, 3 insns]" in out
    assert "sub:  [subprogram, 1 insns]" in out


def test_unknown_opcode_and_bad_length() -> None:
    assert "unknown opcode" in one(insn(LDX | 0xE0 | W))
    with pytest.raises(ValueError):
        disassemble(b"\0" * 5)


def test_compiled_program_shows_its_python_lines() -> None:
    import pyebpf as bpf
    from pyebpf import u32, u64

    hits = bpf.HashMap(u32, u64, max_entries=16)

    @bpf.xdp  # a context that needs nothing from the kernel: this is a unit test
    def count_getpid(ctx) -> int:  # noqa: ANN001
        pid = u32(bpf.get_current_pid_tgid() >> 32)
        hits.increment(pid)
        return bpf.XDP_PASS

    text = count_getpid.compile().disassembly()
    assert "count_getpid:  [section xdp" in text
    assert "; pid = u32(bpf.get_current_pid_tgid() >> 32)  [" in text
    assert "; hits.increment(pid)  [" in text
    assert "test_disasm.py:" in text
    assert "call bpf_get_current_pid_tgid#14" in text
    assert "= map[hits] ll" in text
    assert text.rstrip().endswith("exit")
