"""Loader logic without a kernel: relocation patching and verifier-error mapping."""

from __future__ import annotations

import errno
import struct

import pytest

from pyebpf import loader
from pyebpf._native import syscalls as sc
from pyebpf._native.cdef import ffi
from pyebpf.constants import Cmd, MapType, ProgramType
from pyebpf.errors import NotSupportedError, SyscallError, VerifierError
from pyebpf.spec import LineInfo, MapSpec, ObjectSpec, ProgramSpec, Relocation

INSN = struct.Struct("<BBhi")


def insn(code, dst=0, src=0, off=0, imm=0):
    return INSN.pack(code, src << 4 | dst, off, imm)


LD_IMM64 = insn(0x18, 1) + insn(0)
CALL = insn(0x85, src=1, imm=-1)
EXIT = insn(0x95)


class FakeKernel:
    """Hands out fds from 100 up and records the program each PROG_LOAD gets."""

    def __init__(self, fail_load_with=None):
        self.next_fd = 100
        self.loaded: list[bytes] = []
        self.fail = fail_load_with

    def __call__(self, cmd, attr, size):
        if cmd == Cmd.PROG_LOAD:
            if self.fail:
                err, log = self.fail
                if attr.log_size:
                    raw = log.encode()
                    ffi.memmove(ffi.cast("char *", attr.log_buf), raw, len(raw))
                return -err
            self.loaded.append(ffi.unpack(ffi.cast("char *", attr.insns), attr.insn_cnt * 8))
        if cmd in (Cmd.MAP_CREATE, Cmd.PROG_LOAD, Cmd.BTF_LOAD):
            self.next_fd += 1
            return self.next_fd
        return 0


def decode(blob):
    return [INSN.unpack_from(blob, i) for i in range(0, len(blob), 8)]


def test_relocations_are_patched(monkeypatch):
    closed = []
    monkeypatch.setattr(loader.sys_, "close", closed.append)
    entry = ProgramSpec("main", "xdp", LD_IMM64 + LD_IMM64 + CALL + LD_IMM64 + EXIT,
                        (Relocation(0, "map", "m"), Relocation(2, "map_value", ".data", 12),
                         Relocation(4, "call", "sub"), Relocation(5, "func_addr", "cb")),
                        prog_type=ProgramType.XDP)
    sub = ProgramSpec("sub", ".text", insn(0xB7) + EXIT, is_subprogram=True)
    cb = ProgramSpec("cb", ".text", insn(0xB7) + EXIT, is_subprogram=True)
    spec = ObjectSpec({"main": entry, "sub": sub, "cb": cb}, {
        "m": MapSpec("m", MapType.HASH, 4, 4, 1),
        ".data": MapSpec(".data", MapType.ARRAY, 4, 16, 1, global_data=True),
    })
    fake = FakeKernel()
    with sc.replaced_funnel(fake):
        obj = loader.load_object(spec)
    assert obj.maps == {"m": 101, ".data": 102}
    (prog,) = fake.loaded
    ins = decode(prog)
    assert len(ins) == 8 + 2 + 2
    assert ins[0][1] >> 4 == 1 and ins[0][3] == 101 and ins[1][3] == 0  # PSEUDO_MAP_FD
    assert ins[2][1] >> 4 == 2 and ins[2][3] == 102 and ins[3][3] == 12  # PSEUDO_MAP_VALUE
    assert ins[4][1] >> 4 == 1 and ins[4][3] == 8 - 5  # call sub at insn 8
    assert ins[5][1] >> 4 == 4 and ins[5][3] == 10 - 6  # func_addr cb at insn 10
    obj.close()
    assert sorted(closed) == [101, 102, 103]


def test_unknown_callee_is_reported():
    entry = ProgramSpec("main", "xdp", CALL + EXIT, (Relocation(0, "call", "ghost"),),
                        prog_type=ProgramType.XDP)
    with sc.replaced_funnel(FakeKernel()), pytest.raises(Exception, match="ghost"):
        loader.load_object(ObjectSpec({"main": entry}, {}))


def test_verifier_failure_maps_to_line_info():
    log = ("0: R1=ctx() R10=fp0\n0: (b7) r0 = 0\n1: (bf) r1 = r0\n"
           "2: (79) r0 = *(u64 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\n"
           "processed 3 insns (limit 1000000)\n")
    entry = ProgramSpec("main", "xdp", insn(0xB7) * 3 + EXIT, prog_type=ProgramType.XDP,
                        line_info=(LineInfo(0, 0, 0, 5, 0, "f.py", "a = 0"),
                                   LineInfo(2, 0, 0, 7, 4, "f.py", "return v.x")))
    with sc.replaced_funnel(FakeKernel((errno.EACCES, log))), \
            pytest.raises(VerifierError) as exc:
        loader.load_object(ObjectSpec({"main": entry}, {}))
    err = exc.value
    assert (err.filename, err.lineno, err.source_line) == ("f.py", 7, "return v.x")
    assert err.reason == "R0 invalid mem access 'map_value_or_null'"
    assert err.hint == "check the result of lookup() for None before using it"
    assert err.errno == errno.EACCES


def test_verifier_annotations_are_the_fallback():
    log = "; if (x) @ prog.c:42\n3: (85) call unknown#999\nunknown func unknown#999\n"
    err = loader.verifier_error("p", ProgramType.XDP, errno.EINVAL, log)
    assert isinstance(err, VerifierError)
    assert (err.filename, err.lineno, err.source_line) == ("prog.c", 42, "if (x)")
    assert "not available for this program type" in err.hint


@pytest.mark.parametrize(("reason", "hint"), [
    ("invalid access to packet, off=0 size=4", "data_end"),
    ("back-edge from insn 5 to 2", "bpf.loop"),
    ("BPF program is too large. Processed 1000001 insn", "bound the loop"),
    ("R0 !read_ok", "return a value"),
])
def test_hints(reason, hint):
    err = loader.verifier_error("p", ProgramType.XDP, errno.EACCES, f"0: (95) exit\n{reason}\n")
    assert hint in err.hint


def test_empty_log_eperm():
    err = loader.verifier_error("p", ProgramType.TRACING, errno.EPERM, "")
    assert isinstance(err, NotSupportedError)
    assert "before verifying" in str(err)
    err = loader.verifier_error("p", ProgramType.XDP, errno.EPERM, "")
    assert isinstance(err, SyscallError) and err.errno == errno.EPERM
    assert "before verifying" in str(err)
