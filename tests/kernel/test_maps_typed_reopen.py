"""A map pinned by a compiled program reads back typed in another process, from its BTF alone."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pyebpf as bpf
from pyebpf import char, i32, u8, u16, u32, u64
from pyebpf import maps as M


class Val(bpf.Struct):
    a: u32
    b: u64
    c: u8
    name: char[8]
    arr: u16[3]
    d: i32


vals = bpf.HashMap(u32, Val, 16)


@bpf.xdp
def fill_vals(ctx) -> int:
    v = Val()
    v.a = 1
    v.b = 1 << 40
    v.c = 200
    v.d = -5
    v.arr[1] = 7
    vals[7] = v
    return bpf.XDP_PASS


READER = """
import json, sys
import pyebpf as bpf
m = bpf.Map.from_pinned(sys.argv[1])
out = {"kind": type(m).__name__, "shape": m._shape_text(), "notes": m.btf_notes,
       "fields": [[f.name, f.type.name, f.offset] for f in m.value_type.fields],
       "items": [[k, {f.name: getattr(v, f.name) for f in m.value_type.fields}]
                 for k, v in m.items()]}
print(json.dumps(out))
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)


def test_pinned_struct_map_reads_typed_in_a_subprocess(bpffs: str) -> None:
    fill_vals.load()
    path = Path(bpffs) / f"pyebpf_test_typed_{uuid.uuid4().hex[:8]}"
    try:
        fill_vals.test_run(b"\0" * 64)
        vals[3] = Val(a=9, b=2, c=3, name="hello", arr=[1, 2, 3], d=-1)
        vals.pin(path)
        done = _run("-c", READER, str(path))
        assert done.returncode == 0, done.stderr
        got = json.loads(done.stdout)
        assert got["kind"] == "HashMap" and got["shape"] == "u32 -> Val" and got["notes"] == []
        assert got["fields"] == [[f.name, f.type.name, f.offset]
                                 for f in Val.__bpf_type__.fields]
        want = {k: {f.name: getattr(v, f.name) for f in Val.__bpf_type__.fields}
                for k, v in vals.items()}
        assert {k: v for k, v in got["items"]} == want
        assert want[7] == {"a": 1, "b": 1 << 40, "c": 200, "name": "", "arr": [0, 7, 0], "d": -5}

        # in this process too, by id: a run-time Struct, equal field by field and byte for byte
        again = M.Map.from_id(vals.id)
        try:
            assert again.value_type is not Val.__bpf_type__
            for k, v in vals.items():
                assert bytes(again[k]) == bytes(v)
            again[5] = again.value_type.cls(a=5, name="x")
            assert vals[5] == Val(a=5, name="x")
            raw = M.Map.from_id(vals.id, btf=False)
            assert raw.value_type is None and raw[(7).to_bytes(4, "little")] == bytes(vals[7])
            raw.close()
        finally:
            again.close()

        dump = _run("-m", "pyebpf", "map", "dump", str(path))
        assert dump.returncode == 0, dump.stderr
        assert "types (from BTF): u32 -> Val" in dump.stdout
        assert "  3: Val(a=9, b=2, c=3, name='hello', arr=[1, 2, 3], d=-1)" in dump.stdout
    finally:
        if path.exists():
            path.unlink()
        fill_vals.close()
        vals.close()


def test_map_without_btf_stays_bytes_with_a_note() -> None:
    m = M.HashMap(u32, u64, 4, name="t_nobtf").create()
    try:
        m[1] = 2
        again = M.Map.from_id(m.id)
        assert again.items() == [(b"\1\0\0\0", (2).to_bytes(8, "little"))]
        assert "no BTF" in again.btf_notes[0]
        again.close()
    finally:
        m.close()


def test_explicit_types_win_over_btf(bpffs: str) -> None:
    fill_vals.load()
    try:
        fill_vals.test_run(b"\0" * 64)
        again = M.Map.from_id(vals.id, u32, None)
        assert again.key_type == u32 and again.value_type.name == "Val"
        assert again[7].b == 1 << 40
        again.close()
    finally:
        fill_vals.close()
        vals.close()

