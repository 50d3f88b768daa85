"""The on-disk compile cache: keys, verified entries, rebuilds (no kernel needed)."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

import pyebpf as bpf
from pyebpf import cache, u8, u32, u64
from pyebpf.compiler import cache_key, compile_programs, front

TEMPLATE = '''\
import pyebpf as bpf
from pyebpf import u32, u64

LIMIT = {limit}
counts = bpf.HashMap(u32, u64, max_entries={size})


@bpf.xdp
def prog(ctx) -> int:
    key = u32(LIMIT)
    # {comment}
    counts.increment(key)
    return bpf.XDP_PASS
'''

_counter = itertools.count()


def make_program(tmp_path: Path, limit: int = 7, size: int = 64, comment: str = "count",
                 filename: str = "prog.py") -> Any:
    """Write the template to a file and import it as a fresh module; returns its program."""
    d = tmp_path / f"m{next(_counter)}"
    d.mkdir()
    path = d / filename
    path.write_text(TEMPLATE.format(limit=limit, size=size, comment=comment))
    name = f"pyebpf_cache_test_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod.prog


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("PYEBPF_CACHE_DIR", str(d))
    monkeypatch.delenv("PYEBPF_CACHE", raising=False)
    return d


def key_of(prog: Any) -> str:
    return cache_key(front([prog]), "v3", "GPL")


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert cache.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("PYEBPF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "pyebpf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "pyebpf"


def test_same_program_same_key(tmp_path: Path) -> None:
    # Two files with the same name and text in different directories still differ (BTF
    # line info records the path), so compare one program with itself re-translated.
    prog = make_program(tmp_path)
    assert key_of(prog) == key_of(prog)
    assert len(key_of(prog)) == 64


@pytest.mark.parametrize("change", [{"limit": 8}, {"size": 65}, {"comment": "edited"}])
def test_key_changes_with_constant_map_size_and_source(tmp_path: Path,
                                                       change: dict[str, Any]) -> None:
    base = make_program(tmp_path)
    changed = make_program(tmp_path, **change)
    # same directory layout apart from the numbered folder: neutralise the path
    fr_a, fr_b = front([base]), front([changed])
    for fr in (fr_a, fr_b):
        fn, src = fr.funcs[0]
        src.filename = "prog.py"
    assert cache_key(fr_a, "v3", "GPL") != cache_key(fr_b, "v3", "GPL")
    if "comment" not in change:  # a constant / map size also changes the typed IR or maps
        assert fr_a.typed_ir != fr_b.typed_ir or cache.describe_map(
            "counts", base.fn.__globals__["counts"]) != cache.describe_map(
            "counts", changed.fn.__globals__["counts"])


def test_key_depends_on_cpu_and_license(tmp_path: Path) -> None:
    fr = front([make_program(tmp_path)])
    keys = {cache_key(fr, "v3", "GPL"), cache_key(fr, "v4", "GPL"), cache_key(fr, "v3", "MIT")}
    assert len(keys) == 3


class Ev(bpf.Struct):
    a: u8
    b: u64


def test_describe_map_has_field_names_and_offsets() -> None:
    text = cache.describe_map("m", bpf.HashMap(u32, Ev, max_entries=4))
    assert "a@0" in text and "b@8" in text and "max_entries=4" in text


def test_second_compile_hits_and_matches(cache_in_tmp: Path, tmp_path: Path) -> None:
    prog = make_program(tmp_path)
    first = compile_programs([prog], cpu="v3")
    assert not first.cache_hit
    assert len(list(cache_in_tmp.glob("*.bpfo"))) == 1
    second = compile_programs([prog], cpu="v3")
    assert second.cache_hit and second.cache_key == first.cache_key
    assert (second.elf, second.llvm_ir, second.unoptimized_ir, second.typed_ir) == (
        first.elf, first.llvm_ir, first.unoptimized_ir, first.typed_ir)
    assert second.maps == first.maps and second.programs == first.programs
    assert second.spec is not None and "prog" in second.spec.programs


def flip(path: Path, where: int) -> None:
    data = bytearray(path.read_bytes())
    data[where] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", [0, 20, 100, -1])
def test_corrupt_entry_is_rebuilt(cache_in_tmp: Path, tmp_path: Path, where: int) -> None:
    prog = make_program(tmp_path)
    good = compile_programs([prog], cpu="v3")
    (entry,) = cache_in_tmp.glob("*.bpfo")
    flip(entry, where)
    assert cache.load(good.cache_key) is None
    again = compile_programs([prog], cpu="v3")
    assert not again.cache_hit and again.elf == good.elf
    assert compile_programs([prog], cpu="v3").cache_hit  # the rebuild rewrote the entry


def test_entry_with_valid_checksum_but_bad_elf_is_ignored(cache_in_tmp: Path) -> None:
    cache.store("k" * 64, cache.Entry(b"\x7fELF not really", "", "", "0"))
    assert cache.load("k" * 64) is None


def test_entry_whose_spec_is_not_an_object_spec_is_ignored(cache_in_tmp: Path,
                                                           tmp_path: Path) -> None:
    elf = compile_programs([make_program(tmp_path)], cpu="v3").elf
    cache.store("s" * 64, cache.Entry(elf, "", "", "0", spec={"not": "a spec"}))
    assert (cache_in_tmp / ("s" * 64 + ".bpfo")).exists()
    assert cache.load("s" * 64) is None


def test_entry_under_another_key_is_ignored(cache_in_tmp: Path, tmp_path: Path) -> None:
    good = compile_programs([make_program(tmp_path)], cpu="v3")
    (entry,) = cache_in_tmp.glob("*.bpfo")
    entry.rename(cache_in_tmp / ("0" * 64 + ".bpfo"))
    assert cache.load("0" * 64) is None
    assert cache.load(good.cache_key) is None


def test_disabled_cache(monkeypatch: pytest.MonkeyPatch, cache_in_tmp: Path,
                        tmp_path: Path) -> None:
    monkeypatch.setenv("PYEBPF_CACHE", "0")
    prog = make_program(tmp_path)
    assert not compile_programs([prog], cpu="v3").cache_hit
    assert not compile_programs([prog], cpu="v3").cache_hit
    assert not cache_in_tmp.exists()


def test_prune_and_clear(cache_in_tmp: Path, tmp_path: Path) -> None:
    elf = compile_programs([make_program(tmp_path)], cpu="v3").elf
    for i in range(5):
        cache.store(f"{i:064d}", cache.Entry(elf, "", "", "0"))
    assert cache.prune(3) == 3
    assert len(list(cache_in_tmp.glob("*.bpfo"))) == 3
    assert cache.clear() == 3


def test_btf_fingerprint(tmp_path: Path) -> None:
    f = tmp_path / "btf"
    f.write_bytes(bytes(range(256)) * 2000)
    a = cache.btf_fingerprint(str(f))
    f.write_bytes(bytes(range(256)) * 2001)
    assert cache.btf_fingerprint(str(f)) != a
    assert cache.btf_fingerprint(str(tmp_path / "missing")) == "none"
