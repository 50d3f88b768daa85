"""The syscall wrappers with the funnel replaced: no kernel involved."""

from __future__ import annotations

import errno
import struct

import pytest

from pyebpf._native import syscalls as sc
from pyebpf._native.cdef import ffi
from pyebpf.constants import Cmd
from pyebpf.errors import SyscallError


class FakeKernel:
    """Records each call; answers with the queued results (ints, or callables of the attr)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[tuple[int, object, int]] = []

    def __call__(self, cmd, attr, size):
        self.calls.append((cmd, attr, size))
        answer = self.answers.pop(0) if self.answers else 0
        return answer(attr) if callable(answer) else answer


def test_failure_becomes_syscall_error_named_after_the_command():
    with sc.replaced_funnel(FakeKernel(-errno.EPERM)), pytest.raises(SyscallError) as exc:
        sc.map_create(1, 4, 8, 1)
    assert exc.value.op == "BPF_MAP_CREATE"
    assert exc.value.errno == errno.EPERM
    assert "CAP_BPF" in str(exc.value)


def test_replaced_funnel_is_restored():
    fake = FakeKernel(5)
    with sc.replaced_funnel(fake):
        assert sc.map_create(1, 4, 8, 1) == 5
    assert sc._funnel is sc._kernel_funnel


def test_map_create_fills_the_attr():
    fake = FakeKernel(9)
    with sc.replaced_funnel(fake):
        sc.map_create(2, 4, 16, 100, flags=0x400, name="a_very_long_map_name", btf_fd=3,
                      btf_key_type_id=4, btf_value_type_id=5, inner_map_fd=6)
    cmd, attr, size = fake.calls[0]
    assert cmd == Cmd.MAP_CREATE
    assert size == ffi.sizeof("struct bpf_attr_map_create")
    assert (attr.map_type, attr.key_size, attr.value_size, attr.max_entries) == (2, 4, 16, 100)
    assert attr.map_flags == 0x400 and attr.inner_map_fd == 6
    assert (attr.btf_fd, attr.btf_key_type_id, attr.btf_value_type_id) == (3, 4, 5)
    # names are cut to 15 bytes + NUL (BPF_OBJ_NAME_LEN)
    assert ffi.string(attr.map_name) == b"a_very_long_map"


def test_lookup_copies_the_value_out_and_maps_enoent_to_none():
    def answer(attr):
        key = ffi.cast("uint32_t *", attr.key)[0]
        assert key == 7
        ffi.memmove(ffi.cast("char *", attr.value), b"abcdefgh", 8)
        return 0

    with sc.replaced_funnel(FakeKernel(answer, -errno.ENOENT)):
        assert sc.map_lookup(3, struct.pack("<I", 7), 8) == b"abcdefgh"
        assert sc.map_lookup(3, struct.pack("<I", 8), 8) is None


def test_other_errors_are_not_swallowed():
    with sc.replaced_funnel(FakeKernel(-errno.E2BIG)), pytest.raises(SyscallError) as exc:
        sc.map_update(3, b"k" * 4, b"v" * 8)
    assert exc.value.errno == errno.E2BIG
    with sc.replaced_funnel(FakeKernel(-errno.EINVAL)), pytest.raises(SyscallError):
        sc.map_delete(3, b"k" * 4)


def test_empty_key_is_passed_as_null():
    fake = FakeKernel(0)
    with sc.replaced_funnel(fake):
        sc.map_update(3, b"", b"\1\0\0\0")
    attr = fake.calls[0][1]
    assert attr.key == 0 and attr.value != 0


def test_lookup_batch_end_marker():
    def last_chunk(attr):
        attr.count = 2
        ffi.memmove(ffi.cast("char *", attr.keys), b"\1\0\0\0\2\0\0\0", 8)
        return -errno.ENOENT

    with sc.replaced_funnel(FakeKernel(last_chunk)):
        res = sc.map_lookup_batch(3, None, 4, 8, 16)
    assert res.done and res.count == 2
    assert res.keys == b"\1\0\0\0\2\0\0\0"
    assert len(res.values) == 16


def test_prog_load_retries_with_a_growing_log():
    sizes: list[tuple[int, int]] = []

    def failing(message: str, err: int, true_size: int = 0):
        def answer(attr):
            sizes.append((attr.log_level, attr.log_size))
            if attr.log_size:
                raw = message.encode()[: attr.log_size - 1]
                ffi.memmove(ffi.cast("char *", attr.log_buf), raw, len(raw))
            attr.log_true_size = true_size
            return -err

        return answer

    fake = FakeKernel(
        failing("", errno.EACCES),  # fast path without a log
        failing("partial", errno.ENOSPC, true_size=200_000),
        failing("0: (95) exit\nR0 !read_ok\nprocessed 1 insns\n", errno.EACCES),
    )
    with sc.replaced_funnel(fake), pytest.raises(sc.ProgLoadError) as exc:
        sc.prog_load(3, b"\x95" + bytes(7), "GPL")
    assert sizes[0] == (0, 0)
    assert sizes[1] == (1, 64 * 1024)
    assert sizes[2][0] == 1 and sizes[2][1] > 200_000
    err = exc.value
    assert err.errno == errno.EACCES
    assert "R0 !read_ok" in err.log
    assert "verifier: R0 !read_ok" in str(err)
    assert isinstance(err, SyscallError)


def test_prog_load_passes_infos_and_counts():
    fake = FakeKernel(11)
    fi = struct.pack("<II", 0, 1) * 2
    li = bytes(16) * 3
    with sc.replaced_funnel(fake):
        res = sc.prog_load(3, bytes(16), "Dual MIT/GPL", name="p", prog_btf_fd=4, func_info=fi,
                           line_info=li, fd_array=[5, 6])
    assert res.fd == 11 and res.log == ""
    attr = fake.calls[0][1]
    assert attr.insn_cnt == 2
    assert (attr.func_info_cnt, attr.func_info_rec_size) == (2, 8)
    assert (attr.line_info_cnt, attr.line_info_rec_size) == (3, 16)
    assert ffi.string(ffi.cast("char *", attr.license)) == b"Dual MIT/GPL"
    assert list(ffi.cast("int *", attr.fd_array)[0:2]) == [5, 6]


def test_next_id_end_is_none():
    with sc.replaced_funnel(FakeKernel(-errno.ENOENT)):
        assert sc.prog_get_next_id(0) is None

    def answer(attr):
        attr.next_id = 42
        return 0

    with sc.replaced_funnel(FakeKernel(answer)):
        assert sc.map_get_next_id(0) == 42


def test_link_create_unions():
    fake = FakeKernel(3, 4, 5)
    with sc.replaced_funnel(fake):
        sc.link_create(1, 2, 45, netfilter=(2, 1, -128, 0))
        sc.link_create(1, 2, 46, tcx_relative=(7, 3))
        sc.link_create(1, -1, 48, uprobe_multi={"path": "/bin/true", "offsets": [16, 32],
                                                 "pid": 99})
    nf = fake.calls[0][1].netfilter
    assert (nf.pf, nf.hooknum, nf.priority) == (2, 1, -128)
    tcx = fake.calls[1][1].tcx
    assert (tcx.relative_fd, tcx.expected_revision) == (7, 3)
    um = fake.calls[2][1].uprobe_multi
    assert um.cnt == 2 and um.pid == 99
    assert list(ffi.cast("uint64_t *", um.offsets)[0:2]) == [16, 32]


def test_log_reason_skips_trailers():
    log = "0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000)\n"
    assert sc.log_reason(log) == "R0 !read_ok"
    assert sc.log_reason("") == ""
