"""Uprobes for real: a small C program built by the test, probed by symbol, counted exactly.

Every probe is limited to the child process with ``attach(pid=...)``, so other
processes running the same file (or libc) cannot add hits.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import u64, uprobes
from pyebpf.symbols import elf_symbols, find_library

N = 7
SOURCE = Path(__file__).resolve().parents[1] / "data" / "uprobe_target.c"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the uprobe target")
    exe = tmp_path_factory.mktemp("uprobe") / "uprobe_target"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(SOURCE)], check=True)
    return str(exe)


def run_target(exe: str, attach, n: int = N) -> int:
    """Start the target, attach with its pid, let it run; return what it printed."""
    child = subprocess.Popen([exe, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        with attach(child.pid):
            out, _ = child.communicate(b"g", timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0
    return int(out)


hits = bpf.ArrayMap(u64, max_entries=8)


def reset() -> None:
    if not hits.loaded:
        hits.create()
    for i in range(8):
        hits[i] = 0


def test_pie_symbol_offsets_match_nm(target: str) -> None:
    syms = elf_symbols(target)
    assert syms.elf_type == "ET_DYN"  # gcc's default PIE: file offsets come from PT_LOAD
    nm = subprocess.run(["nm", target], capture_output=True, text=True, check=True).stdout
    addr = next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(" add_one"))
    assert syms.address("add_one") == addr
    assert syms.offset("add_one") == syms.vaddr_to_offset(addr)
    assert syms.lookup(addr + 1) == ("add_one", 1)


def test_uprobe_counts_calls_and_sums_arguments(target: str) -> None:
    @bpf.uprobe(target, "add_one")
    def on_add_one(ctx) -> int:
        hits.increment(0)
        hits.increment(1, ctx.arg(0))
        return 0

    reset()
    printed = run_target(target, lambda pid: on_add_one.attach(pid=pid))
    assert printed == sum(i + 1 for i in range(N))
    assert hits[0] == N
    assert hits[1] == sum(range(N))
    on_add_one.close()


def test_uretprobe_sums_return_values(target: str) -> None:
    @bpf.uretprobe(target, "add_one")
    def on_add_one_ret(ctx) -> int:
        hits.increment(2)
        hits.increment(3, ctx.ret)
        return 0

    reset()
    run_target(target, lambda pid: on_add_one_ret.attach(pid=pid))
    assert hits[2] == N
    assert hits[3] == sum(i + 1 for i in range(N))
    on_add_one_ret.close()


def test_pid_filter_ignores_other_processes(target: str) -> None:
    @bpf.uprobe(target, "add_one")
    def on_add_one_filtered(ctx) -> int:
        hits.increment(0)
        return 0

    reset()
    other = subprocess.Popen([target, "3"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def attach(pid: int):
        link = on_add_one_filtered.attach(pid=pid)
        other.communicate(b"g", timeout=10)  # runs while the probe is attached, unseen
        return link

    run_target(target, attach)
    assert hits[0] == N
    on_add_one_filtered.close()


def test_uprobe_on_libc_malloc_by_library_name(target: str) -> None:
    @bpf.uprobe("libc", "malloc")
    def on_malloc(ctx) -> int:
        if ctx.arg(0) == 12345:
            hits.increment(4)
        return 0

    reset()
    assert Path(find_library("libc")).name.startswith("libc")
    run_target(target, lambda pid: on_malloc.attach(pid=pid))
    assert hits[4] == N
    on_malloc.close()


def test_uprobe_multi_one_link_for_two_functions(target: str) -> None:
    if not bpf.features.has_uprobe_multi():
        pytest.skip("the kernel has no uprobe_multi links (Linux 6.6+)")

    @bpf.uprobe(target, "add_one", multi=True)
    def on_both(ctx) -> int:
        hits.increment(5)
        hits.increment(6, ctx.arg(0))
        return 0

    reset()
    link_kinds = []

    def attach(pid: int):
        link = on_both.attach(pid=pid, symbols=["add_one", "twice"])
        link_kinds.append(link.kind)
        return link

    run_target(target, attach)
    assert link_kinds == ["uprobe_multi"]
    assert hits[5] == 2 * N
    assert hits[6] == 2 * sum(range(N))
    on_both.close()


def test_tracefs_uprobe_events_route(target: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the uprobe PMU the probe is made in tracefs uprobe_events, and removed after."""
    monkeypatch.setattr(uprobes, "probe_pmu_type", lambda kind: None)

    @bpf.uprobe(target, "add_one")
    def on_add_one_tracefs(ctx) -> int:
        hits.increment(7)
        return 0

    reset()
    names = []

    def attach(pid: int):
        link = on_add_one_tracefs.attach(pid=pid)
        names.append(link._cleanup)
        return link

    run_target(target, attach)
    assert hits[7] == N
    events = (bpf.tracefs.root() / "uprobe_events").read_text()
    assert f"p_{__import__('os').getpid()}_" not in events  # removed when the link closed
    on_add_one_tracefs.close()


def test_missing_symbol_and_file_are_attach_errors(target: str) -> None:
    with pytest.raises(bpf.AttachError, match="no function symbol 'nope'"):
        uprobes.attach_uprobe(0, target, "nope")
    with pytest.raises(bpf.AttachError, match="no such file"):
        uprobes.attach_uprobe(0, "/nonexistent/binary", "main")
