"""Kernel tests: they load real programs, so they need root and a BPF-capable kernel."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SKIP_REASON = "needs root and a BPF-capable kernel (kernel test)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if not str(item.fspath).startswith(here):
            continue
        item.add_marker(pytest.mark.kernel)
        if os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture
def bpffs() -> str:
    """``/sys/fs/bpf``, mounting a bpffs there first if none is (KERNEL.md: tests may mount it)."""
    root = "/sys/fs/bpf"
    if not os.path.ismount(root):
        import subprocess

        os.makedirs(root, exist_ok=True)
        done = subprocess.run(["mount", "-t", "bpf", "bpf", root], capture_output=True)
        if done.returncode != 0 and not os.path.ismount(root):
            pytest.skip(f"cannot mount bpffs at {root}: {done.stderr.decode().strip()}")
    return root


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """A fresh child cgroup of the v2 hierarchy (removed afterwards) for cgroup hooks."""
    from pyebpf import tracefs

    root = tracefs.find_mount("cgroup2")
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    cg = Path(root) / f"pyebpf-test-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    try:
        yield cg
    finally:
        with contextlib.suppress(OSError):
            cg.rmdir()
