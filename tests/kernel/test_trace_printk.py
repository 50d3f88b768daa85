"""bpf.trace_printk reaches the trace buffer, with up to 12 values (bpf_trace_vprintk)."""

from __future__ import annotations

import os
import uuid

import pyebpf as bpf
from pyebpf import tracefs

NONCE = int(uuid.uuid4().int & 0xFFFFFFFF)
ME = os.getpid()


@bpf.tracepoint("syscalls/sys_enter_getppid")
def printer(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    bpf.trace_printk(b"pyebpf-3 %u %d %d", NONCE, 1, -2)
    bpf.trace_printk(b"pyebpf-12 %u %d %d %d %d %d %d %d %d %d %d %d", NONCE, 1, 2, 3, 4, 5,
                     6, 7, 8, 9, 10, 11)
    return 0


def test_trace_printk_with_3_and_12_values() -> None:
    with printer.attach():
        os.getppid()
    # Read `trace` (never consume trace_pipe: other processes share it), match the nonce.
    text = (tracefs.root() / "trace").read_text(errors="replace")
    assert f"pyebpf-3 {NONCE} 1 -2" in text
    assert f"pyebpf-12 {NONCE} 1 2 3 4 5 6 7 8 9 10 11" in text
    printer.close()
