"""The bpf() wrappers against the real kernel."""

from __future__ import annotations

import errno
import os
import struct
import uuid

import pytest

from pyebpf import constants as C
from pyebpf._native import syscalls as sc
from pyebpf.errors import SyscallError

from . import asm

u32 = struct.Struct("<I")
u64 = struct.Struct("<Q")


@pytest.fixture
def fds():
    opened: list[int] = []
    yield opened
    for fd in opened:
        sc.close(fd)


def hash_map(fds, max_entries=16, **kw):
    fd = sc.map_create(C.MapType.HASH, 4, 8, max_entries, **kw)
    fds.append(fd)
    return fd


def test_map_roundtrip(fds):
    fd = hash_map(fds, name="roundtrip")
    assert sc.map_lookup(fd, u32.pack(1), 8) is None
    sc.map_update(fd, u32.pack(1), u64.pack(42))
    assert sc.map_lookup(fd, u32.pack(1), 8) == u64.pack(42)
    with pytest.raises(SyscallError) as exc:
        sc.map_update(fd, u32.pack(1), u64.pack(7), C.BPF_NOEXIST)
    assert exc.value.errno == errno.EEXIST
    assert exc.value.op == "BPF_MAP_UPDATE_ELEM"
    assert sc.map_delete(fd, u32.pack(1)) is True
    assert sc.map_delete(fd, u32.pack(1)) is False


def test_map_info_and_fd_by_id(fds):
    fd = hash_map(fds, max_entries=33, name="infomap")
    info = sc.map_info(fd)
    assert (info["type"], info["key_size"], info["value_size"], info["max_entries"]) == (
        C.MapType.HASH, 4, 8, 33)
    assert info["name"] == "infomap"
    fd2 = sc.map_get_fd_by_id(info["id"])
    fds.append(fd2)
    assert sc.map_info(fd2)["id"] == info["id"]
    # the id walk reaches our map
    seen, cur = set(), 0
    while (cur := sc.map_get_next_id(cur)) is not None:
        seen.add(cur)
    assert info["id"] in seen


def test_get_next_key_walks_all_keys(fds):
    fd = hash_map(fds)
    for k in (3, 5, 9):
        sc.map_update(fd, u32.pack(k), u64.pack(k * 10))
    keys, key = [], None
    while (key := sc.map_get_next_key(fd, key, 4)) is not None:
        keys.append(u32.unpack(key)[0])
    assert sorted(keys) == [3, 5, 9]


def test_queue_push_pop(fds):
    fd = sc.map_create(C.MapType.QUEUE, 0, 4, 8)
    fds.append(fd)
    for v in (1, 2, 3):
        sc.map_update(fd, b"", u32.pack(v))
    popped = [sc.map_lookup_and_delete(fd, None, 4) for _ in range(4)]
    assert popped == [u32.pack(1), u32.pack(2), u32.pack(3), None]


def test_batch_ops(fds):
    fd = hash_map(fds, max_entries=64)
    n = 40
    keys = b"".join(u32.pack(i) for i in range(n))
    values = b"".join(u64.pack(i * i) for i in range(n))
    assert sc.map_update_batch(fd, keys, values, n) == n
    got: dict[int, int] = {}
    token = None
    while True:
        res = sc.map_lookup_batch(fd, token, 4, 8, 16)
        for i in range(res.count):
            got[u32.unpack_from(res.keys, 4 * i)[0]] = u64.unpack_from(res.values, 8 * i)[0]
        if res.done:
            break
        token = res.out_batch
    assert got == {i: i * i for i in range(n)}
    assert sc.map_delete_batch(fd, keys[:40], 10) == 10
    assert sc.map_lookup(fd, u32.pack(0), 8) is None
    assert sc.map_lookup(fd, u32.pack(10), 8) == u64.pack(100)


def test_freeze_blocks_user_writes(fds):
    fd = sc.map_create(C.MapType.ARRAY, 4, 4, 1)
    fds.append(fd)
    sc.map_update(fd, u32.pack(0), u32.pack(5))
    sc.map_freeze(fd)
    with pytest.raises(SyscallError) as exc:
        sc.map_update(fd, u32.pack(0), u32.pack(6))
    assert exc.value.errno == errno.EPERM


def test_prog_load_and_test_run(fds):
    insns = asm.program(asm.mov64_imm(asm.R0, 7), asm.exit_())
    res = sc.prog_load(C.ProgramType.SCHED_CLS, insns, "GPL", name="seven")
    fds.append(res.fd)
    run = sc.prog_test_run(res.fd, data_in=bytes(64), data_size_out=64)
    assert run.retval == 7
    assert run.data_out == bytes(64)
    info = sc.prog_info(res.fd)
    assert info["name"] == "seven"
    assert info["type"] == C.ProgramType.SCHED_CLS
    assert len(info["tag"]) == 16
    assert sc.prog_xlated(res.fd) == insns


def test_prog_uses_map(fds):
    mfd = sc.map_create(C.MapType.ARRAY, 4, 8, 1)
    fds.append(mfd)
    sc.map_update(mfd, u32.pack(0), u64.pack(41))
    # r0 = *lookup(map, &0) + 1, or 0 if missing
    insns = asm.program(
        asm.st_imm(4, asm.R10, -4, 0),
        asm.mov64_reg(asm.R2, asm.R10),
        asm.add64_imm(asm.R2, -4),
        asm.ld_map_fd(asm.R1, mfd),
        asm.call(asm.MAP_LOOKUP_ELEM),
        asm.jne_imm(asm.R0, 0, 2),
        asm.mov64_imm(asm.R0, 0),
        asm.exit_(),
        asm.ldx(8, asm.R0, asm.R0, 0),
        asm.add64_imm(asm.R0, 1),
        asm.exit_(),
    )
    res = sc.prog_load(C.ProgramType.SCHED_CLS, insns, "GPL")
    fds.append(res.fd)
    assert sc.prog_test_run(res.fd, data_in=bytes(64)).retval == 42
    assert sc.prog_info(res.fd)["map_ids"] == [sc.map_info(mfd)["id"]]


def test_prog_load_failure_carries_log():
    with pytest.raises(sc.ProgLoadError) as exc:
        sc.prog_load(C.ProgramType.SCHED_CLS, asm.exit_(), "GPL")
    err = exc.value
    assert err.errno == errno.EACCES
    assert "R0 !read_ok" in err.log
    assert "R0 !read_ok" in str(err)


def test_syscall_program_run_with_ctx(fds):
    insns = asm.program(asm.ldx(4, asm.R0, asm.R1, 0), asm.add64_imm(asm.R0, 2), asm.exit_())
    res = sc.prog_load(C.ProgramType.SYSCALL, insns, "GPL", prog_flags=C.BPF_F_SLEEPABLE)
    fds.append(res.fd)
    # syscall programs reject repeat != 0
    assert sc.prog_test_run(res.fd, ctx_in=u32.pack(40), repeat=0).retval == 42


def test_pin_and_get(fds, bpffs):
    fd = hash_map(fds)
    path = f"{bpffs}/pyebpf_test_{uuid.uuid4().hex[:12]}"
    sc.obj_pin(fd, path)
    try:
        fd2 = sc.obj_get(path)
        fds.append(fd2)
        assert sc.map_info(fd2)["id"] == sc.map_info(fd)["id"]
    finally:
        os.unlink(path)
    with pytest.raises(SyscallError) as exc:
        sc.obj_get(path)
    assert exc.value.errno == errno.ENOENT


def test_btf_load_rejects_garbage_with_log():
    with pytest.raises(SyscallError) as exc:
        sc.btf_load(b"\x9f\xeb\x01\x00" + bytes(20))
    assert exc.value.op == "BPF_BTF_LOAD"


def test_raw_tracepoint_and_link_info(fds):
    insns = asm.program(asm.mov64_imm(asm.R0, 0), asm.exit_())
    res = sc.prog_load(C.ProgramType.RAW_TRACEPOINT, insns, "GPL")
    fds.append(res.fd)
    link = sc.raw_tracepoint_open("sys_enter", res.fd)
    fds.append(link)
    info = sc.link_info(link)
    assert info["type"] == C.LinkType.RAW_TRACEPOINT
    assert info["prog_id"] == sc.prog_info(res.fd)["id"]


def test_enable_stats_counts_runs(fds):
    stats = sc.enable_stats(C.StatsType.RUN_TIME)
    fds.append(stats)
    res = sc.prog_load(C.ProgramType.SCHED_CLS, asm.mov64_imm(0, 0) + asm.exit_(), "GPL")
    fds.append(res.fd)
    sc.prog_test_run(res.fd, data_in=bytes(64), repeat=5)
    # test_run does not go through the stats path for every type; the fd itself is the check
    assert os.readlink(f"/proc/self/fd/{stats}").startswith("anon_inode:")


def test_perf_event_software_clock(fds):
    fd = sc.perf_event_open(
        C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_CPU_CLOCK, pid=0, cpu=-1, disabled=True
    )
    fds.append(fd)
    sc.perf_event_ioc_enable(fd)
    sum(range(200000))
    sc.perf_event_ioc_disable(fd)
    count = u64.unpack(os.read(fd, 8))[0]
    assert count > 0


def test_fd_is_cloexec(fds):
    import fcntl

    fd = hash_map(fds)
    assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
