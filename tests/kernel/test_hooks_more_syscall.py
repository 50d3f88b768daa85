"""``@bpf.syscall``: SEC("syscall") programs run through BPF_PROG_TEST_RUN with a user ctx struct."""

from __future__ import annotations

import pytest

import pyebpf as bpf
from pyebpf import u16, u32, u64


class Args(bpf.Struct):
    key: u32
    value: u64
    scale: u16
    flags: u32[2]


seen = bpf.HashMap(u32, u64, max_entries=16)


@bpf.syscall(ctx=Args)
def record_args(ctx) -> int:
    seen[ctx.key] = ctx.value
    ctx.value = ctx.value + 1  # the context is writable memory
    return ctx.key * ctx.scale + ctx.flags[1]


@bpf.syscall
def no_context(ctx) -> int:
    return 7


def test_syscall_program_reads_ctx_writes_a_map_and_returns_exactly() -> None:
    for key, value, scale, extra in ((3, 1 << 40, 5, 2), (9, 77, 1000, 0)):
        args = Args(key=key, value=value, scale=scale, flags=[0xFFFF, extra])
        r = record_args.test_run(ctx=bytes(args))
        assert r.retval == key * scale + extra
        assert seen[key] == value
        back = Args.from_buffer(r.ctx)  # the kernel copies the context back over ctx_in
        assert (back.key, back.value, back.scale) == (key, value + 1, scale)
    assert dict(seen.items()) == {3: 1 << 40, 9: 77}
    assert record_args.info()["type"] in ("syscall", 31, bpf.ProgramType.SYSCALL)


def test_syscall_program_without_ctx_struct() -> None:
    assert no_context.test_run().retval == 7


def test_syscall_refuses_packet_data_and_repeat() -> None:
    with pytest.raises(ValueError, match="ctx=bytes"):
        record_args.test_run(b"\0" * 14, ctx=bytes(Args()))
    with pytest.raises(ValueError, match="once per test_run"):
        record_args.test_run(ctx=bytes(Args()), repeat=2)


def test_syscall_ctx_must_be_a_struct() -> None:
    with pytest.raises(TypeError, match="bpf.Struct subclass"):
        bpf.syscall(ctx=u32)


def test_unknown_ctx_field_is_a_compile_error_at_the_line() -> None:
    @bpf.syscall(ctx=Args)
    def bad(ctx) -> int:
        return ctx.nope

    with pytest.raises(bpf.CompileError) as ei:
        bad.compile()
    assert "test_hooks_more_syscall.py:" in str(ei.value)
    assert "has no field `nope`" in str(ei.value) and "key" in str(ei.value)
