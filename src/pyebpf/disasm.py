"""BPF instructions -> readable text, under the Python source lines they came from.

A decoder of ``struct bpf_insn`` (``code:u8, dst_reg:4 | src_reg:4 << 4,
off:s16, imm:s32``, UAPI ``linux/bpf.h`` and ``linux/bpf_common.h``) that
renders every instruction class the way the verifier log and
``llvm-objdump -d`` do::

    r1 = *(u32 *)(r2 + 4)
    if r1 > r2 goto +3
    w0 = 2
    r1 = map[counts] ll
    call bpf_map_lookup_elem#1

:func:`disassemble` takes one function's raw instructions plus the
``line_info``/``relocations`` of its :class:`~pyebpf.spec.ProgramSpec`;
:func:`disassemble_object` does every function of an
:class:`~pyebpf.spec.ObjectSpec` (what ``CompiledProgram.disassembly()`` and
``pyebpf disasm`` print).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["disassemble", "disassemble_object", "decode"]

INSN_SIZE = 8

# Instruction classes (bpf_common.h).
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)

_SIZE_NAMES = {0x00: "u32", 0x08: "u16", 0x10: "u8", 0x18: "u64"}
_SIGNED_SIZE_NAMES = {0x00: "s32", 0x08: "s16", 0x10: "s8", 0x18: "s64"}
_SIZE_BITS = {0x00: 32, 0x08: 16, 0x10: 8, 0x18: 64}

# Load/store modes.
_MODE_IMM, _MODE_ABS, _MODE_IND, _MODE_MEM, _MODE_MEMSX, _MODE_ATOMIC = (
    0x00, 0x20, 0x40, 0x60, 0x80, 0xC0)

# ALU operations as compound assignments (the 0x80 NEG and 0xd0 END are special).
_ALU_OPS = {
    0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=",
    0x60: "<<=", 0x70: ">>=", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>=",
}
_ALU_NEG, _ALU_END = 0x80, 0xD0

# Conditional jumps (0x00 JA, 0x80 CALL, 0x90 EXIT, 0xe0 JCOND are special).
_JMP_OPS = {
    0x10: "==", 0x20: ">", 0x30: ">=", 0x40: "&", 0x50: "!=", 0x60: "s>",
    0x70: "s>=", 0xA0: "<", 0xB0: "<=", 0xC0: "s<", 0xD0: "s<=",
}
_JA, _CALL, _EXIT, _JCOND = 0x00, 0x80, 0x90, 0xE0

# src_reg of ld_imm64 and call (linux/bpf.h BPF_PSEUDO_*).
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_BTF_ID, PSEUDO_FUNC = 1, 2, 3, 4
PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = 5, 6
PSEUDO_CALL, PSEUDO_KFUNC_CALL = 1, 2

# Atomic operations (imm of BPF_STX | BPF_ATOMIC).
_FETCH = 0x01
_ATOMIC_OPS = {0x00: ("+=", "add"), 0x40: ("|=", "or"), 0x50: ("&=", "and"),
               0xA0: ("^=", "xor")}
_XCHG, _CMPXCHG = 0xE0 | _FETCH, 0xF0 | _FETCH
_LOAD_ACQ, _STORE_REL = 0x100, 0x110


def _helper_table() -> dict[int, str]:
    from .lang.helpers import HELPERS

    return {h.id: "bpf_" + h.name for h in HELPERS.values()}


def _reg(n: int, wide: bool = True) -> str:
    return f"{'r' if wide else 'w'}{n}"


def _off(off: int) -> str:
    return f"+{off}" if off >= 0 else str(off)


def _addr(reg: int, off: int) -> str:
    return f"r{reg} {'-' if off < 0 else '+'} {abs(off)}"


def _imm(v: int) -> str:
    return str(v) if -1024 <= v <= 1024 else hex(v) if v >= 0 else f"-{hex(-v)}"


class _Ctx:
    """What one function's decoding knows besides the instruction bytes."""

    def __init__(self, relocations: Iterable[Any], helper_names: Mapping[int, str] | None):
        self.relocs = {r.insn: r for r in relocations}
        self.helpers = _helper_table() if helper_names is None else dict(helper_names)


def decode(insns: bytes) -> list[tuple[int, int, int, int, int, int]]:
    """Split raw bytes into ``(index, code, dst, src, off, imm)`` tuples (8 bytes each)."""
    if len(insns) % INSN_SIZE:
        raise ValueError(f"instruction bytes ({len(insns)}) are not a multiple of 8")
    out = []
    for i, (code, regs, off, imm) in enumerate(struct.iter_unpack("<BBhi", insns)):
        out.append((i, code, regs & 0x0F, regs >> 4, off, imm))
    return out


def _alu(code: int, dst: int, src: int, off: int, imm: int) -> str:
    wide = code & 7 == ALU64
    op = code & 0xF0
    use_reg = bool(code & 0x08)
    d = _reg(dst, wide)
    if op == _ALU_END:
        bits = imm
        if wide:  # BPF_ALU64 | BPF_END: unconditional byte swap (cpu v4)
            return f"{d} = bswap{bits} {d}"
        return f"{_reg(dst)} = {'be' if use_reg else 'le'}{bits} {_reg(dst)}"
    if op == _ALU_NEG:
        return f"{d} = -{d}"
    if op not in _ALU_OPS:
        return _unknown(code)
    sym = _ALU_OPS[op]
    if op in (0x30, 0x90) and off == 1:  # sdiv / smod (cpu v4)
        sym = "s" + sym
    if op == 0xB0 and use_reg and off in (8, 16, 32):  # movsx (cpu v4)
        return f"{d} = (s{off}){_reg(src, wide)}"
    rhs = _reg(src, wide) if use_reg else _imm(imm)
    return f"{d} {sym} {rhs}"


def _jmp(ctx: _Ctx, idx: int, code: int, dst: int, src: int, off: int, imm: int) -> str:
    wide = code & 7 == JMP
    op = code & 0xF0
    if op == _JA:
        if not wide:  # BPF_JMP32 | BPF_JA: gotol, 32-bit offset in imm (cpu v4)
            return f"gotol {_off(imm)}"
        return f"goto {_off(off)}"
    if op == _EXIT and wide:
        return "exit"
    if op == _CALL and wide:
        rel = ctx.relocs.get(idx)
        if src == PSEUDO_CALL:
            if rel is not None and imm == -1:
                return f"call {rel.symbol}"
            return f"call pc{_off(imm)}" + (f"  <{rel.symbol}>" if rel is not None else "")
        if src == PSEUDO_KFUNC_CALL:
            return f"call {rel.symbol}" if rel is not None else f"call kernel-function#{imm}"
        name = ctx.helpers.get(imm)
        return f"call {name}#{imm}" if name else f"call #{imm}"
    if op == _JCOND and wide:
        return f"may_goto {_off(off)}"
    if op not in _JMP_OPS:
        return _unknown(code)
    rhs = _reg(src, wide) if code & 0x08 else _imm(imm)
    return f"if {_reg(dst, wide)} {_JMP_OPS[op]} {rhs} goto {_off(off)}"


def _ld_imm64(ctx: _Ctx, idx: int, dst: int, src: int, imm: int, imm2: int) -> str:
    d = _reg(dst)
    rel = ctx.relocs.get(idx)
    if rel is not None:
        if rel.kind == "map":
            return f"{d} = map[{rel.symbol}] ll"
        if rel.kind == "map_value":
            return f"{d} = map_value[{rel.symbol}]{_off(rel.addend)} ll"
        if rel.kind == "func_addr":
            return f"{d} = func[{rel.symbol}] ll"
        return f"{d} = {rel.kind}[{rel.symbol}] ll"
    if src == PSEUDO_MAP_FD:
        return f"{d} = map[fd:{imm}] ll"
    if src == PSEUDO_MAP_IDX:
        return f"{d} = map[idx:{imm}] ll"
    if src == PSEUDO_MAP_VALUE:
        return f"{d} = map_value[fd:{imm}]{_off(imm2)} ll"
    if src == PSEUDO_MAP_IDX_VALUE:
        return f"{d} = map_value[idx:{imm}]{_off(imm2)} ll"
    if src == PSEUDO_BTF_ID:
        return f"{d} = btf_id[{imm}] ll"
    if src == PSEUDO_FUNC:
        return f"{d} = func[pc{_off(imm)}] ll"
    value = (imm & 0xFFFFFFFF) | (imm2 & 0xFFFFFFFF) << 32
    if value >= 1 << 63:
        value -= 1 << 64
    return f"{d} = {_imm(value)} ll"


def _ld_legacy(code: int, src: int, imm: int) -> str:
    size = _SIZE_NAMES.get(code & 0x18, "?")
    if code & 0xE0 == _MODE_ABS:
        return f"r0 = *({size} *)skb[{imm}]"
    return f"r0 = *({size} *)skb[{_addr(src, imm)}]"


def _atomic(code: int, dst: int, src: int, off: int, imm: int) -> str:
    size = code & 0x18
    wide = size == 0x18
    ty = _SIZE_NAMES.get(size, "?")
    where = f"({ty} *)({_addr(dst, off)})"
    s = _reg(src, wide)
    if imm == _XCHG:
        return f"{s} = xchg_{_SIZE_BITS[size]}({_addr(dst, off)}, {s})"
    if imm == _CMPXCHG:
        r0 = _reg(0, wide)
        return f"{r0} = cmpxchg_{_SIZE_BITS[size]}({_addr(dst, off)}, {r0}, {s})"
    if imm == _LOAD_ACQ:
        return f"{_reg(dst, wide)} = load_acquire(({ty} *)({_addr(src, off)}))"
    if imm == _STORE_REL:
        return f"store_release({where}, {s})"
    op = _ATOMIC_OPS.get(imm & ~_FETCH)
    if op is None:
        return f"<atomic op {imm:#x}> {where}, {s}"
    if imm & _FETCH:
        return f"{s} = atomic_fetch_{op[1]}({where}, {s})"
    return f"lock *{where} {op[0]} {s}"


def _mem(code: int, dst: int, src: int, off: int, imm: int) -> str:
    cls, mode, size = code & 7, code & 0xE0, code & 0x18
    ty = _SIZE_NAMES[size]
    if cls == LDX:
        if mode == _MODE_MEMSX:
            return f"r{dst} = *({_SIGNED_SIZE_NAMES[size]} *)({_addr(src, off)})"
        if mode == _MODE_MEM:
            return f"r{dst} = *({ty} *)({_addr(src, off)})"
    elif cls == ST and mode == _MODE_MEM:
        return f"*({ty} *)({_addr(dst, off)}) = {_imm(imm)}"
    elif cls == STX:
        if mode == _MODE_MEM:
            return f"*({ty} *)({_addr(dst, off)}) = r{src}"
        if mode == _MODE_ATOMIC:
            return _atomic(code, dst, src, off, imm)
    return _unknown(code)


def _unknown(code: int) -> str:
    return f"<unknown opcode {code:#04x}>"


def _render(ctx: _Ctx, rows: list[tuple[int, int, int, int, int, int]]) -> dict[int, str]:
    """Index -> text for each instruction (the second half of an ld_imm64 gets none)."""
    out: dict[int, str] = {}
    skip = False
    for pos, (idx, code, dst, src, off, imm) in enumerate(rows):
        if skip:
            skip = False
            continue
        cls = code & 7
        if cls in (ALU, ALU64):
            text = _alu(code, dst, src, off, imm)
        elif cls in (JMP, JMP32):
            text = _jmp(ctx, idx, code, dst, src, off, imm)
        elif cls == LD and code == (LD | _MODE_IMM | 0x18):
            imm2 = rows[pos + 1][5] if pos + 1 < len(rows) else 0
            text = _ld_imm64(ctx, idx, dst, src, imm, imm2)
            skip = True
        elif cls == LD and code & 0xE0 in (_MODE_ABS, _MODE_IND):
            text = _ld_legacy(code, src, imm)
        else:
            text = _mem(code, dst, src, off, imm)
        out[idx] = text
    return out


def disassemble(insns: bytes, *, line_info: Iterable[Any] = (), relocations: Iterable[Any] = (),
                helper_names: Mapping[int, str] | None = None) -> str:
    """Render one function's instructions, one per line, index on the left.

    ``line_info`` (:class:`~pyebpf.spec.LineInfo`) adds ``; <source>  [file:line]``
    before the first instruction of each record; ``relocations``
    (:class:`~pyebpf.spec.Relocation`) name maps, subprograms and kfuncs;
    ``helper_names`` maps helper ids to names (default: pyebpf's helper table).

    >>> disassemble(bytes.fromhex("b700000002000000" "9500000000000000"))
    '   0: r0 = 2\\n   1: exit'
    """
    ctx = _Ctx(relocations, helper_names)
    texts = _render(ctx, decode(insns))
    notes: dict[int, list[str]] = {}
    for li in line_info:
        src = (li.source or "").strip()
        where = f"{li.file}:{li.line}" if li.file else f"line {li.line}"
        notes.setdefault(li.insn, []).append(f"; {src}  [{where}]" if src else f"; [{where}]")
    width = max(4, len(str(max(texts, default=0))))
    lines = []
    last = None
    for idx, text in texts.items():
        for note in notes.get(idx, ()):
            if note != last:  # a record repeating the line just shown adds nothing
                lines.append(note)
                last = note
        lines.append(f"{idx:>{width}}: {text}")
    return "\n".join(lines)


def disassemble_object(spec: Any) -> str:
    """Every program and subprogram of an :class:`~pyebpf.spec.ObjectSpec`, with a header each."""
    helpers = _helper_table()
    parts = []
    for name, prog in spec.programs.items():
        kind = "subprogram" if prog.is_subprogram else f"section {prog.section}"
        head = f"{name}:  [{kind}, {prog.insn_count} insns]"
        body = disassemble(prog.insns, line_info=prog.line_info,
                           relocations=prog.relocations, helper_names=helpers)
        parts.append(f"{head}\n{body}")
    return "\n\n".join(parts) + "\n"
