"""BTF-typed tracepoints, perf event sampling with stacks, iterators, and the hooks this kernel refuses.

Counts are filtered by this process's tgid inside the programs: other
processes on the machine use BPF and trigger the same hooks.
"""

from __future__ import annotations

import os
import time

import pytest

import pyebpf as bpf
from pyebpf import i64, u32, u64
from pyebpf.symbols import symbolize_kernel, symbolize_user

MY_TGID = os.getpid()
GETPID = 39  # __NR_getpid on x86_64

seen = bpf.ArrayMap(u64, max_entries=8)


def reset() -> None:
    if not seen.loaded:
        seen.create()
    for i in range(8):
        seen[i] = 0


# ---------------------------------------------------------------- tp_btf


@bpf.tp_btf("sys_enter")
def btf_sys_enter(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    if ctx.id == GETPID:  # the parameter's name in the kernel's BTF
        seen.increment(0)
    if ctx.args[1] == GETPID:
        seen.increment(1)
    return 0


def test_tp_btf_context_is_typed_from_kernel_btf() -> None:
    fields = btf_sys_enter.hook.context().fields
    assert fields["regs"].offset == 0 and fields["id"].offset == 8
    assert fields["args"].type.length == 2


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="syscall number of getpid")
def test_tp_btf_counts_own_getpid_calls_exactly() -> None:
    reset()
    with btf_sys_enter.attach() as link:
        assert link.kind == "tp_btf"
        for _ in range(9):
            os.getpid()
    assert seen[0] == 9
    assert seen[1] == 9
    btf_sys_enter.close()


# ---------------------------------------------------------------- perf_event sampling

stacks = bpf.StackTraceMap(1024)
stack_hits = bpf.HashMap(u32, u64, max_entries=1024)
BPF_F_USER_STACK = 1 << 8


@bpf.perf_event(event="cpu-clock", sample_freq=1000)
def sample_user(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    seen.increment(2)
    sid = bpf.get_stackid(ctx, stacks, BPF_F_USER_STACK)
    if sid >= 0:
        stack_hits.increment(u32(sid))
    return 0


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(1000))


def test_perf_event_samples_user_stacks_and_symbolizes_them() -> None:
    reset()
    with sample_user.attach() as link:
        assert len(link.links) == len(bpf.links.online_cpus())
        _burn(0.4)
    # 1 kHz for 0.4 s of CPU: about 400 samples; well over 100 even on a loaded machine
    assert seen[2] > 100
    assert len(stack_hits) > 0
    names = set()
    for sid in list(stack_hits.keys())[:20]:
        frames = [a for a in stacks[sid] if a]
        names.update(symbolize_user(os.getpid(), frames))
    # the interpreter's own functions show up by name (from its ELF symbols)
    assert any("Py" in n for n in names), sorted(names)[:20]
    sample_user.close()


kstack_hits = bpf.HashMap(u32, u64, max_entries=1024)


@bpf.perf_event(event="cpu-clock", sample_period=100_000)  # every 100 us of CPU time
def sample_kernel(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    sid = bpf.get_stackid(ctx, stacks, 0)
    if sid >= 0:
        kstack_hits.increment(u32(sid))
    return 0


def test_perf_event_kernel_stacks_symbolize_through_kallsyms() -> None:
    with sample_kernel.attach():
        end = time.monotonic() + 0.4
        while time.monotonic() < end:
            os.stat("/")  # time spent in the kernel
    assert len(kstack_hits) > 0
    names = {symbolize_kernel(a) for sid in list(kstack_hits.keys())[:20]
             for a in stacks[sid] if a}
    assert not any(n.startswith("0x") for n in names)
    assert any("stat" in n or "syscall" in n for n in names), sorted(names)[:20]
    sample_kernel.close()


def test_perf_event_hardware_cycles_or_clear_error() -> None:
    @bpf.perf_event(event="cpu-cycles", sample_freq=500)
    def on_cycles(ctx) -> int:
        if bpf.get_current_pid_tgid() >> 32 == MY_TGID:
            seen.increment(3)
        return 0

    reset()
    try:
        link = on_cycles.attach(cpus=[0, *bpf.links.online_cpus()[1:]])
    except bpf.AttachError as e:
        assert "no hardware PMU" in str(e) or "not supported" in str(e)
        return
    with link:
        _burn(0.4)
    assert seen[3] > 10
    on_cycles.close()


# ---------------------------------------------------------------- iterators


@bpf.iter("task")
def walk_tasks(ctx) -> int:
    if ctx.task is None:
        seen.increment(5)  # the final call, after the last task
        return 0
    seen.increment(4)
    return 0


@bpf.iter("task")
def list_tasks(ctx) -> int:
    task = ctx.task
    if task is None:
        return 0
    if task.pid == task.tgid:  # one line per process: its main thread
        bpf.seq_printf(ctx.meta.seq, b"%d %d %s\n", task.tgid, task.real_parent.tgid,
                       task.comm)
    return 0


def test_iter_task_writes_lines_read_as_a_file() -> None:
    with list_tasks.attach() as link:
        text = link.read().decode()
    lines = {int(line.split()[0]): line.split() for line in text.splitlines()}
    me = lines[os.getpid()]
    assert int(me[1]) == os.getppid()
    assert len(lines) == len([p for p in os.listdir("/proc") if p.isdigit()]) or \
        abs(len(lines) - len([p for p in os.listdir("/proc") if p.isdigit()])) < 10
    list_tasks.close()


def test_iter_task_runs_once_per_task_when_read() -> None:
    reset()
    assert set(walk_tasks.hook.context().fields) == {"meta", "task"}
    with walk_tasks.attach() as link:
        assert link.read() == b""  # this program writes nothing (no bpf_seq_printf)
        tasks = sum(len(os.listdir(f"/proc/{p}/task")) for p in os.listdir("/proc")
                    if p.isdigit() and os.path.exists(f"/proc/{p}/task"))
        assert seen[5] == 1
        # every thread, give or take the ones started or ended in between
        assert abs(seen[4] - tasks) < max(20, tasks // 5)
        first = seen[4]
        link.read()
        assert seen[5] == 2 and abs(seen[4] - 2 * first) < max(20, first // 5)
    walk_tasks.close()


# ---------------------------------------------------------------- refused here


@bpf.kprobe("do_unlinkat")
def kp_unlink(ctx) -> int:
    seen.increment(6, ctx.arg(0) * 0 + 1)
    return 0


@bpf.kretprobe("do_unlinkat")
def krp_unlink(ctx) -> int:
    if ctx.ret == 0:
        seen.increment(6)
    return 0


@pytest.mark.parametrize("prog", [kp_unlink, krp_unlink], ids=["kprobe", "kretprobe"])
def test_kprobes_attach_or_say_config_kprobes_is_missing(prog, tmp_path) -> None:
    reset()
    if bpf.features.has_kprobes():
        with prog.attach():
            (tmp_path / "x").write_text("x")
            os.unlink(tmp_path / "x")
        assert seen[6] >= 1
        prog.close()
        return
    with pytest.raises(bpf.NotSupportedError, match="CONFIG_KPROBES is not set"):
        prog.attach()
    # the program type itself loads: only attaching is impossible
    prog.load()
    with pytest.raises(bpf.NotSupportedError, match="no kprobes"):
        bpf.uprobes.attach_kprobe(prog, "do_unlinkat")
    prog.close()


@bpf.fentry("do_unlinkat")
def fe_unlink(ctx) -> int:
    seen.increment(7, u64(ctx.dfd * 0 + 1))
    return 0


@bpf.fexit("do_unlinkat")
def fx_unlink(ctx) -> int:
    if ctx.ret == i64(0):
        seen.increment(7)
    return 0


@bpf.lsm("file_open")
def lsm_open(ctx) -> int:
    if ctx.file is not None:  # a trusted struct file pointer, typed from BTF
        seen.increment(7)
    return 0


def test_trampoline_contexts_come_from_btf() -> None:
    assert list(fe_unlink.hook.context().fields)[:3] == ["args", "dfd", "arg0"]
    assert fx_unlink.hook.context().fields["ret"].offset == 16
    assert "file" in lsm_open.hook.context().fields


@pytest.mark.parametrize("prog", [fe_unlink, fx_unlink, lsm_open], ids=["fentry", "fexit", "lsm"])
def test_trampolines_attach_or_explain_the_refusal(prog, tmp_path) -> None:
    reset()
    try:
        link = prog.attach()
    except bpf.NotSupportedError as e:
        assert "EPERM with an empty verifier log" in str(e)
        assert "before verifying" in str(e)
        return
    with link:
        (tmp_path / "x").write_text("x")
        os.unlink(tmp_path / "x")
    assert seen[7] >= 1
    prog.close()


def test_unknown_btf_targets_fail_at_compile_time_with_the_name() -> None:
    @bpf.tp_btf("no_such_tracepoint_xyz")
    def nope(ctx) -> int:
        return 0

    with pytest.raises(bpf.BTFError, match="no BTF tracepoint 'no_such_tracepoint_xyz'"):
        nope.hook.context()
