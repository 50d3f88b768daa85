"""USDT probes in a small binary built here with gcc and <sys/sdt.h>: notes read, hits counted."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import sdt, u32, u64

SOURCE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

static long work(long i) {
    DTRACE_PROBE1(pyebpf_test, step, i);   /* a second site of the same probe */
    return i * 2;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 3, total = 0;
    for (long i = 0; i < n; i++) {
        STAP_PROBE2(pyebpf_test, step, i, total);
        total += work(i);
        STAP_PROBE(pyebpf_test, loop_end);
    }
    printf("%ld\n", total);
    return 0;
}
"""


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the USDT target")
    d = tmp_path_factory.mktemp("usdt")
    (d / "t.c").write_text(SOURCE)
    done = subprocess.run(["gcc", "-O1", "-o", str(d / "usdt_target"), str(d / "t.c")],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot build with <sys/sdt.h> (apt-get install systemtap-sdt-dev): "
                    f"{done.stderr.strip()[:200]}")
    return str(d / "usdt_target")


def test_notes_are_read(target: str) -> None:
    found = sdt.probes(target)
    by_name: dict[str, list[sdt.UsdtProbe]] = {}
    for p in found:
        assert p.provider == "pyebpf_test" and p.semaphore == 0
        by_name.setdefault(p.name, []).append(p)
    assert sorted(by_name) == ["loop_end", "step"]
    assert len(by_name["step"]) >= 2 and len(by_name["loop_end"]) >= 1
    assert by_name["loop_end"][0].args == ""
    with open(target, "rb") as f:
        data = f.read()
    if os.uname().machine == "x86_64":
        assert all(data[p.offset] == 0x90 for p in found)  # each site is a nop in the text


hits = bpf.ArrayMap(u64, max_entries=2)


def test_usdt_counts_hits_at_every_site(target: str) -> None:
    me = os.getpid()

    @bpf.usdt(target, "pyebpf_test", "step")
    def on_step(ctx) -> int:
        hits.increment(0)
        return 0

    @bpf.usdt(target, "pyebpf_test", "loop_end")
    def on_loop_end(ctx) -> int:
        if u32(bpf.get_current_pid_tgid() >> 32) != me:  # the target, not this test process
            hits.increment(1)
        return 0

    if not hits.loaded:
        hits.create()
    hits[0] = hits[1] = 0
    with on_step.attach() as link, on_loop_end.attach():
        assert link.kind == "usdt" and len(link.links) >= 2
        out = subprocess.run([target, "7"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(2 * sum(range(7)))
    assert hits[0] == 14 and hits[1] == 7  # 7 loops x 2 sites of "step", 7 of "loop_end"
    # detached: no more hits
    subprocess.run([target, "3"], capture_output=True, check=True)
    assert hits[0] == 14
    on_step.close()
    on_loop_end.close()


def test_unknown_probe_names_the_ones_there(target: str) -> None:
    @bpf.usdt(target, "pyebpf_test", "nope")
    def on_nope(ctx) -> int:
        return 0

    with pytest.raises(bpf.AttachError, match="no USDT probe pyebpf_test:nope.*loop_end"):
        on_nope.attach()
    on_nope.close()
    assert sdt.probes(str(Path(shutil.which("true") or "/bin/true"))) == []
