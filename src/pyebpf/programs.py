"""Programs: a decorated function, compiled, loaded, attached and run.

:class:`Program` is what ``@bpf.xdp`` & co. return.  Its methods compile on
first use and cache: ``compile()`` -> :class:`CompiledProgram` (ELF, LLVM IR,
typed IR, disassembly), ``load()`` -> a kernel program (maps created or
reused), ``attach()`` -> a :class:`~pyebpf.links.Link`, ``test_run()`` ->
:class:`TestRunResult`.  :func:`load` loads several programs as one
:class:`Object` sharing maps.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import links
from ._record import Record, record
from .errors import AttachError, BPFError, CompileError, debug_tracebacks, reported_here
from .spec import ObjectSpec
from .tracefs import attach_error

if TYPE_CHECKING:
    from .variables import Globals

__all__ = ["Program", "Subprogram", "CompiledProgram", "TestRunResult", "Object", "load",
           "compile"]


_PACKET_HOOKS = {"xdp", "tc", "socket_filter", "cgroup_skb"}
_TEST_RUN_ON_CPU = 1  # BPF_F_TEST_RUN_ON_CPU


@record
class TestRunResult(Record):
    """What ``prog.test_run()`` gives: return value, output packet, output context, ns per run."""

    __test__ = False  # not a pytest class

    retval: int
    data: bytes
    ctx: bytes
    duration_ns: int


class CompiledProgram:
    """The compiled form of one or more programs: one ELF object."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self.elf: bytes = compiled.elf
        self.llvm_ir: str = compiled.llvm_ir
        self.typed_ir: str = compiled.typed_ir
        self.unoptimized_ir: str = compiled.unoptimized_ir
        self.cpu: str = compiled.cpu
        self._spec: ObjectSpec | None = None

    @property
    def maps(self) -> dict[str, Any]:
        """Object map name -> the map declaration it came from."""
        return dict(self._compiled.maps)

    @property
    def spec(self) -> ObjectSpec:
        """The object read back as an :class:`~pyebpf.spec.ObjectSpec` (what the loader loads)."""
        if self._spec is None:
            from .elf import read_object

            self._spec = read_object(self.elf, source_name="<pyebpf>")
        return self._spec

    def disassembly(self) -> str:
        """BPF instructions, each run of them under the Python source line it came from."""
        from .disasm import disassemble_object

        return disassemble_object(self.spec)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ELF object (loadable by libbpf and bpftool) to ``path``."""
        p = Path(path)
        p.write_bytes(self.elf)
        return p


class _Compilable:
    fn: Any
    name: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise BPFError(
            f"{self.name} is an eBPF program: it runs in the kernel, not when called from "
            "Python. Use .load(), .attach() or .test_run()."
        )


class Program(_Compilable):
    """A function that runs in the kernel at a hook (made by ``@bpf.xdp`` etc.)."""

    def __init__(self, fn: Any, hook: Any) -> None:
        self.fn = fn
        self.hook = hook
        self.name: str = fn.__name__ if fn is not None else "pinned"
        self.__doc__ = getattr(fn, "__doc__", None)
        self.__wrapped__ = fn
        self._compiled: CompiledProgram | None = None
        self._object: Any = None  # loader.LoadedObject
        self._fd: int | None = None
        self._owned_fd = True
        self._links: list[links.Link] = []

    def __repr__(self) -> str:
        state = f"fd={self._fd}" if self._fd is not None else "not loaded"
        where = self.hook.section if self.hook is not None else "?"
        return f"<bpf.Program {self.name} [{where}] {state}>"

    # ------------------------------------------------------------ compile

    @reported_here
    def compile(self, *, cpu: str | None = None) -> CompiledProgram:
        """Compile to a BPF ELF object (cached); raises CompileError at the user's line."""
        if self._compiled is None or cpu is not None and cpu != self._compiled.cpu:
            self._compiled = _compile([self], cpu=cpu)
        return self._compiled

    # ------------------------------------------------------------ load

    @reported_here
    def load(self, *, constants: dict[str, int] | None = None, log_level: int = 0) -> Program:
        """Compile (if needed) and load into the kernel; create or reuse the maps it uses."""
        if self._fd is not None:
            return self
        obj = _load_compiled(self.compile(), {self.name: self}, log_level=log_level,
                             constants=constants)
        self._object = obj
        self._fd = obj.programs[self.name]
        return self

    @property
    def fd(self) -> int:
        """The program's file descriptor (loads it on first use)."""
        if self._fd is None:
            self.load()
        assert self._fd is not None
        return self._fd

    @property
    def loaded(self) -> bool:
        return self._fd is not None

    @property
    def id(self) -> int:
        return int(self.info()["id"])

    def info(self) -> dict[str, Any]:
        """The kernel's view: id, type, name, tag, jited/xlated sizes, verified insns, ..."""
        from ._native import syscalls

        return syscalls.prog_info(self.fd)

    # ------------------------------------------------------------ attach

    @reported_here
    def attach(self, **options: Any) -> links.Link:
        """Attach to the program's hook; returns a Link (a context manager that detaches).

        Options by hook: ``ifname``/``ifindex``/``mode``/``netns`` (XDP),
        ``ifname``/``ifindex``/``netns``/``before``/``after`` (TC), ``sock``
        (socket filter), ``cgroup`` (cgroup skb/sock/sock_addr, sockops),
        ``pid``/``cpu`` (tracepoints), ``pid``/``cookie`` (uprobes;
        ``symbols=[...]`` for uprobe_multi), ``offset`` (kprobes),
        ``sample_freq``/``sample_period``/``cpus``/``pid`` (perf events),
        ``map_fd`` (map iterators), ``hook``/``family``/``priority``/``netns``
        (netfilter), ``map`` (sk_msg: a SockMap/SockHash), ``netns``
        (sk_lookup, flow_dissector), ``route``/``dev``/``via``/``netns`` (lwt_in,
        lwt_out, lwt_xmit), ``cgroup`` (cgroup_sysctl/sockopt/device), ``sock``
        (sk_reuseport).  Syscall programs are not attached: use ``test_run``.
        Anything the kernel lacks raises :class:`~pyebpf.errors.NotSupportedError` first.
        """
        if self.hook is None:
            raise AttachError("attach", 0, f"{self.name}: a pinned program does not know its hook")
        link = _attach(self, options)
        self._links.append(link)
        return link

    # ------------------------------------------------------------ run

    @reported_here
    def test_run(self, data: bytes = b"", ctx: bytes | None = None, repeat: int = 1,
                 *, data_size_out: int | None = None, cpu: int | None = None) -> TestRunResult:
        """Run the program once (or ``repeat`` times) in the kernel on ``data`` (BPF_PROG_TEST_RUN)."""
        from ._native import syscalls

        out = data_size_out if data_size_out is not None else max(len(data) + 256, 256) if data else 0
        if self.hook is not None and self.hook.kind in ("raw_tracepoint", "syscall"):
            # The kernel runs raw tracepoint and syscall programs once, and refuses a
            # repeat count (syscall programs also refuse packet data).
            if repeat > 1:
                raise ValueError(f"{self.hook.kind} programs run once per test_run (repeat=1)")
            if data and self.hook.kind == "syscall":
                raise ValueError("syscall programs take no packet: pass ctx=bytes(YourStruct(...))")
            repeat = 0
        # Only packet programs hand their context back; others refuse a ctx_out buffer.
        packet = self.hook is None or self.hook.kind in _PACKET_HOOKS
        r = syscalls.prog_test_run(
            self.fd, data_in=bytes(data), data_size_out=out, ctx_in=bytes(ctx or b""),
            ctx_size_out=len(ctx) if ctx and packet else 0, repeat=repeat, cpu=cpu or 0,
            flags=_TEST_RUN_ON_CPU if cpu is not None else 0,
            ctx_in_out=self.hook is not None and self.hook.kind == "syscall",
        )
        return TestRunResult(r.retval, r.data_out, r.ctx_out, r.duration_ns)

    # ------------------------------------------------------------ pin

    def pin(self, path: str | os.PathLike[str]) -> Path:
        """Pin the loaded program under the bpffs; it then outlives this process."""
        from ._native import syscalls
        from .tracefs import bpffs_root

        bpffs_root()
        syscalls.obj_pin(self.fd, os.fspath(path))
        return Path(path)

    @classmethod
    def from_pinned(cls, path: str | os.PathLike[str]) -> Program:
        """Open a program pinned at ``path`` (attach hooks then take explicit arguments)."""
        from ._native import syscalls

        fd = syscalls.obj_get(os.fspath(path))
        p = cls(None, None)
        p._fd = fd
        p.name = Path(path).name
        return p

    def close(self) -> None:
        """Detach this program's links and release its fd (pinned objects stay)."""
        for link in self._links:
            link.close()
        self._links.clear()
        if self._object is not None:
            self._object.close()
            self._object = None
        elif self._fd is not None:
            from ._native import syscalls

            syscalls.close(self._fd)
        self._fd = None

    def __enter__(self) -> Program:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Subprogram(_Compilable):
    """A ``@bpf.func`` function: compiled into the programs that call it."""

    def __init__(self, fn: Any, linkage: str = "static") -> None:
        self.fn = fn
        self.name = fn.__name__
        self.linkage = linkage
        self.__wrapped__ = fn


class Object:
    """Several programs loaded together, sharing maps (``bpf.load(a, b)``, or an ELF file)."""

    def __init__(self, loaded: Any, programs: dict[str, Program], maps: dict[str, Any]) -> None:
        self._loaded = loaded
        self.programs = programs
        self.maps = maps
        self._globals: Globals | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, source_name: str = "<bytes>") -> Object:
        """Load a libbpf-style ELF object (clang-compiled C included)."""
        from .elf import read_object
        from .loader import load_object
        from .maps import Map

        spec = read_object(data, source_name=source_name)
        loaded = load_object(spec)
        try:
            progs = {}
            for name, fd in loaded.programs.items():
                p = Program(None, None)
                p.name = name
                p._fd = os.dup(fd)
                progs[name] = p
            maps = {name: Map.from_spec(spec.maps[name], os.dup(fd))
                    for name, fd in loaded.maps.items() if name in spec.maps}
        except BaseException:
            loaded.close()
            raise
        return cls(loaded, progs, maps)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Object:
        """Load a libbpf-style ELF object file."""
        return cls.from_bytes(Path(path).read_bytes(), source_name=os.fspath(path))

    @property
    def globals(self) -> Globals:
        """The object's global variables by name (a :class:`pyebpf.variables.Globals`).

        ``obj.globals["counter"].value``, ``obj.globals["counter"].numpy_view()``,
        ``obj.globals.numpy_view(".bss")``: typed from the object's BTF, through
        an mmap of each global-data map (mapped on first use).
        """
        if self._globals is None:
            if self._loaded is None:
                raise BPFError("this object is closed")
            from .variables import Globals

            self._globals = Globals.from_loaded(self._loaded)
        return self._globals

    def close(self) -> None:
        if self._globals is not None:
            self._globals.close()
            self._globals = None
        for p in self.programs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None

    def __enter__(self) -> Object:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- glue


def _compile(programs: list[Program], *, cpu: str | None = None) -> CompiledProgram:
    from .compiler import compile_programs

    try:
        compiled = compile_programs(programs, cpu=cpu)
    except CompileError as e:
        if debug_tracebacks():
            raise
        raise e.with_traceback(None) from None
    result = CompiledProgram(compiled)
    result._spec = compiled.spec  # already parsed when it came from the on-disk cache
    return result


def _load_compiled(compiled: CompiledProgram, programs: dict[str, Program],
                   *, log_level: int = 0, constants: dict[str, Any] | None = None) -> Any:
    """Load a compiled object; bind its maps and globals to their declarations.

    Maps already loaded (by another program) are reused; ``constants`` set
    ``bpf.Const`` values in ``.rodata`` before it is frozen.
    """
    from .loader import load_object

    variables = compiled._compiled.globals
    layout = _global_layout(compiled.spec) if variables else {}
    patches: dict[str, dict[int, bytes]] = {}
    for name, value in (constants or {}).items():
        var = variables.get(name)
        if var is None or var.section != ".rodata":
            known = ", ".join(n for n, v in variables.items() if v.section == ".rodata")
            raise BPFError(f"{name!r} is not a bpf.Const these programs read "
                           f"(constants they read: {known or 'none'})")
        section, offset = layout[name]
        patches.setdefault(section, {})[offset] = var.type.pack(value)
    reuse = {name: m.fd for name, m in compiled.maps.items() if m.loaded}
    obj = load_object(compiled.spec, reuse_maps=reuse, only=set(programs), log_level=log_level,
                      constants=patches)
    for name, m in compiled.maps.items():
        if not m.loaded:
            m._bind(os.dup(obj.maps[name]), owned=True)
    for name, var in variables.items():
        section, offset = layout[name]
        var._bind(obj.maps[section], offset, compiled.spec.maps[section].value_size,
                  writable=var.section != ".rodata")
    return obj


def _global_layout(spec: ObjectSpec) -> dict[str, tuple[str, int]]:
    """Variable name -> (global-data map name, byte offset), from the object's DATASECs."""
    from .btf import BTF

    if spec.btf is None:
        return {}
    btf = BTF.from_bytes(spec.btf)
    out: dict[str, tuple[str, int]] = {}
    for t in btf.types:
        if t.kind == "datasec" and t.name in spec.maps:
            for v in t.vars:
                out[btf.type(v.type).name] = (t.name, v.offset)
    return out


_CGROUP_KINDS = {"cgroup_skb", "cgroup_sock", "cgroup_sock_addr", "sockops", "cgroup_sysctl",
                 "cgroup_sockopt", "cgroup_device"}
# hooks whose wrong or missing attach options raise AttachError (older ones: TypeError, kept)
_CGROUP_KINDS_CHECKED = {"cgroup_sysctl", "cgroup_sockopt", "cgroup_device"}
_TRACING_KINDS = {"tp_btf", "fentry", "fexit", "fmod_ret", "lsm"}


def _cgroup_attach_type(hook: Any) -> int:
    from .constants import AttachType
    from .sections import classify

    if hook.kind == "cgroup_skb":
        return AttachType.CGROUP_INET_INGRESS if hook.direction == "ingress" else \
            AttachType.CGROUP_INET_EGRESS
    at = classify(hook.section).attach_type
    assert at is not None
    return at


def _attach(prog: Program, options: dict[str, Any]) -> links.Link:
    """One attach function per hook kind; the decorator's defaults, then the caller's options."""
    from . import features

    hook = prog.hook
    kind = hook.kind
    options = {**dict(hook.options), **options}
    features.require_hook(kind)
    fd = prog.fd
    if kind == "xdp":
        return links.attach_xdp(fd, **options)
    if kind == "tc":
        direction = options.pop("direction", hook.direction)
        mode = options.pop("mode", None)
        if mode not in (None, "tcx", "classic"):
            raise ValueError(f"TC mode must be 'tcx', 'classic' or None (tcx where the kernel "
                             f"has it), not {mode!r}")
        if mode is None:
            mode = "tcx" if features.has_tcx() else "classic"
        if mode == "classic":
            return links.attach_tc_classic(fd, direction=direction, **options)
        features.require_hook("tcx")
        return links.attach_tcx(fd, direction=direction, **options)
    if kind == "socket_filter":
        if "sock" not in options:
            raise TypeError("socket filters attach to a socket: prog.attach(sock=s)")
        return links.attach_socket_filter(fd, options["sock"])
    if kind == "tracepoint":
        return links.attach_tracepoint(fd, hook.target, **options)
    if kind == "raw_tracepoint":
        return links.attach_raw_tracepoint(fd, hook.target)
    if kind in _CGROUP_KINDS_CHECKED:
        usage = "prog.attach(cgroup='/sys/fs/cgroup/...')"
        _only(kind, options, {"cgroup"}, usage)
        if "cgroup" not in options:
            raise attach_error(f"{kind} programs attach to a cgroup: {usage}", errno.EINVAL)
    if kind in _CGROUP_KINDS:
        if "cgroup" not in options:
            raise TypeError(f"{kind} programs attach to a cgroup: "
                            "prog.attach(cgroup='/sys/fs/cgroup/...')")
        return links.attach_cgroup(fd, options["cgroup"], _cgroup_attach_type(hook))
    if kind in ("uprobe", "uretprobe", "kprobe", "kretprobe"):
        from . import uprobes

        retprobe = kind.endswith("retprobe")
        if kind.startswith("k"):
            return uprobes.attach_kprobe(fd, hook.target, retprobe=retprobe, **options)
        binary, symbol = options.pop("binary"), options.pop("symbol")
        return uprobes.attach_uprobe(fd, binary, symbol, retprobe=retprobe, **options)
    if kind == "kprobe_multi":
        from . import uprobes

        return uprobes.attach_kprobe_multi(fd, hook.target, **options)  # options: retprobe
    if kind in ("uprobe_multi", "uretprobe_multi"):
        from . import uprobes

        binary, symbol = options.pop("binary"), options.pop("symbol")
        symbols = options.pop("symbols", [symbol])
        return uprobes.attach_uprobe_multi(fd, binary, symbols,
                                           retprobe=kind == "uretprobe_multi", **options)
    if kind == "usdt":
        from . import sdt

        return sdt.attach_usdt(fd, options.pop("binary"), options.pop("provider"),
                                options.pop("name"), **options)
    if kind in _TRACING_KINDS:
        return links.attach_tracing(fd, kind, hook.target)
    if kind == "iter":
        return links.attach_iter(fd, hook.target, **options)
    if kind == "perf_event":
        return links.attach_perf_event(fd, **options)
    if kind == "netfilter":
        return links.attach_netfilter(fd, **options)
    if kind in ("sk_msg", "sk_skb"):
        from .sections import classify

        if "map" not in options:
            raise TypeError(f"{kind} programs attach to a SockMap or SockHash: "
                            "prog.attach(map=sockhash)")
        attach_type = classify(hook.section).attach_type
        assert attach_type is not None
        return links.attach_sockmap(fd, options["map"], attach_type)
    if kind in ("sk_lookup", "flow_dissector"):
        _only(kind, options, {"netns"}, "prog.attach(netns='name') (or a netns path; "
              "default: this process's namespace)")
        return links.attach_netns(fd, kind, options.get("netns"))
    if kind in ("lwt_in", "lwt_out", "lwt_xmit"):
        _only(kind, options, {"route", "dev", "via", "ifindex", "netns"},
              "prog.attach(route='10.1.2.0/24', dev='veth0', via=None, netns=None)")
        if "route" not in options or not ("dev" in options or "ifindex" in options):
            raise attach_error(f"{kind} programs attach to a route through a device: "
                               "prog.attach(route='10.1.2.0/24', dev='veth0', netns=...)",
                               errno.EINVAL)
        return links.attach_lwt(fd, kind, **options)
    if kind == "sk_reuseport":
        usage = "prog.attach(sock=s), s a bound socket of the SO_REUSEPORT group"
        _only(kind, options, {"sock"}, usage)
        if "sock" not in options:
            raise attach_error(f"sk_reuseport programs attach to a socket: {usage}",
                               errno.EINVAL)
        return links.attach_reuseport(fd, options["sock"])
    if kind == "syscall":
        raise attach_error(f"{prog.name} is a syscall program: it is not attached; "
                           "run it with prog.test_run(ctx=bytes(YourStruct(...)))", errno.EINVAL)
    raise AttachError("attach", 0, f"attaching {kind} programs is not implemented yet")


def _only(kind: str, options: dict[str, Any], allowed: set[str], usage: str) -> None:
    """Refuse attach options ``kind`` does not take, saying what to pass instead."""
    wrong = sorted(set(options) - allowed)
    if wrong:
        raise attach_error(f"{kind} programs take no {', '.join(w + '=' for w in wrong)}; "
                           f"attach with {usage}", errno.EINVAL)


@reported_here
def load(*programs: Program, log_level: int = 0,
         constants: dict[str, Any] | None = None) -> Object:
    """Compile and load several programs as one object sharing maps and functions.

    ``constants`` sets ``bpf.Const`` values (as ``Program.load`` does).
    """
    compiled = _compile(list(programs))
    by_name = {p.name: p for p in programs}
    obj = _load_compiled(compiled, by_name, log_level=log_level, constants=constants)
    for p in programs:
        p._compiled = compiled
        p._fd = os.dup(obj.programs[p.name])
    return Object(obj, by_name, dict(compiled.maps))


@reported_here
def compile(*programs: Program, path: str | os.PathLike[str] | None = None) -> CompiledProgram:
    """Compile programs into one ELF object; write it to ``path`` if given."""
    compiled = _compile(list(programs))
    if path is not None:
        compiled.save(path)
    return compiled
