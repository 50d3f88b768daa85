"""Hook declarations without a kernel: sections, context layouts (checked against BTF), symbols."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import btf as btf_mod
from pyebpf.lang import contexts
from pyebpf.sections import classify
from pyebpf.symbols import Kallsyms, _library_patterns, elf_symbols, symbolize_user

HAVE_BTF = os.path.exists(btf_mod.KERNEL_BTF_PATH)
needs_btf = pytest.mark.skipif(not HAVE_BTF, reason="no kernel BTF")


def _noop(ctx) -> int:
    return 0


@pytest.mark.parametrize("decorate, section, prog_type", [
    (bpf.kprobe("do_unlinkat"), "kprobe/do_unlinkat", "KPROBE"),
    (bpf.kretprobe("do_unlinkat"), "kretprobe/do_unlinkat", "KPROBE"),
    (bpf.uprobe("libc", "malloc"), "uprobe/libc:malloc", "KPROBE"),
    (bpf.uretprobe("/bin/sh", 0x40), "uretprobe//bin/sh:0x40", "KPROBE"),
    (bpf.uprobe("libc", "malloc", multi=True), "uprobe.multi/libc:malloc", "KPROBE"),
    (bpf.tp_btf("sched_switch"), "tp_btf/sched_switch", "TRACING"),
    (bpf.fentry("do_unlinkat"), "fentry/do_unlinkat", "TRACING"),
    (bpf.fexit("do_unlinkat"), "fexit/do_unlinkat", "TRACING"),
    (bpf.fmod_ret("do_unlinkat"), "fmod_ret/do_unlinkat", "TRACING"),
    (bpf.lsm("file_open"), "lsm/file_open", "LSM"),
    (bpf.iter("task"), "iter/task", "TRACING"),
    (bpf.perf_event(sample_freq=49), "perf_event", "PERF_EVENT"),
    (bpf.cgroup_sock("sock_create"), "cgroup/sock_create", "CGROUP_SOCK"),
    (bpf.cgroup_sock_addr("connect6"), "cgroup/connect6", "CGROUP_SOCK_ADDR"),
    (bpf.sockops, "sockops", "SOCK_OPS"),
    (bpf.sk_msg, "sk_msg", "SK_MSG"),
    (bpf.netfilter, "netfilter", "NETFILTER"),
])
def test_decorators_write_libbpf_sections(decorate, section: str, prog_type: str) -> None:
    prog = decorate(_noop)
    assert prog.hook.section == section
    assert classify(section).prog_type.name == prog_type


def test_perf_event_options_become_attach_defaults() -> None:
    prog = bpf.perf_event(event="cpu-cycles", sample_period=10_000)(_noop)
    assert dict(prog.hook.options) == {"event": "cpu-cycles", "sample_period": 10_000}
    with pytest.raises(ValueError, match="not both"):
        bpf.perf_event(sample_freq=1, sample_period=1)


def test_bad_socket_hook_names() -> None:
    with pytest.raises(ValueError, match="connect4"):
        bpf.cgroup_sock_addr("connect5")
    with pytest.raises(ValueError, match="sock_create"):
        bpf.cgroup_sock("sock_open")


@pytest.mark.parametrize("machine", list(contexts.PT_REGS_LAYOUTS))
def test_pt_regs_contexts_expose_args_ret_ip_sp(machine: str) -> None:
    ctx = contexts.pt_regs_context(machine)
    assert {"arg0", "arg5", "ret", "ip", "sp"} <= set(ctx.fields)
    assert all(f.type.size == 8 for f in ctx.fields.values())


@needs_btf
def test_pt_regs_offsets_match_kernel_btf() -> None:
    vmlinux = btf_mod.BTF.kernel()
    machine = os.uname().machine
    if machine != "x86_64":
        pytest.skip("the BTF register names below are x86_64's")
    ctx = contexts.pt_regs_context()
    names = {"arg0": "di", "arg1": "si", "arg2": "dx", "arg3": "cx", "arg4": "r8", "arg5": "r9",
             "ret": "ax", "ip": "ip", "sp": "sp"}
    for field, reg in names.items():
        assert ctx.fields[field].offset == vmlinux.member_offset("pt_regs", reg), field
    size = vmlinux.size_of(vmlinux.find_id("pt_regs", "struct"))
    assert contexts.PT_REGS_LAYOUTS[machine][4] == size
    perf = contexts.perf_event_context()
    assert perf.fields["sample_period"].offset == vmlinux.member_offset(
        "bpf_perf_event_data", "sample_period")
    assert perf.fields["addr"].offset == vmlinux.member_offset("bpf_perf_event_data", "addr")


@needs_btf
@pytest.mark.parametrize("ctx, struct", [
    (contexts.BPF_SOCK, "bpf_sock"), (contexts.BPF_SOCK_ADDR, "bpf_sock_addr"),
    (contexts.SK_MSG_MD, "sk_msg_md"), (contexts.NF_CTX, "bpf_nf_ctx"),
    (contexts.BPF_SOCK_OPS, "bpf_sock_ops"),
])
def test_socket_context_offsets_match_kernel_btf(ctx, struct: str) -> None:
    vmlinux = btf_mod.BTF.kernel()
    for name, field in ctx.fields.items():
        if name in ("args", "reply", "replylong"):  # members of an anonymous union
            continue
        assert field.offset == vmlinux.member_offset(struct, name), (struct, name)


@needs_btf
def test_tracing_contexts_from_btf() -> None:
    sw = contexts.tracing_context("tp_btf", "sched_switch")
    assert {"preempt", "prev", "next"} <= set(sw.fields)
    assert sw.fields["prev"].offset == 8  # after `bool preempt`
    fx = contexts.tracing_context("fexit", "do_unlinkat")
    assert fx.fields["ret"].offset == 8 * 2 and fx.fields["ret"].type == bpf.i64
    with pytest.raises(bpf.BTFError, match="no kernel function 'nope_nope'"):
        contexts.tracing_context("fentry", "nope_nope")
    with pytest.raises(bpf.BTFError, match="no BPF iterator"):
        contexts.iter_context("nope_nope")


def test_library_name_patterns() -> None:
    pat = _library_patterns("c")
    assert pat.match("libc.so.6") and pat.match("libc.so") and pat.match("libc-2.31.so")
    assert not pat.match("libcrypt.so.1")
    assert _library_patterns("libssl.so.3").match("libssl.so.3")


def test_elf_symbols_of_the_running_interpreter() -> None:
    exe = os.path.realpath(sys.executable)
    syms = elf_symbols(exe)
    if "Py_Initialize" not in syms.symbols:
        pytest.skip("this Python exports no symbols (statically linked into libpython?)")
    addr = syms.address("Py_Initialize")
    assert syms.offset_to_vaddr(syms.offset("Py_Initialize")) == addr
    assert syms.lookup(addr) == ("Py_Initialize", 0)


def test_symbolize_user_on_own_process() -> None:
    import ctypes

    libc = ctypes.CDLL(None)
    addr = ctypes.cast(libc.getpid, ctypes.c_void_p).value
    (name,) = symbolize_user(os.getpid(), [addr])
    assert "getpid" in name


def test_kallsyms_parser(tmp_path: Path) -> None:
    f = tmp_path / "kallsyms"
    f.write_text("ffffffff81000000 T _stext\nffffffff81000100 T do_thing\n"
                 "ffffffff81000200 t helper [mod]\n0000000000000000 A fixed_percpu_data\n")
    k = Kallsyms(str(f))
    assert k.usable
    assert k.lookup(0xFFFFFFFF81000105) == ("do_thing", 5)
    assert k.lookup(0xFFFFFFFF81000200) == ("helper", 0)
    assert k.address("do_thing") == 0xFFFFFFFF81000100
    assert k.lookup(0x10) is None
    zero = tmp_path / "zero"
    zero.write_text("0000000000000000 T _stext\n")
    assert not Kallsyms(str(zero)).usable
