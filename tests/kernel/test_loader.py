"""load_object on hand-built ObjectSpecs against the real kernel."""

from __future__ import annotations

import errno
import os
import struct
import uuid

import pytest

from pyebpf import loader
from pyebpf._native import syscalls as sc
from pyebpf.constants import BPF_F_RDONLY_PROG, LIBBPF_PIN_BY_NAME, MapType, ProgramType
from pyebpf.errors import MapError, NotSupportedError, SyscallError, VerifierError
from pyebpf.spec import LineInfo, MapSpec, ObjectSpec, ProgramSpec, Relocation

from . import asm
from .asm import R0, R1, R2, R6, R10

u32 = struct.Struct("<I")
u64 = struct.Struct("<Q")
PKT = bytes(64)


def tc(name, insns, relocations=(), **kw):
    return ProgramSpec(name=name, section="tc", insns=insns, relocations=tuple(relocations),
                       prog_type=ProgramType.SCHED_CLS, **kw)


def lookup_key0(map_insn_note=None):
    """Instructions 0-4: r0 = lookup(map, &0); the ld_imm64 of the map is at insn 3."""
    return [
        asm.st_imm(4, R10, -4, 0),
        asm.mov64_reg(R2, R10),
        asm.add64_imm(R2, -4),
        asm.ld_imm64(R1, 0),  # insns 3-4, relocated to the map fd
        asm.call(asm.MAP_LOOKUP_ELEM),
    ]


def counter_program():
    """*counter[0] += 1; return the new value (0 if the lookup failed)."""
    insns = asm.program(
        *lookup_key0(),
        asm.jne_imm(R0, 0, 2),               # 6
        asm.mov64_imm(R0, 0),                # 7
        asm.exit_(),                         # 8
        asm.ldx(8, R1, R0, 0),               # 9
        asm.add64_imm(R1, 1),                # 10
        asm.stx(8, R0, R1, 0),               # 11
        asm.mov64_reg(R0, R1),               # 12
        asm.exit_(),                         # 13
    )
    return tc("count", insns, [Relocation(3, "map", "counter")])


def counter_map(**kw):
    return MapSpec("counter", MapType.ARRAY, 4, 8, 1, **kw)


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_map_and_program():
    spec = ObjectSpec(programs={"count": counter_program()}, maps={"counter": counter_map()})
    with loader.load_object(spec) as obj:
        assert set(obj.maps) == {"counter"} and set(obj.programs) == {"count"}
        for expected in (1, 2, 3):
            assert sc.prog_test_run(obj.programs["count"], data_in=PKT).retval == expected
        assert sc.map_lookup(obj.maps["counter"], u32.pack(0), 8) == u64.pack(3)
        info = sc.prog_info(obj.programs["count"])
        assert info["map_ids"] == [sc.map_info(obj.maps["counter"])["id"]]
        assert info["name"] == "count"
    assert obj.maps == {} and obj.programs == {}


def test_subprogram_call_is_linked():
    entry = tc("entry", asm.program(
        asm.mov64_imm(R1, 20),
        asm.call_pseudo(),                   # 1 -> double
        asm.add64_imm(R0, 1),
        asm.exit_(),
    ), [Relocation(1, "call", "double")])
    double = ProgramSpec("double", ".text", asm.program(
        asm.mov64_reg(R6, R1),
        asm.call_pseudo(),                   # 1 -> ident (transitive)
        asm.add64_reg(R0, R6),
        asm.exit_(),
    ), (Relocation(1, "call", "ident"),), is_subprogram=True)
    ident = ProgramSpec("ident", ".text", asm.program(asm.mov64_reg(R0, R1), asm.exit_()),
                        is_subprogram=True)
    spec = ObjectSpec(programs={"entry": entry, "double": double, "ident": ident}, maps={})
    with loader.load_object(spec) as obj:
        assert set(obj.programs) == {"entry"}
        assert sc.prog_test_run(obj.programs["entry"], data_in=PKT).retval == 41
        # entry (4) + double (4) + ident (2) instructions were loaded
        assert len(sc.prog_xlated(obj.programs["entry"])) == 10 * 8


def global_reader(map_name: str, offset: int, name: str = "read"):
    return tc(name, asm.program(
        asm.ld_imm64(R1, 0),                 # 0-1: &map_value + offset
        asm.ldx(8, R0, R1, 0),
        asm.exit_(),
    ), [Relocation(0, "map_value", map_name, offset)])


def test_global_data_constants_and_freeze():
    rodata = MapSpec(".rodata", MapType.ARRAY, 4, 16, 1, flags=BPF_F_RDONLY_PROG,
                     initial_data=u64.pack(100) + u64.pack(200), global_data=True)
    data = MapSpec(".data", MapType.ARRAY, 4, 16, 1,
                   initial_data=u64.pack(5) + u64.pack(6), global_data=True)
    spec = ObjectSpec(
        programs={"ro": global_reader(".rodata", 8, "ro"), "rw": global_reader(".data", 8, "rw")},
        maps={".rodata": rodata, ".data": data},
    )
    with loader.load_object(spec, constants={".rodata": {8: u64.pack(7)}}) as obj:
        assert sc.prog_test_run(obj.programs["ro"], data_in=PKT).retval == 7
        assert sc.prog_test_run(obj.programs["rw"], data_in=PKT).retval == 6
        with pytest.raises(SyscallError) as exc:
            sc.map_update(obj.maps[".rodata"], u32.pack(0), bytes(16))
        assert exc.value.errno == errno.EPERM  # frozen
        sc.map_update(obj.maps[".data"], u32.pack(0), u64.pack(0) + u64.pack(9))
        assert sc.prog_test_run(obj.programs["rw"], data_in=PKT).retval == 9


def test_constants_outside_the_map_are_rejected():
    rodata = MapSpec(".rodata", MapType.ARRAY, 4, 8, 1, initial_data=bytes(8), global_data=True)
    spec = ObjectSpec(programs={}, maps={".rodata": rodata})
    before = fd_count()
    with pytest.raises(MapError, match="outside"):
        loader.load_object(spec, constants={".rodata": {4: u64.pack(1)}})
    with pytest.raises(MapError, match="not a global-data map"):
        loader.load_object(spec, constants={"nope": {0: b"x"}})
    assert fd_count() == before


def null_deref_program():
    insns = asm.program(
        *lookup_key0(),
        asm.ldx(8, R0, R0, 0),               # 6: no NULL check
        asm.exit_(),
    )
    lines = (
        LineInfo(0, 0, 0, 10, 4, "prog.py", "key = 0"),
        LineInfo(3, 0, 0, 11, 8, "prog.py", "v = counter.lookup(key)"),
        LineInfo(6, 0, 0, 12, 11, "prog.py", "return v.count"),
        LineInfo(7, 0, 0, 13, 4, "prog.py", "pass"),
    )
    # a hash map: lookups in an array with a constant key are known non-NULL
    return tc("bad", insns, [Relocation(3, "map", "table")], line_info=lines)


def table_map():
    return MapSpec("table", MapType.HASH, 4, 8, 8)


def test_verifier_error_names_the_source_line():
    spec = ObjectSpec(programs={"bad": null_deref_program()}, maps={"table": table_map()})
    with pytest.raises(VerifierError) as exc:
        loader.load_object(spec)
    err = exc.value
    assert (err.filename, err.lineno) == ("prog.py", 12)
    assert err.source_line == "return v.count"
    assert "map_value_or_null" in err.reason
    assert "None" in err.hint
    assert "6: (79)" in err.log
    text = str(err)
    assert text.startswith("prog.py:12:") and "return v.count" in text


def test_failed_load_leaks_no_fd():
    spec = ObjectSpec(
        programs={"count": counter_program(), "bad": null_deref_program()},
        maps={"counter": counter_map(), "table": table_map()},
    )
    before = fd_count()
    with pytest.raises(VerifierError):
        loader.load_object(spec)
    assert fd_count() == before


def test_only_loads_the_named_programs():
    spec = ObjectSpec(programs={"count": counter_program(), "bad": null_deref_program()},
                      maps={"counter": counter_map(), "table": table_map()})
    with loader.load_object(spec, only={"count"}) as obj:
        assert set(obj.programs) == {"count"}
    with pytest.raises(Exception, match="no entry program named nope"):
        loader.load_object(spec, only={"nope"})


def test_reuse_maps_are_shared_and_not_closed():
    fd = sc.map_create(MapType.ARRAY, 4, 8, 1)
    try:
        spec = ObjectSpec(programs={"count": counter_program()}, maps={"counter": counter_map()})
        with loader.load_object(spec, reuse_maps={"counter": fd}) as obj:
            assert obj.maps["counter"] == fd
            sc.prog_test_run(obj.programs["count"], data_in=PKT)
        assert sc.map_lookup(fd, u32.pack(0), 8) == u64.pack(1)  # fd still open
        wrong = sc.map_create(MapType.ARRAY, 4, 4, 1)
        try:
            with pytest.raises(MapError, match="value_size 4 != 8"):
                loader.load_object(spec, reuse_maps={"counter": wrong})
        finally:
            sc.close(wrong)
    finally:
        sc.close(fd)


def test_pinning_by_name(bpffs):
    root = os.path.join(bpffs, f"pyebpf_loader_{uuid.uuid4().hex[:10]}")
    os.mkdir(root)
    try:
        spec = ObjectSpec(programs={"count": counter_program()},
                          maps={"counter": counter_map(pinning=LIBBPF_PIN_BY_NAME)})
        with loader.load_object(spec, pin_root=root) as first:
            assert os.path.exists(os.path.join(root, "counter"))
            first_id = sc.map_info(first.maps["counter"])["id"]
            sc.prog_test_run(first.programs["count"], data_in=PKT)
        with loader.load_object(spec, pin_root=root) as second:
            assert sc.map_info(second.maps["counter"])["id"] == first_id
            assert sc.prog_test_run(second.programs["count"], data_in=PKT).retval == 2
        bigger = ObjectSpec(programs={}, maps={
            "counter": MapSpec("counter", MapType.ARRAY, 4, 8, 2, pinning=LIBBPF_PIN_BY_NAME)})
        with pytest.raises(MapError, match="max_entries 1 != 2"):
            loader.load_object(bigger, pin_root=root)
    finally:
        for name in os.listdir(root):
            os.unlink(os.path.join(root, name))
        os.rmdir(root)


def test_prog_array_and_map_of_maps_slots():
    inner = MapSpec("inner", MapType.ARRAY, 4, 8, 1)
    spec = ObjectSpec(
        programs={"count": counter_program()},
        maps={
            "counter": counter_map(),
            "jumps": MapSpec("jumps", MapType.PROG_ARRAY, 4, 4, 4, init_slots=((2, "count"),)),
            "outer": MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=inner,
                             init_slots=((1, "counter"),)),
        },
    )
    before = fd_count()
    with loader.load_object(spec) as obj:
        prog_id = sc.prog_info(obj.programs["count"])["id"]
        assert sc.map_lookup(obj.maps["jumps"], u32.pack(2), 4) == u32.pack(prog_id)
        map_id = sc.map_info(obj.maps["counter"])["id"]
        assert sc.map_lookup(obj.maps["outer"], u32.pack(1), 4) == u32.pack(map_id)
    assert fd_count() == before  # the inner template was closed too


def test_log_level_keeps_the_log():
    spec = ObjectSpec(programs={"count": counter_program()}, maps={"counter": counter_map()})
    with loader.load_object(spec, log_level=2) as obj:
        assert "processed" in obj.logs["count"]


def test_fentry_refused_before_verification_is_a_clear_error():
    prog = ProgramSpec("fe", "fentry/do_unlinkat", asm.program(asm.mov64_imm(R0, 0),
                                                                asm.exit_()),
                       prog_type=ProgramType.TRACING, expected_attach_type=24)
    spec = ObjectSpec(programs={"fe": prog}, maps={})
    try:
        obj = loader.load_object(spec)
    except NotSupportedError as exc:  # this machine's policy (KERNEL.md)
        assert "before verifying" in str(exc)
    else:  # a kernel that allows fentry
        obj.close()
