"""A tiny BPF assembler for tests: raw instructions without a compiler.

Each function returns the 8 (or 16, for ``ld_imm64``) bytes of ``struct bpf_insn``:
``code:u8, dst_reg:4 | src_reg:4 << 4, off:i16, imm:i32``.
"""

from __future__ import annotations

import struct

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# Instruction classes and fields (UAPI linux/bpf_common.h, linux/bpf.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64 = range(8)
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
BPF_IMM, BPF_MEM = 0x00, 0x60
BPF_K, BPF_X = 0x00, 0x08
BPF_ADD, BPF_MOV = 0x00, 0xB0
BPF_JA, BPF_JEQ, BPF_JNE, BPF_CALL, BPF_EXIT = 0x00, 0x10, 0x50, 0x80, 0x90
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_CALL, PSEUDO_FUNC = 1, 2, 1, 4

SIZES = {1: BPF_B, 2: BPF_H, 4: BPF_W, 8: BPF_DW}


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_imm(dst: int, imm: int) -> bytes:
    return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, imm=imm)


def mov64_reg(dst: int, src: int) -> bytes:
    return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src)


def add64_imm(dst: int, imm: int) -> bytes:
    return insn(BPF_ALU64 | BPF_ADD | BPF_K, dst, imm=imm)


def add64_reg(dst: int, src: int) -> bytes:
    return insn(BPF_ALU64 | BPF_ADD | BPF_X, dst, src)


def ld_imm64(dst: int, imm: int, src: int = 0, imm2: int = 0) -> bytes:
    return insn(BPF_LD | BPF_DW | BPF_IMM, dst, src, imm=imm) + insn(0, imm=imm2)


def ld_map_fd(dst: int, fd: int) -> bytes:
    return ld_imm64(dst, fd, PSEUDO_MAP_FD)


def ldx(size: int, dst: int, src: int, off: int) -> bytes:
    return insn(BPF_LDX | BPF_MEM | SIZES[size], dst, src, off)


def stx(size: int, dst: int, src: int, off: int) -> bytes:
    return insn(BPF_STX | BPF_MEM | SIZES[size], dst, src, off)


def st_imm(size: int, dst: int, off: int, imm: int) -> bytes:
    return insn(BPF_ST | BPF_MEM | SIZES[size], dst, off=off, imm=imm)


def jeq_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(BPF_JMP | BPF_JEQ | BPF_K, dst, off=off, imm=imm)


def jne_imm(dst: int, imm: int, off: int) -> bytes:
    return insn(BPF_JMP | BPF_JNE | BPF_K, dst, off=off, imm=imm)


def ja(off: int) -> bytes:
    return insn(BPF_JMP | BPF_JA, off=off)


def call(helper_id: int) -> bytes:
    return insn(BPF_JMP | BPF_CALL, imm=helper_id)


def call_pseudo(rel: int = -1) -> bytes:
    """A BPF-to-BPF call; the loader patches ``imm`` from a ``call`` relocation."""
    return insn(BPF_JMP | BPF_CALL, src=PSEUDO_CALL, imm=rel)


def exit_() -> bytes:
    return insn(BPF_JMP | BPF_EXIT)


def program(*parts: bytes) -> bytes:
    return b"".join(parts)


# Helper ids (enum bpf_func_id).
MAP_LOOKUP_ELEM = 1
MAP_UPDATE_ELEM = 2
KTIME_GET_NS = 5
GET_PRANDOM_U32 = 7
