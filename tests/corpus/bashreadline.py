"""Ported from libbpf-tools/bashreadline.bpf.c: a uretprobe reading the string a function returns.

The original puts a uretprobe on bash's ``readline()``, reads the returned line
with ``bpf_probe_read_user_str`` and emits it with the pid and comm.  Adapted:
bash's readline is not reachable without a terminal here, so the same probe is
placed on libc's ``getenv()`` (also "returns a user string"), limited to one pid by
``attach(pid=...)``; a NULL return is skipped, as the original skips empty lines.
"""

import pyebpf as bpf
from pyebpf import char, u32
from pyebpf.symbols import find_library


class StrT(bpf.Struct):
    pid: u32
    comm: char[16]
    str: char[80]


events = bpf.RingBuf(64 * 1024, event=StrT)
LIBC = find_library("c")


@bpf.uretprobe(LIBC, "getenv")
def printret(ctx) -> int:
    if ctx.ret == 0:
        return 0
    e = events.reserve()
    if e is None:
        return 0
    e.pid = u32(bpf.get_current_pid_tgid() >> 32)
    bpf.get_current_comm(e.comm)
    bpf.probe_read_user_str(e.str, ctx.ret)
    events.submit(e)
    return 0
