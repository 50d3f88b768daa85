"""The tools in docs/examples/ run for real, each in a subprocess, and report exact facts:
execsnoop the exec of a uniquely named program (its pid, parent, comm and path),
syscall_latency exactly the read() calls of one process, xdp_proto_count exactly the
UDP datagrams sent to it between two private network namespaces."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from .netns import VethPair

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


class Tool:
    """An example script running in a subprocess, its stdout read line by line on a thread."""

    def __init__(self, script: str, *args: str, prefix: tuple[str, ...] = ()) -> None:
        self.proc = subprocess.Popen([*prefix, sys.executable, str(EXAMPLES / script), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        """The next line matching ``pattern``; fails if the tool exits or times out first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; "
                                     f"output so far: {self.seen}") from None
            if line is None:
                raise AssertionError(f"tool exited ({self.proc.wait()}) before {pattern!r}: "
                                     f"{self.seen}\n{self.proc.stderr.read()}")  # type: ignore[union-attr]
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def interrupt(self) -> list[str]:
        """Ctrl-C the tool; return the rest of its output after checking it exited cleanly."""
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        rest = []
        while (line := self.lines.get(timeout=5)) is not None:
            rest.append(line)
        stderr = self.proc.stderr.read()  # type: ignore[union-attr]
        assert rc == 0, f"exit status {rc}: {stderr}"
        return rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_execsnoop_reports_an_exec_of_a_uniquely_named_program(tmp_path: Path) -> None:
    exe = tmp_path / f"pyebpf-exec-{uuid.uuid4().hex[:10]}"
    shutil.copy("/bin/true", exe)
    tool = Tool("execsnoop.py", "--duration", "60")
    try:
        tool.wait_for(r"^\s*PID\s+PPID\s+COMM\s+FILENAME$")
        child = subprocess.Popen([str(exe)])
        assert child.wait(timeout=10) == 0
        line = tool.wait_for(re.escape(exe.name), timeout=10)
        rest = tool.interrupt()
    finally:
        tool.kill()
    pid, ppid, comm, filename = line.split(None, 3)
    assert (int(pid), int(ppid), filename) == (child.pid, os.getpid(), str(exe))
    # The comm is the caller's before the exec: the forked child still has ours.
    assert comm == Path("/proc/self/comm").read_text().strip()
    assert not [x for x in rest if exe.name in x], rest  # one execve, one line


READER = """
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
os.write(1, b"ready\\n")
signal.sigwait({signal.SIGUSR1})   # no read() until the tracer is attached
for _ in range(%d):
    os.read(0, 1)
os.write(1, b"done\\n")
os._exit(0)                        # no interpreter shutdown, no further reads
"""


def test_syscall_latency_counts_exactly_the_reads_of_one_process() -> None:
    fast, slow = 190, 10
    child = subprocess.Popen([sys.executable, "-c", READER % (fast + slow)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    tool = None
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == b"ready\n"
        tool = Tool("syscall_latency.py", "--syscall", "read", "--pid", str(child.pid))
        tool.wait_for(rf"^Tracing read\(\) latency for pid {child.pid}\.\.\.")
        child.stdin.write(b"x" * fast)  # these reads find their byte waiting
        child.stdin.flush()
        child.send_signal(signal.SIGUSR1)
        for _ in range(slow):  # these block ~50 ms for theirs
            time.sleep(0.05)
            child.stdin.write(b"y")
            child.stdin.flush()
        assert child.stdout.readline() == b"done\n"
        assert child.wait(timeout=10) == 0
        rest = tool.interrupt()
    finally:
        if tool is not None:
            tool.kill()
        if child.poll() is None:
            child.kill()
    rows = [re.match(r"\s*(\d+) -> \d+\s+: (\d+)\s+\|", x) for x in rest]
    hist = [(int(m[1]), int(m[2])) for m in rows if m]
    assert any(re.match(r"\s+usecs : count\s+distribution$", x) for x in rest), rest
    assert sum(n for _, n in hist) == fast + slow, rest
    assert sum(n for lo, n in hist if lo >= 16384) >= slow - 1, rest  # the blocked reads


def test_xdp_proto_count_counts_exactly_the_udp_datagrams_sent() -> None:
    sent, payload = 25, b"pyebpf"
    frame = 14 + 20 + 8 + len(payload)  # Ethernet + IPv4 + UDP headers + payload
    with VethPair() as net:
        tool = Tool("xdp_proto_count.py", net.ifname, "--duration", "60",
                    prefix=("ip", "netns", "exec", net.ns_b))
        try:
            tool.wait_for(rf"^Counting packets received on {net.ifname}\.\.\.")
            assert net.send_udp(sent, port=4242, payload=payload) == sent  # XDP_PASS: all arrive
            rest = tool.interrupt()
        finally:
            tool.kill()
    last = max(i for i, x in enumerate(rest) if re.match(r"\d\d:\d\d:\d\d$", x))
    assert re.match(r"PROTO\s+PACKETS\s+BYTES$", rest[last + 1]), rest
    table = {x.split()[0]: (int(x.split()[1]), int(x.split()[2])) for x in rest[last + 2:] if x}
    # IPv6 is off and the neighbours are static: the datagrams are the only traffic.
    assert table == {"UDP": (sent, sent * frame)}, rest
