"""Golden text for the compiler: typed IR and optimised LLVM IR of small programs.

Regenerate after an intended change with ``PYEBPF_REGEN_GOLDEN=1 pytest tests/compiler``
and review the diff.  Every emitted module must also parse back and verify.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import i8, i32, u8, u32, u64

GOLDEN = Path(__file__).parent / "golden"
hits = bpf.HashMap(u32, u64, max_entries=64)


@bpf.xdp
def arith(ctx) -> int:
    a = u8(ctx.ingress_ifindex)
    b = i8(ctx.rx_queue_index)
    c = i32(a) // i32(b)
    d = a << 9
    return c + i32(d % 7)


@bpf.socket_filter
def branches(ctx) -> int:
    total: u32 = 0
    for i in range(4):
        if i == 2:
            continue
        total += u32(i) if ctx.len > 10 else 1
    p = hits.lookup(total)
    if p is None:
        hits[total] = 1
        return 0
    return 1 if p[0] > 3 and ctx.len else 0


@bpf.tracepoint("syscalls/sys_enter_getpid") if os.geteuid() == 0 else (lambda f: None)
def on_getpid(ctx) -> int:
    hits.increment(u32(bpf.get_current_pid_tgid() >> 32))
    return 0


class Point(bpf.Struct):
    x: u32
    y: u64


slots = bpf.Global(u32[4])
origin = bpf.Global(Point)


@bpf.xdp
def global_stores(ctx) -> int:
    slots.value[1] = 7
    origin.value.y += origin.value.x
    i = ctx.rx_queue_index
    slots.value[i] = 9
    origin.value = Point(x=1)
    return 0


@bpf.socket_filter
def iter_loop(ctx) -> int:
    total: u32 = 0
    for i in bpf.iter_range(ctx.len):
        if i == 5:
            break
        for j in bpf.iter_range(2, i):
            if j == 3:
                return 7  # destroys both iterators first
            total += u32(j)
    return total


def _llvm_body(ir_text: str) -> str:
    """The function definitions without debug metadata (stable across paths and ids)."""
    out = []
    keep = False
    for line in ir_text.splitlines():
        if line.startswith("define "):
            keep = True
        if keep:
            out.append(re.sub(r",? !dbg ![0-9]+", "", line))
        if line == "}":
            keep = False
    return "\n".join(out) + "\n"


CASES = [("arith", arith), ("branches", branches), ("global_stores", global_stores),
         ("iter_loop", iter_loop)]


@pytest.mark.parametrize("name,prog", CASES, ids=[c[0] for c in CASES])
def test_golden(name: str, prog: bpf.Program) -> None:
    compiled = prog.compile(cpu="v3")
    for suffix, text in (("tir", compiled.typed_ir + "\n"), ("ll", _llvm_body(compiled.llvm_ir))):
        path = GOLDEN / f"{name}.{suffix}"
        if os.environ.get("PYEBPF_REGEN_GOLDEN") or not path.exists():
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        assert text == path.read_text(), f"{path} differs; regenerate with PYEBPF_REGEN_GOLDEN=1"


@pytest.mark.parametrize("name,prog", CASES, ids=[c[0] for c in CASES])
def test_emitted_modules_parse_back_and_verify(name: str, prog: bpf.Program) -> None:
    import llvmlite.binding as llvm

    compiled = prog.compile(cpu="v3")
    for text in (compiled.unoptimized_ir, compiled.llvm_ir):
        llvm.parse_assembly(text).verify()


def test_object_carries_btf_line_info_with_python_source() -> None:
    spec = branches.compile(cpu="v3").spec
    prog = spec.programs["branches"]
    sources = {li.source.strip() for li in prog.line_info}
    assert "total += u32(i) if ctx.len > 10 else 1" in sources
    assert all(li.file.endswith("test_golden.py") for li in prog.line_info)
    assert spec.btf is not None and prog.func_info
