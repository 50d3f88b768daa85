"""The ``pyebpf`` command, run in subprocesses on tests/data/tp_counter.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parent.parent / "data" / "tp_counter.py"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYEBPF_CACHE_DIR": str(tmp_path / "cache")}


def pyebpf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyebpf", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_compile_then_disasm_object(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "counter.o"
    done = pyebpf("compile", str(EXAMPLE), "-o", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "count_getpid" in done.stdout
    assert out.read_bytes()[:4] == b"\x7fELF"
    dis = pyebpf("disasm", str(out), env=env)
    assert dis.returncode == 0, dis.stderr
    assert "count_getpid:  [section tracepoint/syscalls/sys_enter_getpid" in dis.stdout
    assert "; counts.increment(pid)  [" in dis.stdout
    assert "call bpf_get_current_pid_tgid#14" in dis.stdout
    assert "= map[counts] ll" in dis.stdout


def test_disasm_python_file(env: dict[str, str]) -> None:
    dis = pyebpf("disasm", str(EXAMPLE), env=env)
    assert dis.returncode == 0, dis.stderr
    assert "; pid = u32(bpf.get_current_pid_tgid() >> 32)  [" in dis.stdout
    assert dis.stdout.rstrip().endswith("exit")


def test_run_prints_counts_for_this_process(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyebpf", "run", str(EXAMPLE), "--duration", "2",
         "--interval", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        while proc.poll() is None:  # keep calling getpid() while the tracepoint is attached
            os.getpid()
            time.sleep(0.01)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "attached count_getpid [tracepoint/syscalls/sys_enter_getpid]" in out
    assert "--- final" in out and "counts (" in out
    assert f"\n  {os.getpid()}: " in out


def test_prog_list_and_map_dump(env: dict[str, str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("tp_counter_cli", EXAMPLE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with mod.count_getpid.attach():
        os.getpid()
    try:
        info = mod.count_getpid.info()
        listing = pyebpf("prog", "list", env=env)
        assert listing.returncode == 0, listing.stderr
        assert listing.stdout.startswith("ID ")
        row = next(line for line in listing.stdout.splitlines()
                   if line.split()[0] == str(info["id"]))
        assert "tracepoint" in row and "count_getpid" in row and info["tag"] in row
        dump = pyebpf("map", "dump", str(mod.counts.id), env=env)
        assert dump.returncode == 0, dump.stderr
        assert "counts: hash, key 4B, value 8B, max_entries 1024" in dump.stdout
        assert "types (from BTF): u32 -> u64" in dump.stdout
        assert f"\n  {os.getpid()}: " in dump.stdout
    finally:
        mod.count_getpid.close()
        mod.counts.close()


def test_errors_without_traceback(env: dict[str, str], tmp_path: Path) -> None:
    missing = pyebpf("map", "dump", "999999999", env=env)
    assert missing.returncode == 1
    assert "no map with id 999999999" in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("import pyebpf as bpf\n\n@bpf.xdp\ndef prog(ctx) -> int:\n"
                   "    return [1, 2]\n")
    err = pyebpf("compile", str(bad), env=env)
    assert err.returncode == 1 and "Traceback" not in err.stderr
    assert "bad.py:5" in err.stderr
    usage = pyebpf("compile", str(tmp_path / "nope.py"), env=env)
    assert usage.returncode == 2 and "no such file" in usage.stderr
