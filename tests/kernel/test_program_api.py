"""The Program / Object API of API.md section 3 on a real kernel."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import u32, u64

DATA = Path(__file__).resolve().parent.parent / "data"

shared = bpf.ArrayMap(u64, max_entries=4)


@bpf.socket_filter
def writer(ctx) -> int:
    shared[0] = 41
    return 0


@bpf.socket_filter
def reader(ctx) -> int:
    v = shared.get(0, 0)
    shared[1] = v + 1
    return u32(v)


def test_load_two_programs_sharing_a_map() -> None:
    with bpf.load(writer, reader) as obj:
        assert set(obj.programs) == {"writer", "reader"}
        assert obj.maps["shared"] is shared
        writer.test_run(b"\0" * 64)
        assert reader.test_run(b"\0" * 64).retval == 41
        assert shared[1] == 42
    writer.close()
    reader.close()


def test_info_pin_and_from_pinned(bpffs: str) -> None:
    info = writer.load().info()
    assert info["name"] == "writer"
    assert info["jited_prog_len"] > 0 and info["verified_insns"] > 0
    path = Path(bpffs) / f"pyebpf-test-{uuid.uuid4().hex[:8]}"
    writer.pin(path)
    try:
        again = bpf.Program.from_pinned(path)
        assert again.info()["id"] == writer.id
        assert again.test_run(b"\0" * 64).retval == 0
        again.close()
    finally:
        path.unlink()
        writer.close()


def test_compiled_forms() -> None:
    c = reader.compile()
    assert c.elf.startswith(b"\x7fELF")
    assert "define" in c.llvm_ir and "section \"socket\"" in c.llvm_ir
    text = c.disassembly()
    assert "v = shared.get(0, 0)" in text  # Python source lines annotate the instructions
    assert "call bpf_map_lookup_elem#1" in text


def test_clang_object_loads_through_the_same_path() -> None:
    with bpf.Object.from_file(DATA / "xdp_maps.o") as obj:
        assert obj.programs
        for prog in obj.programs.values():
            assert prog.fd > 0
        assert obj.maps


@pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool is not installed")
def test_our_object_loads_with_bpftool(tmp_path: Path, bpffs: str) -> None:
    out = tmp_path / "reader.o"
    bpf.compile(reader, path=out)
    pin = Path(bpffs) / f"pyebpf-bpftool-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(["bpftool", "prog", "load", str(out), str(pin)],
                          capture_output=True, text=True)
    try:
        assert done.returncode == 0, done.stderr
        shown = subprocess.run(["bpftool", "prog", "dump", "xlated", "pinned", str(pin), "linum"],
                               capture_output=True, text=True)
        assert "shared.get(0, 0)" in shown.stdout  # BTF line info survives
    finally:
        if pin.exists():
            os.unlink(pin)
