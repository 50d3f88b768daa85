"""The tracepoint ``format`` parser, on text samples copied from a 6.18 kernel."""

from pyebpf import tracefs
from pyebpf.tracefs import TraceField, parse_format

OPENAT = """\
name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:int flags;\toffset:32;\tsize:8;\tsigned:0;
\tfield:umode_t mode;\toffset:40;\tsize:8;\tsigned:0;

print fmt: "dfd: 0x%08lx, filename: 0x%08lx", ((unsigned long)(REC->dfd))
"""

EXEC = """\
name: sched_process_exec
ID: 309
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:char comm[16];\toffset:16;\tsize:16;\tsigned:0;
\tfield:unsigned long args[6];\toffset:32;\tsize:48;\tsigned:0;
\tfield:u8 raw[TASK_COMM_LEN];\toffset:80;\tsize:16;\tsigned:0;
"""


def test_scalar_pointer_and_common_fields():
    fields = {f.name: f for f in parse_format(OPENAT)}
    assert list(fields)[:4] == ["common_type", "common_flags", "common_preempt_count", "common_pid"]
    assert fields["common_type"] == TraceField("common_type", "unsigned short", 0, 2, False,
                                               is_common=True)
    assert fields["common_pid"].signed and fields["common_pid"].is_common
    assert fields["filename"].c_type == "const char *" and fields["filename"].size == 8
    assert fields["mode"] == TraceField("mode", "umode_t", 40, 8, False)
    assert not fields["__syscall_nr"].is_common


def test_data_loc_and_arrays():
    fields = {f.name: f for f in parse_format(EXEC)}
    assert fields["filename"] == TraceField("filename", "char", 8, 4, False, is_data_loc=True)
    assert fields["comm"] == TraceField("comm", "char", 16, 16, False, array_len=16)
    assert fields["args"].c_type == "unsigned long" and fields["args"].array_len == 6
    # a symbolic length: the size is still right, the count is unknown (0)
    assert fields["raw"].size == 16 and fields["raw"].array_len == 0


def test_no_fields_in_garbage():
    assert parse_format("name: x\nID: 1\nprint fmt: \"\"\n") == []


def test_find_mount_reads_mounts_file(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "proc /proc proc rw 0 0\n"
        "tracefs /sys/kernel/my\\040tracing tracefs rw 0 0\n"
    )
    assert str(tracefs.find_mount("tracefs", str(mounts))) == "/sys/kernel/my tracing"
    assert tracefs.find_mount("bpf", str(mounts)) is None
