"""The memory-limit notice's reading of cgroup OOM counters (the server side, without CampusHub installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import campushub

NOTICE = Path(campushub.__file__).parent / "singleuser" / "config" / "memory_notice.py"
spec = importlib.util.spec_from_file_location("memory_notice", NOTICE)
memory_notice = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory_notice)


def test_the_oom_kill_count_is_read_from_v1_and_v2_files(tmp_path):
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    v1.mkdir()
    v2.mkdir()
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    assert memory_notice.oom_kills(v1) == 3
    assert memory_notice.oom_kills(v2) == 2
    assert memory_notice.oom_kills(tmp_path / "none") == 0
    assert memory_notice.oom_kills(None) == 0


def test_the_servers_memory_group_is_found_in_v1_before_v2(tmp_path):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text("4:memory:/box/users/alice\n0::/\n")
    (proc / "mountinfo").write_text(
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    )
    assert memory_notice.memory_cgroup_dir(proc, tmp_path) == tmp_path / "sys/fs/cgroup/memory/box/users/alice"
    (proc / "cgroup").write_text("0::/system.slice/campushub.service/users/alice\n")
    (proc / "mountinfo").write_text("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    expected = tmp_path / "sys/fs/cgroup/system.slice/campushub.service/users/alice"
    assert memory_notice.memory_cgroup_dir(proc, tmp_path) == expected


def test_the_notice_names_the_limit_in_the_units_a_student_reads():
    assert memory_notice.limit_text({"MEM_LIMIT": str(300 << 20)}) == "your memory limit of 300 MiB"
    assert memory_notice.limit_text({"MEM_LIMIT": str(2 << 30)}) == "your memory limit of 2 GiB"
    assert memory_notice.limit_text({}) == "your memory limit"
