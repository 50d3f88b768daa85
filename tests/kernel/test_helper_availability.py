"""Helpers a program type may not call: a CompileError at the call, from real probes.

The answers are this kernel's (Linux 6.18, probed as root): ``bpf_sk_assign``
is tc and sk_lookup only; ``bpf_probe_write_user`` and ``bpf_get_stackid``
are not for packet programs; ``bpf_get_current_task`` is in the base set a
perfmon-capable socket filter gets, so it compiles *and* loads there.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import features
from pyebpf._native import syscalls as sc
from pyebpf.constants import Cmd, ProgramType
from pyebpf.errors import CompileError

XDP_PASS = 2
listeners = bpf.SockMap(max_entries=1)


def line_of(text: str) -> int:
    """The line of this file that ends with ``text`` (once)."""
    lines = [n for n, line in enumerate(Path(__file__).read_text().splitlines(), 1)
             if line.endswith(text)]
    assert len(lines) == 1, lines
    return lines[0]


def assign_in_xdp(ctx) -> int:
    sk = listeners.lookup(0)
    if sk is not None:
        bpf.sk_assign(ctx, sk, 0)  # refused: xdp
        bpf.sk_release(sk)
    return XDP_PASS


def assign_in_tc(ctx) -> int:
    sk = listeners.lookup(0)
    if sk is not None:
        bpf.sk_assign(ctx, sk, 0)
        bpf.sk_release(sk)
    return 0


def write_user_in_xdp(ctx) -> int:
    buf = bpf.char[8]()
    bpf.probe_write_user(0, buf)  # write refused: xdp
    return XDP_PASS


def write_user_in_socket_filter(ctx) -> int:
    buf = bpf.char[8]()
    bpf.probe_write_user(0, buf)  # write refused: socket_filter
    return 0


def task_in_socket_filter(ctx) -> int:
    if bpf.get_current_task() == 0:
        return 0
    return ctx.len


def printk_in_xdp(ctx) -> int:
    bpf.trace_printk(b"len %d", ctx.data_end - ctx.data)
    return XDP_PASS


def pid_in_xdp(ctx) -> int:
    if bpf.get_current_pid_tgid() == 0:
        return XDP_PASS
    return XDP_PASS


@pytest.fixture(autouse=True)
def fresh_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache directory, and no answers held in this process: like a fresh boot."""
    monkeypatch.setenv("PYEBPF_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PYEBPF_CACHE", "1")
    monkeypatch.setattr(features, "_helper_answers", None)
    yield tmp_path


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every (program type, helper id) the kernel is asked about, in order."""
    asked: list[tuple[int, int]] = []
    real = features._helper_probe

    def counting(prog_type: int, attach: int, sleepable: bool, helper_id: int) -> bool:
        asked.append((int(prog_type), helper_id))
        return real(prog_type, attach, sleepable, helper_id)

    monkeypatch.setattr(features, "_helper_probe", counting)
    return asked


def test_sk_assign_in_xdp_is_refused_at_its_line() -> None:
    with pytest.raises(CompileError) as info:
        bpf.xdp(assign_in_xdp).compile()
    err = info.value
    assert (err.filename, err.lineno) == (__file__, line_of("# refused: xdp"))
    assert err.message == ("`bpf.sk_assign` (bpf_sk_assign) is not available to xdp programs "
                           "on this kernel")
    assert err.hint.startswith("it is available to tc, sk_lookup programs")
    assert "another helper or a kfunc" in err.hint


def test_compiling_for_another_kernel_skips_the_check(
        monkeypatch: pytest.MonkeyPatch, probes: list[tuple[int, int]]) -> None:
    monkeypatch.setenv("PYEBPF_KERNEL_BTF", "/sys/kernel/btf/vmlinux")  # "another" kernel
    assert bpf.xdp(assign_in_xdp).compile().elf.startswith(b"\x7fELF")
    assert probes == []  # this kernel was not asked


def test_sk_assign_in_tc_compiles_and_loads() -> None:
    prog = bpf.tc(assign_in_tc)
    prog.compile()
    with prog.load():
        assert prog.fd > 0


@pytest.mark.parametrize(("fn", "decorator", "kind"), [
    (write_user_in_xdp, bpf.xdp, "xdp"),
    (write_user_in_socket_filter, bpf.socket_filter, "socket_filter"),
])
def test_probe_write_user_in_packet_programs_is_refused(fn, decorator, kind) -> None:
    with pytest.raises(CompileError) as info:
        decorator(fn).compile()
    err = info.value
    assert err.lineno == line_of(f"# write refused: {kind}")
    assert f"not available to {kind} programs" in err.message
    # No kind pyebpf probes may call it here (lockdown keeps it from kprobes too).
    assert err.hint.startswith("no program kind pyebpf can probe")


def test_get_current_task_in_a_socket_filter_is_allowed_and_loads() -> None:
    # The brief assumed a refusal; the kernel gives bpf_get_current_task to every
    # perfmon-capable program (bpf_base_func_proto), and the verifier agrees.
    prog = bpf.socket_filter(task_in_socket_filter)
    prog.compile()
    with prog.load():
        assert prog.fd > 0


def test_trace_printk_in_xdp_compiles_and_loads() -> None:
    prog = bpf.xdp(printk_in_xdp)
    prog.compile()
    with prog.load():
        assert prog.fd > 0


def test_answers_are_remembered_for_the_next_process(probes, fresh_record: Path) -> None:
    with pytest.raises(CompileError):
        bpf.xdp(assign_in_xdp).compile()
    assert (int(ProgramType.XDP), 124) in probes  # the refusal, then the hint's kinds
    (record,) = fresh_record.glob("helpers-*")
    table = json.loads(record.read_text())
    assert table[f"{int(ProgramType.XDP)}/37/0/124"] is False  # expected attach type BPF_XDP
    assert table[f"{int(ProgramType.SCHED_CLS)}/0/0/124"] is True

    probes.clear()
    features._helper_answers = None  # what a new process starts with
    with pytest.raises(CompileError, match="not available to xdp programs"):
        bpf.xdp(assign_in_xdp).compile()
    bpf.xdp(pid_in_xdp).compile()
    assert probes == [(int(ProgramType.XDP), 14)]  # only the helper never asked before
    bpf.xdp(pid_in_xdp).compile()
    assert probes == [(int(ProgramType.XDP), 14)]


def test_without_rights_the_check_is_skipped(probes, fresh_record: Path) -> None:
    loads = []

    def no_rights(cmd: int, attr, size: int) -> int:
        loads.append(cmd)
        return -errno.EPERM

    features.cpu_version.cache_clear()
    try:
        with sc.replaced_funnel(no_rights):
            compiled = bpf.xdp(assign_in_xdp).compile()
    finally:
        features.cpu_version.cache_clear()
    assert compiled.elf
    assert (int(ProgramType.XDP), 124) in probes and Cmd.PROG_LOAD in loads  # it did try
    assert not list(fresh_record.glob("helpers-*"))  # and remembered nothing
    # With the rights back, the same process probes and refuses.
    with pytest.raises(CompileError):
        bpf.xdp(assign_in_xdp).compile()


def test_cache_off_probes_once_per_process(probes, monkeypatch, fresh_record: Path) -> None:
    monkeypatch.setenv("PYEBPF_CACHE", "0")
    for _ in range(2):
        with pytest.raises(CompileError):
            bpf.xdp(assign_in_xdp).compile()
    assert probes.count((int(ProgramType.XDP), 124)) == 1
    assert not list(fresh_record.glob("helpers-*"))


def test_tracing_types_are_not_probed(probes) -> None:
    assert features.helper_available(ProgramType.TRACING, 0, 124) is None
    assert features.helper_available(ProgramType.LSM, 0, 36) is None
    assert probes == []
