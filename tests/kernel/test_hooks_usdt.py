"""USDT probes in small binaries built here with gcc and <sys/sdt.h>.

Notes read, hits counted at every site; arguments (ctx.arg) decoded exactly
from register, stack, global and constant operands at -O0 and -O2, across
sites whose specs differ, from index operands (base + index * scale +
displacement, with or without a base) and high-byte registers;
semaphore-guarded probes raised while attached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import sdt, u32, u64, usdt_args
from pyebpf.lang.contexts import usdt_context

DATA = Path(__file__).resolve().parents[1] / "data"
N = 3
MASK = (1 << 64) - 1

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


# --------------------------------------------------------------------------- arguments


def build(tmp_path_factory: pytest.TempPathFactory, source: Path, *flags: str) -> str:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the USDT targets")
    exe = tmp_path_factory.mktemp("usdt") / (source.stem + "".join(flags).replace("-", "_"))
    done = subprocess.run(["gcc", *flags, "-o", str(exe), str(source)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot build with <sys/sdt.h> (apt-get install systemtap-sdt-dev): "
                    f"{done.stderr.strip()[:200]}")
    return str(exe)


@pytest.fixture(scope="module", params=["-O0", "-O2"])
def args_target(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return build(tmp_path_factory, DATA / "usdt_args.c", request.param), request.param


def readelf_specs(exe: str) -> dict[str, list[str]]:
    """Probe name -> the Arguments line of each of its sites, as `readelf -n` prints them."""
    if shutil.which("readelf") is None:
        pytest.skip("readelf (binutils) is needed to cross-check the notes")
    out = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True,
                         check=True).stdout
    specs: dict[str, list[str]] = {}
    name = ""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Arguments:"):
            specs.setdefault(name, []).append(line.split(":", 1)[1].strip())
    return specs


def sites_of(exe: str, name: str) -> list[sdt.UsdtProbe]:
    return [p for p in sdt.probes(exe) if p.provider == "pyebpf_args" and p.name == name]


def test_specs_match_readelf_and_cover_every_operand_kind(args_target: tuple[str, str]) -> None:
    exe, opt = args_target
    specs = readelf_specs(exe)
    for name in ("mixed", "sites"):
        assert sorted(p.args for p in sites_of(exe, name)) == sorted(specs[name])
    (mixed,) = sites_of(exe, "mixed")
    kinds = [a.kind for a in mixed.arguments()]
    assert [(a.size, a.signed) for a in mixed.arguments()] == [
        (1, True), (1, False), (2, True), (2, False), (4, True), (4, False), (8, True),
        (8, False), (4, True), (8, True), (4, True), (4, True)]
    assert kinds[10:] == ["const", "const"]
    sites = sites_of(exe, "sites")
    if opt == "-O0":  # locals live in stack slots: memory operands off %rbp
        assert kinds[:8] == ["mem"] * 8 and all(a.reg == "rbp" for a in mixed.arguments()[:8])
        assert len(sites) == 1  # site() is not inlined
    else:  # registers, and the global through %rip at each inlined copy
        assert kinds[:10] == ["reg"] * 10
        assert len(sites) == 2 and sites[0].args != sites[1].args
        assert all(s.arguments()[2].symbol == "g_step" for s in sites)


class ArgEvent(bpf.Struct):
    ip: u64
    negatives: u32  # bit k: ctx.arg(k) < 0, compared in the program with the arg's own type
    vals: u64[12]


arg_events = bpf.RingBuf(1 << 16, event=ArgEvent)


def signed(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def mixed_expected(i: int) -> tuple[list[int], int]:
    def s(v: int, bits: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if v >> (bits - 1) else v

    vals = [s(-5 - i, 8), (250 + i) & 0xFF, s(-1234 * (i + 1), 16), 60000 + i,
            -123456 * (i + 1), 4000000000 + i, -1234567890123 * (i + 1),
            0xFEDCBA9876543210 + i, -7 * (i + 1), (i + 1) << 40, 42, -3]
    negatives = sum(1 << k for k, v in enumerate(vals) if v < 0)
    return [v & MASK for v in vals], negatives


def test_usdt_arguments_are_decoded_exactly(args_target: tuple[str, str]) -> None:
    exe, _ = args_target

    @bpf.usdt(exe, "pyebpf_args", "mixed")
    def on_mixed(ctx) -> int:
        e = arg_events.reserve()
        if e is None:
            return 0
        e.ip = ctx.ip
        e.vals[0] = u64(ctx.arg(0))
        e.vals[1] = u64(ctx.arg(1))
        e.vals[2] = u64(ctx.arg(2))
        e.vals[3] = u64(ctx.arg(3))
        e.vals[4] = u64(ctx.arg(4))
        e.vals[5] = u64(ctx.arg(5))
        e.vals[6] = u64(ctx.arg(6))
        e.vals[7] = ctx.arg(7)
        e.vals[8] = u64(ctx.arg(8))
        e.vals[9] = u64(ctx.arg(9))
        e.vals[10] = u64(ctx.arg(10))
        e.vals[11] = u64(ctx.arg(11))
        neg: u32 = 0
        if ctx.arg(0) < 0:
            neg |= 1 << 0
        if ctx.arg(1) < 0:
            neg |= 1 << 1
        if ctx.arg(2) < 0:
            neg |= 1 << 2
        if ctx.arg(3) < 0:
            neg |= 1 << 3
        if ctx.arg(4) < 0:
            neg |= 1 << 4
        if ctx.arg(5) < 0:
            neg |= 1 << 5
        if ctx.arg(6) < 0:
            neg |= 1 << 6
        if ctx.arg(8) < 0:
            neg |= 1 << 8
        if ctx.arg(9) < 0:
            neg |= 1 << 9
        if ctx.arg(10) < 0:
            neg |= 1 << 10
        if ctx.arg(11) < 0:
            neg |= 1 << 11
        e.negatives = neg
        arg_events.submit(e)
        return 0

    @bpf.usdt(exe, "pyebpf_args", "sites")
    def on_sites(ctx) -> int:
        e = arg_events.reserve()
        if e is None:
            return 0
        e.ip = ctx.ip
        e.vals[0] = u64(ctx.arg(0))
        e.vals[1] = u64(ctx.arg(1))
        e.vals[2] = u64(ctx.arg(2))
        arg_events.submit(e)
        return 0

    try:
        site_ips = {p.address for p in sites_of(exe, "sites")}
        with on_mixed.attach(), on_sites.attach() as sites_link:
            assert len(sites_link.links) == len(site_ips)  # a uprobe per site
            done = subprocess.run([exe, str(N)], capture_output=True, text=True, check=True)
            got = list(arg_events.poll(timeout=1.0))
        assert done.stdout.strip() == str(sum(range(N)))
        mixed = [e for e in got if e.vals[10] == 42]
        sites = [e for e in got if e.vals[10] != 42]
        assert [(list(e.vals), e.negatives) for e in mixed] == [mixed_expected(i)
                                                                for i in range(N)]
        assert sorted(tuple(signed(v) for v in e.vals[:3]) for e in sites) == sorted(
            [(i, 3 * i, -300) for i in range(N)] + [(i + 100, -i, -300) for i in range(N)])
        # site() runs twice per loop: one site at -O0, two inlined sites (told apart by
        # the runtime ip) at -O2
        assert len(sites) == 2 * N and len({e.ip for e in sites}) == len(site_ips)
    finally:
        on_mixed.close()
        on_sites.close()
    assert usdt_args.SpecSlots.in_use(map_id(usdt_args.SPECS.fd)) == 0  # released on detach


def map_id(fd: int) -> int:
    from pyebpf._native import syscalls

    return int(syscalls.map_info(fd)["id"])


def test_context_types_follow_the_specs(args_target: tuple[str, str]) -> None:
    from pyebpf import i8, i16, i32, i64, u8, u16

    exe, _ = args_target
    ctx = usdt_context(exe, "pyebpf_args", "mixed")
    assert [ctx.fields[f"arg{k}"].type for k in range(12)] == [
        i8, u8, i16, u16, i32, u32, i64, u64, i32, i64, i32, i32]
    assert "arg12" not in ctx.fields


def test_reading_past_the_last_argument_is_a_compile_error(args_target: tuple[str, str]) -> None:
    exe, _ = args_target
    out = bpf.ArrayMap(u64, max_entries=1)

    @bpf.usdt(exe, "pyebpf_args", "sites")
    def too_far(ctx) -> int:
        out[0] = u64(ctx.arg(3))
        return 0

    with pytest.raises(bpf.CompileError) as info:
        too_far.compile()
    text = str(info.value)
    assert "test_hooks_usdt.py" in text and "ctx.arg(3)" in text
    assert "pyebpf_args:sites (3 arguments) context has no argument 3" in text
    assert "arg0, arg1, arg2" in text and "frontend.py" not in text


@pytest.fixture(scope="module")
def bad_spec_target(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The -O2 PIE build with one site's `-2@g_step(%rip)` rewritten to `-2@g_step(%rax)`:
    an absolute symbol address, which a position-independent file cannot hold."""
    exe = Path(build(tmp_path_factory, DATA / "usdt_args.c", "-O2", "-fpie", "-pie"))
    data = exe.read_bytes()
    if b"-2@g_step(%rip)" not in data:
        pytest.skip("this gcc did not put g_step in a %rip operand")
    bad = exe.with_name("usdt_args_bad")
    bad.write_bytes(data.replace(b"-2@g_step(%rip)", b"-2@g_step(%rax)", 1))
    bad.chmod(0o755)
    return str(bad)


def test_unparsable_spec_is_refused_naming_probe_and_spec(bad_spec_target: str) -> None:
    counts = bpf.ArrayMap(u64, max_entries=1)

    @bpf.usdt(bad_spec_target, "pyebpf_args", "sites")
    def reads_args(ctx) -> int:
        counts.increment(0, u64(ctx.arg(0)))
        return 0

    @bpf.usdt(bad_spec_target, "pyebpf_args", "sites")
    def counts_only(ctx) -> int:
        counts.increment(0)
        return 0

    try:
        with pytest.raises(bpf.AttachError) as info:
            reads_args.attach()
        text = str(info.value)
        assert "pyebpf_args:sites" in text and "-2@g_step(%rax)" in text
        assert "position-independent" in text and "@bpf.uprobe at the site" in text
        # nothing half-attached: the other site's slot was not kept
        assert usdt_args.SpecSlots.in_use(map_id(usdt_args.SPECS.fd)) == 0
        # a program that reads no arguments does not need the spec
        with counts_only.attach():
            subprocess.run([bad_spec_target, str(N)], capture_output=True, check=True)
        assert counts[0] == 2 * N
    finally:
        reads_args.close()
        counts_only.close()


def test_update_is_refused_clearly_and_attach_then_close_swaps(
        args_target: tuple[str, str]) -> None:
    exe, _ = args_target
    counts = bpf.ArrayMap(u64, max_entries=2)

    @bpf.usdt(exe, "pyebpf_args", "sites")
    def counts_only(ctx) -> int:
        counts.increment(0)
        return 0

    @bpf.usdt(exe, "pyebpf_args", "sites")
    def sums_args(ctx) -> int:
        counts.increment(1, u64(ctx.arg(0)) + u64(ctx.arg(2)))
        return 0

    try:
        with counts_only.attach() as link:
            # the sites' perf-event uprobes have no kernel update: refused, naming the probe
            with pytest.raises(bpf.AttachError) as info:
                link.update(sums_args)
            text = str(info.value)
            assert f"usdt {exe}:pyebpf_args:sites" in text and "in place" in text
            assert "attach the new program, then close this link" in text
            subprocess.run([exe, str(N)], capture_output=True, check=True)
            assert (counts[0], counts[1]) == (2 * N, 0)  # the old program still runs
            new = sums_args.attach()  # the swap the error describes
        with new:
            subprocess.run([exe, str(N)], capture_output=True, check=True)
        assert counts[0] == 2 * N  # the old one is gone
        # arguments (i, and g_step = -300) from both inlined copies: i and i + 100
        assert signed(counts[1]) == sum(i + (i + 100) - 600 for i in range(N))
    finally:
        counts_only.close()
        sums_args.close()


# --------------------------------------------------------------------------- index operands


@pytest.fixture(scope="module", params=["pie", "no-pie"])
def index_target(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    flags = ["-fpie", "-pie"] if request.param == "pie" else ["-fno-pie", "-no-pie"]
    return build(tmp_path_factory, DATA / "usdt_index.c", "-O2", *flags), request.param


class IdxEvent(bpf.Struct):
    tag: u32  # 1: natural, 2: explicit
    vals: u64[9]


idx_events = bpf.RingBuf(1 << 16, event=IdxEvent)


def natural_expected(i: int) -> list[int]:
    j = N - 1 - i
    return [i, -7 * i - 1, 1000 * j - 5000, 100 * i + j - 50]


def explicit_expected(i: int) -> list[int]:
    return [0x10 + i, i - 16, 0x80 + i, 127 - i, 0x77,  # %ah %bh %ch %dh, then %al
            -7 * (2 + i) - 1,  # -16(&arr[4], i, 8): arr[2 + i]
            -1000 * (3 + i) + 7,  # 6(half, i, 2): half[3 + i]
            -7 * i - 1,  # (, &arr[i], 1): no base register
            (1000 * i - 5000) & 0xFFFF_FFFF]  # 4@(iarr, i, 4), unsigned


def test_index_operands_and_high_bytes_are_decoded(index_target: tuple[str, str]) -> None:
    exe, kind = index_target
    natural_spec, explicit_spec = (readelf_specs(exe)[n] for n in ("natural", "explicit"))
    # gcc -O2 addresses the arrays as index operands by itself: base + index, or, in a
    # position-dependent executable, symbol + index with no base register
    assert natural_spec == (["-8@%rdi -8@arr(,%rdi,8) -4@iarr(,%rsi,4) -4@ss+8(,%rax,4)"]
                            if kind == "no-pie" else natural_spec)
    (natural_site,) = [p for p in sdt.probes(exe) if p.name == "natural"]
    args = natural_site.arguments()
    assert [a.kind for a in args] == ["reg", "mem", "mem", "mem"]
    assert all(a.index and a.scale in (4, 8) for a in args[1:])
    assert all((a.reg == "") == (kind == "no-pie") for a in args[1:])
    assert explicit_spec[0].startswith("1@%ah -1@%bh 1@%ch -1@%dh 1@%al -8@-16(%")

    @bpf.usdt(exe, "pyebpf_idx", "natural")
    def on_natural(ctx) -> int:
        e = idx_events.reserve()
        if e is None:
            return 0
        e.tag = 1
        e.vals[0] = u64(ctx.arg(0))
        e.vals[1] = u64(ctx.arg(1))
        e.vals[2] = u64(ctx.arg(2))
        e.vals[3] = u64(ctx.arg(3))
        idx_events.submit(e)
        return 0

    @bpf.usdt(exe, "pyebpf_idx", "explicit")
    def on_explicit(ctx) -> int:
        e = idx_events.reserve()
        if e is None:
            return 0
        e.tag = 2
        e.vals[0] = u64(ctx.arg(0))
        e.vals[1] = u64(ctx.arg(1))
        e.vals[2] = u64(ctx.arg(2))
        e.vals[3] = u64(ctx.arg(3))
        e.vals[4] = u64(ctx.arg(4))
        e.vals[5] = u64(ctx.arg(5))
        e.vals[6] = u64(ctx.arg(6))
        e.vals[7] = u64(ctx.arg(7))
        e.vals[8] = u64(ctx.arg(8))
        idx_events.submit(e)
        return 0

    try:
        with on_natural.attach(), on_explicit.attach():
            done = subprocess.run([exe, str(N)], capture_output=True, text=True, check=True)
            got = list(idx_events.poll(timeout=1.0))
        assert done.stdout.strip() == str(sum(-7 * i - 1 for i in range(N)))
        assert [list(e.vals[:4]) for e in got if e.tag == 1] == [
            [v & MASK for v in natural_expected(i)] for i in range(N)]
        assert [list(e.vals) for e in got if e.tag == 2] == [
            [v & MASK for v in explicit_expected(i)] for i in range(N)]
    finally:
        on_natural.close()
        on_explicit.close()


# --------------------------------------------------------------------------- semaphores


@pytest.fixture(scope="module")
def sem_target(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build(tmp_path_factory, DATA / "usdt_semaphore.c", "-O2")


class Guarded:
    """A running usdt_semaphore: ask(n) -> (semaphore value, probes fired)."""

    def __init__(self, exe: str) -> None:
        self.proc = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ask(self, n: int) -> tuple[int, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{n}\n")
        self.proc.stdin.flush()
        sem, fired = self.proc.stdout.readline().split()
        return int(sem), int(fired)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


def test_semaphore_is_raised_while_attached(sem_target: str) -> None:
    (probe,) = [p for p in sdt.probes(sem_target) if p.name == "guarded"]
    assert probe.semaphore != 0
    sums = bpf.ArrayMap(u64, max_entries=3)

    @bpf.usdt(sem_target, "pyebpf_sem", "guarded")
    def on_guarded(ctx) -> int:
        sums.increment(0)
        sums.increment(1, u64(ctx.arg(0)))
        sums.increment(2, u64(ctx.arg(1)))
        return 0

    early = Guarded(sem_target)
    late: Guarded | None = None
    try:
        assert early.ask(N) == (0, 0)  # nobody attached: the guarded code does not run
        with on_guarded.attach():
            assert early.ask(N) == (1, N)  # raised in a process that was already running
            late = Guarded(sem_target)
            assert late.ask(N) == (1, N)  # and in one started while attached
        assert early.ask(N) == (0, 0) and late.ask(N) == (0, 0)  # lowered on detach
        assert sums[0] == 2 * N
        assert sums[1] == 2 * sum(range(N))
        assert signed(sums[2]) == 2 * sum(-2 * i for i in range(N))
    finally:
        early.close()
        if late is not None:
            late.close()
        on_guarded.close()


def test_untyped_arguments_are_extended_at_run_time(args_target: tuple[str, str],
                                                    tmp_path: Path) -> None:
    """Compiled before the binary exists, every ctx.arg(n) is a u64: the decoder's own
    sign/zero extension (not the compile-time type) must give the exact values."""
    exe, _ = args_target
    late = tmp_path / "late_usdt_args"

    @bpf.usdt(str(late), "pyebpf_args", "mixed")
    def on_late(ctx) -> int:
        e = arg_events.reserve()
        if e is None:
            return 0
        e.vals[0] = ctx.arg(0)
        e.vals[1] = ctx.arg(1)
        e.vals[2] = ctx.arg(2)
        e.vals[3] = ctx.arg(3)
        e.vals[4] = ctx.arg(4)
        e.vals[5] = ctx.arg(5)
        e.vals[6] = ctx.arg(6)
        e.vals[7] = ctx.arg(7)
        e.vals[8] = ctx.arg(8)
        e.vals[9] = ctx.arg(9)
        e.vals[10] = ctx.arg(10)
        e.vals[11] = ctx.arg(11)
        arg_events.submit(e)
        return 0

    try:
        on_late.compile()  # now, while the binary is missing: all twelve are u64
        shutil.copy(exe, late)
        with on_late.attach():
            subprocess.run([str(late), str(N)], capture_output=True, check=True)
            got = list(arg_events.poll(timeout=1.0))
        assert [list(e.vals) for e in got] == [mixed_expected(i)[0] for i in range(N)]
    finally:
        on_late.close()
