"""What a new process imports: ``import pyebpf``, and a compile served by the cache.

The cold start of a script is mostly imports; these tests pin the heavy
modules that the common path does not need, so a stray top-level import
shows up as a failure rather than as milliseconds nobody notices.  They
count modules, never time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Heavy and not needed to declare maps and programs: LLVM, the ELF reader,
# OpenSSL (a builtin sha256 serves the cache), the JSON codec (used only
# by the compile cache), dataclasses (and inspect, which it imports).
NOT_ON_IMPORT = ("llvmlite", "elftools", "hashlib", "_hashlib", "json", "dataclasses",
                 "inspect", "pyebpf.compiler", "pyebpf._native", "pyebpf.cache")
# A compile whose object comes from the on-disk cache loads neither LLVM's
# library nor the ELF reader, nor OpenSSL.
NOT_ON_CACHE_HIT = ("llvmlite.binding", "elftools", "pyebpf.elf", "hashlib", "_hashlib")

PROGRAM = '''\
import json
import sys

import pyebpf as bpf
from pyebpf import u32, u64

counts = bpf.HashMap(u32, u64, max_entries=64)


@bpf.xdp
def prog(ctx) -> int:
    counts.increment(u32(7))
    return bpf.XDP_PASS


before = set(sys.modules)
prog.compile()
print(json.dumps(sorted(set(sys.modules) - before)))
'''


def _run(args: list[str], cache_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYEBPF_")}
    env["PYEBPF_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout


def test_import_pyebpf_leaves_heavy_modules_out(tmp_path: Path) -> None:
    code = "import sys, pyebpf; print(' '.join(sys.modules))"
    loaded = set(_run(["-c", code], tmp_path).split())
    assert "pyebpf" in loaded
    assert sorted(m for m in loaded
                  if any(m == n or m.startswith(n + ".") for n in NOT_ON_IMPORT)) == []


def test_cache_hit_compile_leaves_llvm_and_elf_reader_out(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text(PROGRAM)
    cache_dir = tmp_path / "cache"
    first = set(json.loads(_run([str(script)], cache_dir)))
    assert "llvmlite.binding" in first  # the first run compiled and filled the cache
    hit = set(json.loads(_run([str(script)], cache_dir)))
    assert sorted(m for m in hit
                  if any(m == n or m.startswith(n + ".") for n in NOT_ON_CACHE_HIT)) == []
