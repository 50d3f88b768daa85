"""CO-RE: kernel-struct member offsets are relocations, resolved where the object loads.

The programs are compiled against a synthetic BTF whose ``task_struct`` has the
members they read (``tgid``, ``pid``, ``real_parent``) at offsets nothing like
this kernel's, then loaded on this kernel (by pyebpf's loader, and by bpftool,
i.e. libbpf) and run by the test's own system calls: the values they read are
right only if every member access was relocated against this kernel's BTF.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import btf as B
from pyebpf import links, u32, u64
from pyebpf.elf import read_object

out = bpf.ArrayMap(u64, max_entries=10)  # 3 slots per program; [9]: the tgid to watch
WATCH = 9

# The synthetic layout: byte offsets of the members the programs read.
FAKE = {"real_parent": 8, "tgid": 16, "pid": 40}
FAKE_SIZE = 64


def record(base: u32, tgid: u64, pid: u64, ppid: u64) -> None:
    out[base] = tgid
    out[base + 1] = pid
    out[base + 2] = ppid


@bpf.tracepoint("syscalls/sys_enter_getppid")
def trusted(ctx) -> int:
    task = bpf.get_current_task_btf()  # a trusted pointer: direct loads
    if u64(task.tgid) != out.get(WATCH, 0):
        return 0
    record(0, u64(task.tgid), u64(task.pid), u64(task.real_parent.tgid))
    return 0


@bpf.raw_tracepoint("sys_enter")
def trusted_raw(ctx) -> int:
    task = bpf.get_current_task_btf()
    if u64(task.tgid) != out.get(WATCH, 0):
        return 0
    record(3, u64(task.tgid), u64(task.pid), u64(task.real_parent.tgid))
    return 0


@bpf.raw_tracepoint("sys_enter")
def probe_read(ctx) -> int:
    task = bpf.kernel.task_struct(bpf.get_current_task())  # a plain address: probe reads
    if u64(task.tgid) != out.get(WATCH, 0):
        return 0
    record(6, u64(task.tgid), u64(task.pid), u64(task.real_parent.tgid))
    return 0


def fake_vmlinux(path: Path) -> None:
    """A BTF with ``int`` and a ``task_struct`` laid out as FAKE says."""
    b = B.BTFBuilder()
    int_id = b.add(B.Int("int", size=4, encoding=B.INT_SIGNED, bits=32))
    ptr_id = b.add(B.Ptr("", type=int_id + 2))  # -> task_struct, added next
    members = sorted(
        (B.Member(name, ptr_id if name == "real_parent" else int_id, offset * 8)
         for name, offset in FAKE.items()),
        key=lambda m: m.bit_offset)
    b.add(B.Struct("task_struct", size=FAKE_SIZE, members=tuple(members)))
    path.write_bytes(b.to_bytes())


@pytest.fixture(scope="module")
def portable_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three programs compiled against the synthetic BTF, written to a file."""
    tmp = tmp_path_factory.mktemp("core")
    fake = tmp / "fake_vmlinux.btf"
    fake_vmlinux(fake)
    obj = tmp / "portable.o"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYEBPF_KERNEL_BTF", str(fake))
        assert bpf.kernel.task_struct.size == FAKE_SIZE  # the compiler sees the fake layout
        bpf.compile(trusted, trusted_raw, probe_read, path=obj)
    assert bpf.kernel.task_struct.size != FAKE_SIZE  # and afterwards this kernel's again
    return obj


def relocated_values(data: bytes, prog: str) -> list[tuple[str, int]]:
    """(access path, value in the instruction) of each CO-RE relocation of ``prog``."""
    spec = read_object(data)
    insns = spec.programs[prog].insns
    local = B.BTF.from_bytes(spec.btf)
    found = []
    for relo in spec.extra["core_relos"][prog]:
        assert relo.kind == 0  # FIELD_BYTE_OFFSET
        code, _, off, imm = struct.unpack_from("<BBhi", insns, relo.insn_off * 8)
        value = off if code & 0x07 in (0x01, 0x02, 0x03) else imm  # load/store: offset
        root = local.resolved(relo.type_id)
        member = root.members[int(relo.access.split(":")[1])].name
        flavorless = root.name.split("___")[0]  # task_struct___pyebpf3: a flavor of task_struct
        found.append((f"{flavorless}.{member}", value))
    return found


@pytest.mark.parametrize("prog", ["trusted", "trusted_raw", "probe_read"])
def test_object_carries_field_offset_relocations(portable_object: Path, prog: str) -> None:
    found = relocated_values(portable_object.read_bytes(), prog)
    names = {name for name, _ in found}
    assert names == {"task_struct.tgid", "task_struct.pid", "task_struct.real_parent"}
    for name, value in found:  # compiled with the synthetic offsets
        assert value == FAKE[name.rsplit(".", 1)[1]], name


def test_this_kernels_offsets_differ_from_the_synthetic_ones() -> None:
    vmlinux = B.BTF.kernel()
    for name, offset in FAKE.items():
        assert vmlinux.member_offset("task_struct", name) != offset


def expected() -> list[int]:
    return [os.getpid(), threading.get_native_id(), os.getppid()]


def watch_me(out_map: bpf.Map) -> None:
    """Clear the result slots, and have the programs watch this process."""
    for slot in range(9):
        out_map[_key(slot)] = _u64(0)
    out_map[_key(WATCH)] = _u64(os.getpid())


def results(out_map: bpf.Map) -> list[int]:
    return [int.from_bytes(out_map[_key(slot)], "little") for slot in range(9)]


def _key(slot: int) -> bytes:  # a map of an object loaded from a file is untyped
    return slot.to_bytes(4, "little")


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "little")


def test_pyebpf_loader_relocates_for_this_kernel(portable_object: Path) -> None:
    with bpf.Object.from_file(portable_object) as obj:
        m = obj.maps["out"]
        watch_me(m)
        with links.attach_tracepoint(obj.programs["trusted"], "syscalls/sys_enter_getppid"), \
                links.attach_raw_tracepoint(obj.programs["trusted_raw"], "sys_enter"), \
                links.attach_raw_tracepoint(obj.programs["probe_read"], "sys_enter"):
            os.getppid()
        got = results(m)
    assert got[0:3] == expected()  # tracepoint, trusted pointer
    assert got[3:6] == expected()  # raw tracepoint, trusted pointer
    assert got[6:9] == expected()  # raw tracepoint, bpf_probe_read_kernel


def test_bpftool_loads_the_same_object(portable_object: Path, bpffs: str) -> None:
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    tag = uuid.uuid4().hex[:8]
    progs, maps = Path(bpffs) / f"pyebpf-core-{tag}", Path(bpffs) / f"pyebpf-core-maps-{tag}"
    try:
        done = subprocess.run([bpftool, "prog", "loadall", str(portable_object), str(progs),
                               "pinmaps", str(maps)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        m = bpf.Map.from_pinned(maps / "out", btf=False)
        watch_me(m)
        trusted_p = bpf.Program.from_pinned(progs / "trusted")
        raw_p = bpf.Program.from_pinned(progs / "trusted_raw")
        probe_p = bpf.Program.from_pinned(progs / "probe_read")
        with links.attach_tracepoint(trusted_p, "syscalls/sys_enter_getppid"), \
                links.attach_raw_tracepoint(raw_p, "sys_enter"), \
                links.attach_raw_tracepoint(probe_p, "sys_enter"):
            os.getppid()
        assert results(m) == expected() * 3
        for p in (trusted_p, raw_p, probe_p):
            p.close()
        m.close()
    finally:
        shutil.rmtree(progs, ignore_errors=True)
        shutil.rmtree(maps, ignore_errors=True)
