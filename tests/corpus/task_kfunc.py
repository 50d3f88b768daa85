"""Ported from tools/testing/selftests/bpf/progs/task_kfunc_success.c: acquire and release a task.

The original's ``test_task_from_pid_current`` and ``test_task_from_pid_invalid``
call ``bpf_task_from_pid()`` for the current pid (must succeed) and for -1 (must
give NULL), release the acquired reference, and flag errors in a global ``err``.
Adapted: run under tc test_run with the target pid in a ``bpf.Const``; the task's
tgid and parent's tgid are stored for the test; ``err`` codes as in the original.
"""

import pyebpf as bpf
from pyebpf import i32, u64

task_from_pid = bpf.kfunc("bpf_task_from_pid")
task_release = bpf.kfunc("bpf_task_release")

TARGET = bpf.Const(i32, 1)
err = bpf.Global(u64)
out = bpf.ArrayMap(u64, max_entries=2)


@bpf.tc
def test_task_from_pid(ctx) -> int:
    err.value = 0
    t = task_from_pid(TARGET)
    if t is None:
        err.value = 1
        return 0
    out[0] = u64(t.tgid)
    out[1] = u64(t.real_parent.tgid)
    task_release(t)
    bad = task_from_pid(-1)
    if bad is not None:
        err.value = 2
        task_release(bad)
    return 0
