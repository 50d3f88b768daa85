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
import socket
import struct
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import btf as B
from pyebpf import links, u16, u32, u64
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


# ---------------------------------------------------------------- bitfields

# A synthetic layout whose bitfields sit at other bits, in storage of other sizes, than
# this kernel's (task_struct's is an unsigned int :1 here, tcp_sock's an unsigned char :4):
# (struct, size, members as (name, type, bit offset, bitfield bits)).
FAKE_BITS = [
    ("sock_common", 64, [("skc_num", "unsigned short", 40 * 8, 0)]),
    ("task_struct", 256, [("tgid", "int", 16 * 8, 0),
                          ("sched_reset_on_fork", "unsigned char", 100 * 8 + 5, 1)]),
    ("sock", 512, [("__sk_common", "sock_common", 0, 0),
                   ("sk_no_check_tx", "unsigned short", 300 * 8 + 11, 1)]),
    ("tcp_sock", 1024, [("nonagle", "unsigned int", 600 * 8 + 17, 4)]),
]
_INT_TYPES = {"int": (4, B.INT_SIGNED), "unsigned char": (1, 0), "unsigned short": (2, 0),
              "unsigned int": (4, 0)}

bits = bpf.ArrayMap(u64, max_entries=4)  # [0] trusted, [1] probe-read, [2] runs; [3] tgid
ports = bpf.HashMap(u16, u64, max_entries=64)  # local port -> sk_no_check_tx | nonagle << 8
SYN_SENT = 2  # include/net/tcp_states.h: TCP_SYN_SENT


@bpf.tracepoint("syscalls/sys_enter_getppid")
def task_bitfield(ctx) -> int:
    task = bpf.get_current_task_btf()
    if u64(task.tgid) != bits.get(3, 0):
        return 0
    bits[0] = task.sched_reset_on_fork  # a trusted load, of the relocated width
    bits[1] = bpf.kernel.task_struct(bpf.get_current_task()).sched_reset_on_fork  # probe read
    bits.increment(2)
    return 0


@bpf.raw_tracepoint("inet_sock_set_state")
def sock_bitfields(ctx) -> int:
    # TP_PROTO(const struct sock *sk, const int oldstate, const int newstate)
    if bpf.get_current_pid_tgid() >> 32 != bits.get(3, 0) or ctx.args[2] != SYN_SENT:
        return 0
    sk = bpf.kernel.sock(ctx.args[0])
    tp = bpf.kernel.tcp_sock(ctx.args[0])
    ports[sk.__sk_common.skc_num] = u64(sk.sk_no_check_tx) | u64(tp.nonagle) << 8
    return 0


def fake_bitfields_vmlinux(path: Path) -> None:
    b = B.BTFBuilder()
    ids = {name: b.add(B.Int(name, size=size, encoding=enc, bits=size * 8))
           for name, (size, enc) in _INT_TYPES.items()}
    for name, size, members in FAKE_BITS:
        ids[name] = b.add(B.Struct(name, size=size, members=tuple(
            B.Member(m, ids[t], bit_offset, width) for m, t, bit_offset, width in members)))
    path.write_bytes(b.to_bytes())


@pytest.fixture(scope="module")
def bitfields_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("core-bits")
    fake = tmp / "fake_vmlinux.btf"
    fake_bitfields_vmlinux(fake)
    obj = tmp / "bitfields.o"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYEBPF_KERNEL_BTF", str(fake))
        kf = bpf.kernel.tcp_sock.field("nonagle")
        assert (kf.offset, kf.bit_shift) == (602, 1)  # the fake layout
        bpf.compile(task_bitfield, sock_bitfields, path=obj)
    return obj


def test_this_kernels_bitfields_sit_elsewhere() -> None:
    vmlinux = B.BTF.kernel()
    for struct_name, _, members in FAKE_BITS[1:]:
        for name, type_name, bit_offset, width in members:
            if width:
                member, offset = vmlinux._find_member(
                    vmlinux.find(struct_name, "struct").id, name)
                assert (offset, vmlinux.resolved(member.type).name) != (bit_offset, type_name)


def test_bitfield_relocations_resolve_to_this_kernels_storage(bitfields_object: Path) -> None:
    spec = read_object(bitfields_object.read_bytes())
    local, vmlinux = B.BTF.from_bytes(spec.btf), B.BTF.kernel()
    found: dict[tuple[str, int], set[int]] = {}
    for relo in spec.extra["core_relos"]["sock_bitfields"]:
        member = local.resolved(relo.type_id).members[int(relo.access.split(":")[-1])].name
        found.setdefault((member, relo.kind), set()).add(B.core_relocate(local, relo, vmlinux))
    # tcp_sock.nonagle: u8 :4 at bit 13128 on this kernel
    bit = vmlinux.member_bit_offset("tcp_sock", "nonagle")[0]
    assert found[("nonagle", B.CORE_FIELD_BYTE_OFFSET)] == {bit // 8}
    assert found[("nonagle", B.CORE_FIELD_BYTE_SIZE)] == {1}
    assert found[("nonagle", B.CORE_FIELD_LSHIFT_U64)] == {64 - (bit % 8 + 4)}
    assert found[("nonagle", B.CORE_FIELD_RSHIFT_U64)] == {60}


def _connect(listener: socket.socket, *options: tuple[int, int, object]) -> int:
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for level, name, value in options:
        c.setsockopt(level, name, value)
    c.bind(("127.0.0.1", 0))
    port = c.getsockname()[1]
    c.connect(listener.getsockname())
    listener.accept()[0].close()
    c.close()
    return port


SO_NO_CHECK = 11  # include/uapi/asm-generic/socket.h


def _read_bitfields(task_prog: bpf.Program, sock_prog: bpf.Program, bits_map: bpf.Map,
                    ports_map: bpf.Map) -> tuple[list[list[int]], list[int]]:
    """Run both programs on this process's sched_reset_on_fork (set, then cleared) and on
    sockets with options set: (bits slots after each getppid, packed bits per socket)."""
    bits_map[_key(3)] = _u64(os.getpid())
    param = os.sched_param(0)
    before = os.sched_getscheduler(0)
    task_seen = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with links.attach_tracepoint(task_prog, "syscalls/sys_enter_getppid"), \
            links.attach_raw_tracepoint(sock_prog, "inet_sock_set_state"):
        try:
            for policy in (os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, os.SCHED_OTHER):
                os.sched_setscheduler(0, policy, param)
                os.getppid()
                task_seen.append([int.from_bytes(bits_map[_key(k)], "little")
                                  for k in range(3)])
        finally:
            os.sched_setscheduler(0, before, param)
        socks = [
            _connect(listener),
            _connect(listener, (socket.SOL_SOCKET, SO_NO_CHECK, 1)),
            _connect(listener, (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)),
            _connect(listener, (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
                     (socket.IPPROTO_TCP, socket.TCP_CORK, 1)),
        ]
    listener.close()
    return task_seen, [int.from_bytes(ports_map[p.to_bytes(2, "little")], "little")
                       for p in socks]


# include/net/tcp.h: TCP_NAGLE_OFF 1, TCP_NAGLE_CORK 2, TCP_NAGLE_PUSH 4
WANTED_SOCKS = [0, 1, (1 | 4) << 8, (1 | 2 | 4) << 8]
WANTED_TASK = [[1, 1, 1], [0, 0, 2]]


def test_relocated_bitfields_read_this_kernels_values(bitfields_object: Path) -> None:
    with bpf.Object.from_file(bitfields_object) as obj:
        task_seen, socks = _read_bitfields(obj.programs["task_bitfield"],
                                           obj.programs["sock_bitfields"],
                                           obj.maps["bits"], obj.maps["ports"])
    assert task_seen == WANTED_TASK
    assert socks == WANTED_SOCKS


def test_bpftool_relocates_the_bitfields_too(bitfields_object: Path, bpffs: str) -> None:
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    tag = uuid.uuid4().hex[:8]
    progs, maps = Path(bpffs) / f"pyebpf-bits-{tag}", Path(bpffs) / f"pyebpf-bits-maps-{tag}"
    try:
        done = subprocess.run([bpftool, "prog", "loadall", str(bitfields_object), str(progs),
                               "pinmaps", str(maps)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        with bpf.Map.from_pinned(maps / "bits", btf=False) as bits_map, \
                bpf.Map.from_pinned(maps / "ports", btf=False) as ports_map, \
                bpf.Program.from_pinned(progs / "task_bitfield") as task_prog, \
                bpf.Program.from_pinned(progs / "sock_bitfields") as sock_prog:
            task_seen, socks = _read_bitfields(task_prog, sock_prog, bits_map, ports_map)
        assert task_seen == WANTED_TASK
        assert socks == WANTED_SOCKS
    finally:
        shutil.rmtree(progs, ignore_errors=True)
        shutil.rmtree(maps, ignore_errors=True)


# ---------------------------------------------------------------- member widths

# task_struct.flags is an unsigned int on this kernel and start_time a u64; the synthetic
# layout has them the other way round (and elsewhere).
FAKE_WIDTHS = [("tgid", "int", 8), ("flags", "unsigned long long", 16),
               ("start_time", "unsigned int", 40)]
widths = bpf.ArrayMap(u64, max_entries=4)  # [3]: the tgid to watch


@bpf.tracepoint("syscalls/sys_enter_getppid")
def member_widths(ctx) -> int:
    task = bpf.get_current_task_btf()
    if u64(task.tgid) != widths.get(3, 0):
        return 0
    widths[0] = u64(task.flags)  # a trusted load whose width the loader patches
    plain = bpf.kernel.task_struct(bpf.get_current_task())
    widths[1] = u64(plain.flags)  # probe reads of the relocated size
    widths[2] = u64(plain.start_time)
    return 0


def fake_widths_vmlinux(path: Path) -> None:
    b = B.BTFBuilder()
    ids = {name: b.add(B.Int(name, size=size, encoding=0 if name.startswith("u") else
                             B.INT_SIGNED, bits=size * 8))
           for name, size in (("int", 4), ("unsigned int", 4), ("unsigned long long", 8))}
    b.add(B.Struct("task_struct", size=64, members=tuple(
        B.Member(name, ids[t], offset * 8) for name, t, offset in FAKE_WIDTHS)))
    path.write_bytes(b.to_bytes())


def test_members_of_other_widths_read_this_kernels_values(tmp_path: Path) -> None:
    fake, obj_path = tmp_path / "fake.btf", tmp_path / "widths.o"
    fake_widths_vmlinux(fake)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYEBPF_KERNEL_BTF", str(fake))
        assert bpf.kernel.task_struct.field("flags").type.size == 8
        bpf.compile(member_widths, path=obj_path)
    vmlinux = B.BTF.kernel()
    assert [vmlinux.size_of(vmlinux.member_bit_offset("task_struct", m)[1])
            for m in ("flags", "start_time")] == [4, 8]
    member_widths.load()  # the same program compiled for this kernel: the reference
    with bpf.Object.from_file(obj_path) as obj:
        m = obj.maps["widths"]
        m[_key(3)] = _u64(os.getpid())
        widths[3] = os.getpid()
        with links.attach_tracepoint(obj.programs["member_widths"],
                                     "syscalls/sys_enter_getppid"), member_widths.attach():
            os.getppid()
        got = [int.from_bytes(m[_key(k)], "little") for k in range(3)]
    native = [widths[k] for k in range(3)]
    member_widths.close()
    assert native[2] > 1 << 32  # start_time (ns since boot) does not fit the fake u32
    assert got == [native[0], native[1], native[2] & 0xFFFFFFFF]  # read as a u32 here
    assert native[0] == native[1] != 0


# ---------------------------------------------------------------- enum members

# socket.state is an enum (socket_state) on this kernel; the synthetic layout has it, and
# the members on the way to it, elsewhere. The object describes it as an enum: libbpf
# matches an int member only with an int.
FAKE_SOCKET = [("sock_common", 64, [("skc_num", "unsigned short", 40)]),
               ("socket", 64, [("state", "socket_state", 24)]),
               ("sock", 512, [("__sk_common", "sock_common", 0), ("sk_socket", "socket *", 400)])]
SOCKET_STATES = ("SS_FREE", "SS_UNCONNECTED", "SS_CONNECTING", "SS_CONNECTED",
                 "SS_DISCONNECTING")
TCP_ESTABLISHED, TCP_SYN_SENT, TCP_FIN_WAIT1 = 1, 2, 4  # include/net/tcp_states.h

sock_states = bpf.HashMap(u32, u64, max_entries=64)  # port << 8 | new TCP state -> state
state_watch = bpf.ArrayMap(u64, max_entries=1)  # the tgid to watch


@bpf.raw_tracepoint("inet_sock_set_state")
def socket_state(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != state_watch.get(0, 0):
        return 0
    sk = bpf.kernel.sock(ctx.args[0])
    sock_states[u32(sk.__sk_common.skc_num) << 8 | u32(ctx.args[2])] = u64(sk.sk_socket.state)
    return 0


def fake_socket_vmlinux(path: Path) -> None:
    b = B.BTFBuilder()
    ids = {"unsigned short": b.add(B.Int("unsigned short", size=2, encoding=0, bits=16)),
           "socket_state": b.add(B.Enum("", 4, tuple(
               B.EnumValue(name, value) for value, name in enumerate(SOCKET_STATES))))}
    ids["socket *"] = b.add(B.Ptr("", type=ids["socket_state"] + 3))  # -> socket, added second
    for name, size, members in FAKE_SOCKET:
        ids[name] = b.add(B.Struct(name, size=size, members=tuple(
            B.Member(m, ids[t], offset * 8) for m, t, offset in members)))
    assert ids["socket"] == ids["socket *"] + 2
    path.write_bytes(b.to_bytes())


@pytest.fixture(scope="module")
def enum_object(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("core-enum")
    fake = tmp / "fake_vmlinux.btf"
    fake_socket_vmlinux(fake)
    obj = tmp / "enum.o"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYEBPF_KERNEL_BTF", str(fake))
        assert bpf.kernel.socket.field("state").offset == 24  # the fake layout
        bpf.compile(socket_state, path=obj)
    return obj


def this_kernels_socket_states() -> dict[str, int]:
    vmlinux = B.BTF.kernel()
    member, _ = vmlinux._find_member(vmlinux.find("socket", "struct").id, "state")
    enum = vmlinux.resolved(member.type)
    assert isinstance(enum, B.Enum)
    return {v.name: v.value for v in enum.values}


def test_enum_member_is_an_enum_in_the_object(enum_object: Path) -> None:
    local = B.BTF.from_bytes(read_object(enum_object.read_bytes()).btf)
    socket_t = next(local.type(i) for i in range(1, len(local))
                    if local.type(i).name.startswith("socket___"))
    (state,) = socket_t.members
    enum = local.resolved(state.type)
    assert isinstance(enum, B.Enum) and enum.kind == "enum"
    assert [v.name for v in enum.values] == list(SOCKET_STATES)
    assert B.BTF.kernel().member_offset("socket", "state") != 24


def _socket_states(prog: bpf.Program, states_map: bpf.Map, watch_map: bpf.Map) -> list[int]:
    """socket.state as the program saw it when this process's client socket went to
    SYN_SENT (in connect, before it is marked connecting and has a port),
    ESTABLISHED (connect waiting) and FIN_WAIT1 (connected, closed first)."""
    watch_map[_key(0)] = _u64(os.getpid())
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with links.attach_raw_tracepoint(prog, "inet_sock_set_state"):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect(listener.getsockname())
        port = client.getsockname()[1]
        server, _ = listener.accept()
        client.close()
        server.close()
    listener.close()
    keys = [TCP_SYN_SENT, port << 8 | TCP_ESTABLISHED, port << 8 | TCP_FIN_WAIT1]
    return [int.from_bytes(states_map[key.to_bytes(4, "little")], "little") for key in keys]


def test_enum_member_reads_this_kernels_value(enum_object: Path) -> None:
    states = this_kernels_socket_states()
    with bpf.Object.from_file(enum_object) as obj:
        got = _socket_states(obj.programs["socket_state"], obj.maps["sock_states"],
                             obj.maps["state_watch"])
    assert got == [states[s] for s in ("SS_UNCONNECTED", "SS_CONNECTING", "SS_CONNECTED")]


def test_bpftool_matches_the_enum_member(enum_object: Path, bpffs: str) -> None:
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    tag = uuid.uuid4().hex[:8]
    progs, maps = Path(bpffs) / f"pyebpf-enum-{tag}", Path(bpffs) / f"pyebpf-enum-maps-{tag}"
    try:
        done = subprocess.run([bpftool, "prog", "loadall", str(enum_object), str(progs),
                               "pinmaps", str(maps)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr  # an int member would not match the enum
        with bpf.Map.from_pinned(maps / "sock_states", btf=False) as states_map, \
                bpf.Map.from_pinned(maps / "state_watch", btf=False) as watch_map, \
                bpf.Program.from_pinned(progs / "socket_state") as prog:
            got = _socket_states(prog, states_map, watch_map)
        states = this_kernels_socket_states()
        assert got == [states[s] for s in ("SS_UNCONNECTED", "SS_CONNECTING", "SS_CONNECTED")]
    finally:
        shutil.rmtree(progs, ignore_errors=True)
        shutil.rmtree(maps, ignore_errors=True)


# ---------------------------------------------------------------- incompatible members

kinds = bpf.ArrayMap(u64, max_entries=1)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def comm_as_int(ctx) -> int:
    task = bpf.get_current_task_btf()
    kinds[0] = u64(task.comm)  # an unsigned int in the synthetic BTF, char[16] here
    return 0


def test_member_of_another_kind_is_refused_at_its_line(tmp_path: Path) -> None:
    b = B.BTFBuilder()
    uint = b.add(B.Int("unsigned int", size=4, encoding=0, bits=32))
    b.add(B.Struct("task_struct", size=64, members=(B.Member("comm", uint, 8 * 8),)))
    fake, obj_path = tmp_path / "fake.btf", tmp_path / "kinds.o"
    fake.write_bytes(b.to_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYEBPF_KERNEL_BTF", str(fake))
        bpf.compile(comm_as_int, path=obj_path)
    vmlinux = B.BTF.kernel()
    comm = vmlinux.resolved(vmlinux.member_bit_offset("task_struct", "comm")[1])
    assert isinstance(comm, B.Array)  # libbpf matches an int member only with an int
    with pytest.raises(bpf.VerifierError) as err:
        bpf.Object.from_file(obj_path)
    source = Path(__file__).read_text().splitlines()
    assert source[err.value.lineno - 1].strip().startswith("kinds[0] = u64(task.comm)")
    assert err.value.filename == __file__
    assert "task.comm" in err.value.source_line
    assert "CO-RE relocation" in str(err.value)
