"""kprobe_multi: one program on many kernel functions; this kernel refuses the link."""

from __future__ import annotations

import errno

import pytest

import pyebpf as bpf
from pyebpf import u64
from pyebpf.uprobes import kernel_functions

hits = bpf.ArrayMap(u64, max_entries=1)


@bpf.kprobe_multi("do_unlinkat*")
def unlink_family(ctx) -> int:
    hits.increment(0, ctx.arg(0) * 0 + 1)
    return 0


def test_pattern_resolves_against_kallsyms() -> None:
    names = kernel_functions("do_unlinkat*")
    assert "do_unlinkat" in names
    assert all(n.startswith("do_unlinkat") for n in names)
    assert kernel_functions("no_such_function_pyebpf_*") == []


def test_loads_and_attaches_or_explains_the_refusal() -> None:
    info = unlink_family.load().info()
    assert info["type"] == int(bpf.ProgramType.KPROBE)
    try:
        link = unlink_family.attach()
    except bpf.NotSupportedError as e:
        # This kernel is built without CONFIG_FPROBE (KERNEL.md): the link is refused.
        assert "CONFIG_FPROBE" in str(e) and "kprobe_multi" in str(e)
    else:  # a kernel with fprobe: the link works
        with link:
            import os
            import tempfile

            with tempfile.NamedTemporaryFile(delete=False) as f:
                path = f.name
            os.unlink(path)
        assert hits[0] >= 1
    unlink_family.close()


def test_no_matching_function_is_an_attach_error() -> None:
    @bpf.kprobe_multi("no_such_function_pyebpf_*")
    def nothing(ctx) -> int:
        return 0

    with pytest.raises(bpf.AttachError) as info:
        nothing.attach()
    assert info.value.errno == errno.ENOENT
    nothing.close()
