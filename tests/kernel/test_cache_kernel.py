"""The compile cache across processes: a second run loads without importing llvmlite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "data" / "tp_counter.py"

SCRIPT = f"""
import importlib.util, json, os, sys, time
spec = importlib.util.spec_from_file_location("tp_counter", {str(EXAMPLE)!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
t = time.perf_counter()
compiled = mod.count_getpid.compile()
compile_s = time.perf_counter() - t
with mod.count_getpid.attach():
    for _ in range(3):
        os.getpid()
    n = mod.counts.get(os.getpid(), 0)
print(json.dumps({{"hit": compiled._compiled.cache_hit, "llvmlite": "llvmlite" in sys.modules,
                  "count": n, "compile_s": compile_s, "elf": compiled.elf.hex()}}))
"""


def run(cache_dir: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "PYEBPF_CACHE"}
    environ.update(PYEBPF_CACHE_DIR=str(cache_dir), **env)
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=environ, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_second_run_skips_llvm(cache_dir: Path) -> None:
    cold = run(cache_dir)
    assert not cold["hit"] and cold["llvmlite"] and cold["count"] >= 3
    warm = run(cache_dir)
    assert warm["hit"], "the second run should find the entry the first one wrote"
    assert not warm["llvmlite"], "a cache hit must not import llvmlite"
    assert warm["count"] >= 3 and warm["elf"] == cold["elf"]


def test_corrupt_entry_rebuilt_across_processes(cache_dir: Path) -> None:
    cold = run(cache_dir)
    (entry,) = cache_dir.glob("*.bpfo")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x55
    entry.write_bytes(bytes(data))
    rebuilt = run(cache_dir)
    assert not rebuilt["hit"] and rebuilt["llvmlite"]
    assert rebuilt["elf"] == cold["elf"] and rebuilt["count"] >= 3
    assert run(cache_dir)["hit"]


def test_cache_off(cache_dir: Path) -> None:
    run(cache_dir, PYEBPF_CACHE="0")
    off = run(cache_dir, PYEBPF_CACHE="0")
    assert not off["hit"] and off["llvmlite"]
    assert not cache_dir.exists()
