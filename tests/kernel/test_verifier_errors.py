"""Verifier rejections are reported at the Python line of the failing instruction."""

from __future__ import annotations

import inspect

import pytest

import pyebpf as bpf
from pyebpf import u32


@bpf.xdp
def unbounded_loop(ctx) -> int:
    n = ctx.ingress_ifindex
    i: u32 = 0
    while i != n:
        i += 2
    return bpf.XDP_PASS


def test_unbounded_loop_is_reported_at_the_loop() -> None:
    with pytest.raises(bpf.VerifierError) as info:
        unbounded_loop.load()
    err = info.value
    lines, first = inspect.getsourcelines(unbounded_loop.fn)
    loop_lines = {first + i for i, t in enumerate(lines) if "while" in t or "i += 2" in t}
    assert err.filename == __file__
    assert err.lineno in loop_lines, str(err)
    assert "too large" in err.reason or "infinite loop" in err.reason or "loop" in err.reason
    assert "bound the loop" in err.hint
    assert "processed" in err.log  # the whole log is kept
    assert "site-packages" not in str(err)
