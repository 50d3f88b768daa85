"""Ported from tools/testing/selftests/bpf/progs/bpf_iter_task.c: a task iterator.

The original ``iter/task`` program is called once per task (and once with
``task == NULL`` at the end), counts tasks and prints a line per task with
``BPF_SEQ_PRINTF``.  Adapted: no seq_printf; it counts all tasks, the threads of
one tgid (``TGID``, a ``bpf.Const``) and the final NULL call, reading ``tgid``
through the BTF task pointer (``None`` on the final call).
"""

import pyebpf as bpf
from pyebpf import u32, u64

TGID = bpf.Const(u32, 0)
counts = bpf.ArrayMap(u64, max_entries=3)  # [0] tasks, [1] ours, [2] end calls


@bpf.iter("task")
def dump_task(ctx) -> int:
    task = ctx.task
    if task is None:
        counts.increment(2)
        return 0
    counts.increment(0)
    if u32(task.tgid) == TGID:
        counts.increment(1)
    return 0
