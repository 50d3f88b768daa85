"""What a user sees when a program does not compile: Python's own traceback display
shows their line, the caret, the message and the hint, and at most one pyebpf frame."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import pyebpf as bpf
    from pyebpf import u32

    counts = bpf.HashMap(u32, u32, 16)

    @bpf.xdp
    def prog(ctx) -> int:
        x = counts.lookup(1)
        return x[0]

    prog.{call}
    """
)


def _stderr(tmp_path: Path, call: str, debug: bool = False) -> str:
    script = tmp_path / "user_prog.py"
    script.write_text(SCRIPT.format(call=call))
    env = {**os.environ, "PYEBPF_CACHE": "0"}
    env.pop("PYEBPF_DEBUG", None)
    if debug:
        env["PYEBPF_DEBUG"] = "1"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 1
    return done.stderr


def test_compile_error_shows_the_users_line_and_hint_with_one_library_frame(tmp_path: Path) -> None:
    for call in ("compile()", "load()"):  # load() compiles first: the same report
        err = _stderr(tmp_path, call)
        assert f'File "{tmp_path / "user_prog.py"}", line 10' in err
        assert "    return x[0]" in err
        assert "pyebpf.errors.CompileError: `x` may be None here" in err
        assert "hint: check it first" in err
        library_frames = [line for line in err.splitlines()
                          if line.startswith('  File "') and "/pyebpf/" in line]
        assert len(library_frames) == 1, err
        assert "llvmlite" not in err


def test_pyebpf_debug_keeps_the_inner_frames(tmp_path: Path) -> None:
    err = _stderr(tmp_path, "compile()", debug=True)
    library_frames = [line for line in err.splitlines()
                      if line.startswith('  File "') and "/pyebpf/" in line]
    assert len(library_frames) > 3, err
